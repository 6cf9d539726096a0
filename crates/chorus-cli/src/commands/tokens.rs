//! `chorus tokens create|list|revoke`: API tokens for `chorus serve`.
//!
//! The created token is printed once on stdout (and nowhere else); the store keeps
//! only its hash, so a lost token is revoked and replaced, never recovered.

use std::path::Path;

use crate::cli::{Format, TokensCommand};
use crate::runtime::App;

pub async fn run(config: Option<&Path>, command: TokensCommand) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    match command {
        TokensCommand::Create { name, role } => {
            let (token, info) = chorus_server::api::tokens::create_token(app.store.as_ref(), &name, role)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "created token {} `{}` with role {}; it is shown once, store it now:",
                info.id, info.name, info.role
            );
            println!("{}", token.expose());
        }
        TokensCommand::List { format } => {
            let tokens = app.store.api_tokens().await?;
            if format == Format::Json {
                for token in &tokens {
                    println!("{}", serde_json::to_string(token)?);
                }
                return Ok(());
            }
            println!(
                "{:>4}  {:<24} {:<7} {:<14} {:<20} {:<20} revoked",
                "id", "name", "role", "prefix", "created (UTC)", "last used"
            );
            let time = |at: Option<chrono::DateTime<chrono::Utc>>| {
                at.map_or_else(|| "-".to_owned(), |at| at.format("%Y-%m-%d %H:%M:%S").to_string())
            };
            for token in &tokens {
                println!(
                    "{:>4}  {:<24} {:<7} {:<14} {:<20} {:<20} {}",
                    token.id,
                    token.name,
                    token.role,
                    format!("{}…", token.prefix),
                    time(Some(token.created_at)),
                    time(token.last_used_at),
                    time(token.revoked_at)
                );
            }
        }
        TokensCommand::Revoke { id } => {
            let token = app.store.revoke_api_token(id).await?;
            println!("revoked token {} `{}`", token.id, token.name);
        }
    }
    Ok(())
}

/// A fresh admin token for `chorus demo`.
pub async fn demo_admin_token(app: &App) -> anyhow::Result<chorus_core::Secret> {
    let (token, _) =
        chorus_server::api::tokens::create_token(app.store.as_ref(), "demo admin", chorus_store::Role::Admin)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(token)
}

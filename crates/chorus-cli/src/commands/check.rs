//! `chorus check`: validate the config, open the store, try every connector's auth.

use std::path::Path;

use anyhow::bail;

use crate::runtime::App;

pub async fn run(config: Option<&Path>) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    println!("config ok: {} connector(s)", app.config.connectors.len());
    println!("store ok: {:?} at {}", app.store.backend(), chorus_store::redact_url(&app.config.store.url));
    let mut failed = Vec::new();
    for entry in app.selected(&[])? {
        let outcome = match app.connector(entry) {
            Ok(connector) => connector.check().await.map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(who) => println!("ok      {} ({}): {}", entry.id, entry.kind, who),
            Err(e) => {
                println!("FAILED  {} ({}): {e:#}", entry.id, entry.kind);
                failed.push(entry.id.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!("check failed for: {}", failed.join(", "));
    }
    Ok(())
}

//! One module per subcommand; `run` dispatches.

mod accounts;
mod check;
mod demo;
mod export;
mod import;
mod init;
mod link;
mod reindex;
mod requests;
mod runs;
mod search;
mod serve;
mod suggestions;
mod sync;
mod tokens;
mod triage;

use crate::cli::{Cli, Command};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Init { force } => init::run(config, force),
        Command::Check => check::run(config).await,
        Command::Sync { connectors, full } => sync::run(config, &connectors, full).await,
        Command::Export { what, include_deleted, connector } => {
            export::run(config, what, include_deleted, connector).await
        }
        Command::Import { what, file, connector } => import::run(config, what, file.as_deref(), &connector).await,
        Command::Search(args) => search::run(config, args).await,
        Command::Reindex => reindex::run(config).await,
        Command::Runs { connector, limit, format } => runs::run(config, connector.as_deref(), limit, format).await,
        Command::Requests { command } => requests::run(config, command).await,
        Command::Accounts { command } => accounts::run(config, command).await,
        Command::Link(args) => link::run(config, args).await,
        Command::Triage { limit, after, format } => triage::run(config, limit, after.as_deref(), format).await,
        Command::Serve => serve::run(config).await,
        Command::Tokens(command) => tokens::run(config, command).await,
        Command::Demo { dir, no_serve } => demo::run(&dir, no_serve).await,
    }
}

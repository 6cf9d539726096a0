//! `chorus export`: JSON Lines on stdout, one object a line, in id order.

use std::io::Write;
use std::path::Path;

use chorus_store::{IdPage, ItemFilter, Raw};

use crate::cli::Entity;
use crate::runtime::App;

const BATCH: u32 = 1000;

pub async fn run(
    config: Option<&Path>,
    what: Entity,
    include_deleted: bool,
    connector: Option<String>,
) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    match write_all(&app, what, include_deleted, connector).await {
        // The reader went away (`chorus export items | head`): not an error.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) => {
            Ok(())
        }
        other => other,
    }
}

async fn write_all(app: &App, what: Entity, include_deleted: bool, connector: Option<String>) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut after_id = 0;
    loop {
        let page = IdPage { after_id, limit: BATCH };
        let (rows, last) = match what {
            Entity::Items => {
                let filter = ItemFilter { connector: connector.clone(), include_deleted, raw: Raw::Include };
                let items = app.store.items(&filter, page).await?;
                let last = items.last().map(|i| i.id);
                (items.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?, last)
            }
            Entity::Accounts => {
                let accounts = app.store.accounts(page).await?;
                let last = accounts.last().map(|a| a.id);
                (accounts.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?, last)
            }
            Entity::Requests => {
                let requests = app.store.requests(page).await?;
                let last = requests.last().map(|r| r.id);
                (requests.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?, last)
            }
        };
        for row in rows {
            writeln!(out, "{row}")?;
        }
        match last {
            Some(id) => after_id = id,
            None => break,
        }
    }
    out.flush()?;
    Ok(())
}

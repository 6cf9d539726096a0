//! `chorus runs`: the sync run history.

use std::path::Path;

use crate::cli::Format;
use crate::runtime::App;

pub async fn run(config: Option<&Path>, connector: Option<&str>, limit: u32, format: Format) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    let runs = app.store.runs(connector, limit).await?;
    if format == Format::Json {
        for run in &runs {
            println!("{}", serde_json::to_string(run)?);
        }
        return Ok(());
    }
    println!(
        "{:>6}  {:<16} {:<10} {:<20} {:>6} {:>9} {:>9} {:>7}  error",
        "run", "connector", "status", "started (UTC)", "pages", "upserted", "unchanged", "deleted"
    );
    for run in &runs {
        println!(
            "{:>6}  {:<16} {:<10} {:<20} {:>6} {:>9} {:>9} {:>7}  {}",
            run.id,
            run.connector,
            run.status.as_str(),
            run.started_at.format("%Y-%m-%d %H:%M:%S"),
            run.pages,
            run.upserted,
            run.unchanged,
            run.deleted,
            run.error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

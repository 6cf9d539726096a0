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
        "{:>6}  {:<16} {:<12} {:<20} {:>6} {:>9} {:>9} {:>7} {:>8}  note",
        "run", "connector", "status", "started (UTC)", "pages", "upserted", "unchanged", "deleted", "unmapped"
    );
    for run in &runs {
        let mut note: Vec<String> = run.error.iter().cloned().collect();
        if !run.unmapped_examples.is_empty() {
            let more = run.unmapped.saturating_sub(run.unmapped_examples.len() as u64);
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            note.push(format!("not mapped: {}{more}", run.unmapped_examples.join("; ")));
        }
        println!(
            "{:>6}  {:<16} {:<12} {:<20} {:>6} {:>9} {:>9} {:>7} {:>8}  {}",
            run.id,
            run.connector,
            run.status.as_str(),
            run.started_at.format("%Y-%m-%d %H:%M:%S"),
            run.pages,
            run.upserted,
            run.unchanged,
            run.deleted,
            run.unmapped,
            note.join("  ")
        );
    }
    Ok(())
}

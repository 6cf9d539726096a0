//! `chorus sync`: run connectors once, with a progress bar each and a summary.
//!
//! Connectors run concurrently; each holds its own claim, so a connector that another
//! process is syncing is reported as a failure here rather than run twice.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use chorus_store::{PageOutcome, RunStatus};
use chorus_sync::engine::{Observer, RunReport, SyncError};
use chorus_sync::SyncMode;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::runtime::App;

/// Draws one spinner per connector from page commits.
struct Bars {
    bars: Vec<(String, ProgressBar)>,
}

impl Observer for Bars {
    fn page_committed(&self, connector: &str, records: usize, outcome: &PageOutcome) {
        if let Some((_, bar)) = self.bars.iter().find(|(id, _)| id == connector) {
            bar.inc(records as u64);
            bar.set_message(format!(
                "{} new/changed, {} unchanged, {} deleted",
                outcome.upserted, outcome.unchanged, outcome.deleted
            ));
        }
    }
}

pub async fn run(config: Option<&Path>, names: &[String], full: bool) -> anyhow::Result<()> {
    sync(&App::load(config).await?, names, full).await
}

/// Syncs the named (default: all enabled) connectors of a loaded app.
pub async fn sync(app: &App, names: &[String], full: bool) -> anyhow::Result<()> {
    let entries = app.selected(names)?;
    if entries.is_empty() {
        println!("no enabled connectors in the config");
        return Ok(());
    }
    let mode = if full { SyncMode::Full } else { SyncMode::Incremental };
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{spinner} {prefix:<16} {pos:>8} records  {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bars = Bars {
        bars: entries
            .iter()
            .map(|entry| {
                let bar = multi.add(ProgressBar::new_spinner().with_style(style.clone()).with_prefix(entry.id.clone()));
                bar.enable_steady_tick(Duration::from_millis(120));
                (entry.id.clone(), bar)
            })
            .collect(),
    };
    let engine = app.engine();
    let runs = entries.iter().map(|entry| {
        let (engine, bars) = (&engine, &bars);
        async move {
            let connector = app.connector(entry)?;
            let report = engine.run(connector.as_ref(), mode, bars).await;
            anyhow::Ok((entry.id.clone(), report))
        }
    });
    let results = futures::future::join_all(runs).await;
    for (_, bar) in &bars.bars {
        bar.finish_and_clear();
    }
    let mut failed = Vec::new();
    for (entry, result) in entries.iter().zip(results) {
        match result {
            Ok((id, Ok(report))) => {
                print_report(&report);
                if report.outcome.status == RunStatus::RateLimited {
                    // Not a failure: the next run resumes at the last committed page.
                    eprintln!("{id}: stopped by the source's rate limit; run it again later to resume");
                } else if !report.succeeded() {
                    failed.push(format!("{id}: {}", report.outcome.error.as_deref().unwrap_or("failed")));
                }
            }
            Ok((id, Err(SyncError::AlreadyRunning(_)))) => {
                println!("{id:<16} skipped: already running elsewhere");
                failed.push(format!("{id}: already running"));
            }
            Ok((id, Err(e))) => failed.push(format!("{id}: {e}")),
            Err(e) => failed.push(format!("{}: {e:#}", entry.id)),
        }
    }
    if !failed.is_empty() {
        bail!("sync failed for {} connector(s): {}", failed.len(), failed.join("; "));
    }
    Ok(())
}

fn print_report(report: &RunReport) {
    let o = &report.outcome;
    let unmapped = match o.unmapped {
        0 => String::new(),
        n => format!("  {n} not mapped (see `chorus runs`)"),
    };
    let label = if o.status == RunStatus::RateLimited { "stopped" } else { "error" };
    println!(
        "{:<16} {:<12} {:>5} pages {:>7} upserted {:>7} unchanged {:>6} deleted  {:.1}s{unmapped}{}",
        report.connector,
        o.status.as_str(),
        o.pages,
        o.upserted,
        o.unchanged,
        o.deleted,
        report.elapsed.as_secs_f64(),
        o.error.as_deref().map(|e| format!("  {label}: {e}")).unwrap_or_default()
    );
}

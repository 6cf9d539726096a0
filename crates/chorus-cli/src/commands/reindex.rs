//! `chorus reindex`: rebuild the search index from the store.
//!
//! The rebuild writes a new index generation and switches to it atomically; searches
//! (and a running server's follower, which adopts the new generation) keep answering
//! from the old one until then.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chorus_index::{rebuild_index, SearchIndex, DEFAULT_BATCH};

use crate::runtime::App;

pub async fn run(config: Option<&Path>) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    let path = &app.config.index.path;
    let index = SearchIndex::open(path).with_context(|| format!("opening the index at {}", path.display()))?;
    let report = rebuild_index(&index, Arc::clone(&app.store), DEFAULT_BATCH, &app.config.money)
        .await
        .context("rebuilding the index")?;
    println!(
        "reindexed {} item(s) of {} account(s) in {:.1}s; {} change(s) replayed; index at change {}",
        report.items,
        report.accounts,
        report.elapsed_ms as f64 / 1000.0,
        report.replayed,
        report.position
    );
    Ok(())
}

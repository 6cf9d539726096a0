//! The scheduler: runs each connector on its cron schedule under `chorus serve`.
//!
//! Each scheduled connector gets one task that sleeps until the next occurrence and
//! runs the engine. Runs never overlap: the store's claim makes a second run (from this
//! node or another node sharing PostgreSQL) return `AlreadyRunning`, which is logged
//! and skipped, and a run longer than the interval simply delays the next one.

use std::future::Future;
use std::sync::Arc;

use chrono::Utc;
use tokio::task::JoinSet;

use crate::connector::{DynConnector, SyncMode};
use crate::engine::{Engine, Quiet, SyncError};

/// A connector and when to run it.
pub struct Job {
    pub connector: Arc<dyn DynConnector>,
    pub schedule: croner::Cron,
}

/// Runs the jobs until `shutdown` completes; a run in progress is allowed to finish
/// its current page (the engine commits pages atomically, so stopping is always safe).
pub async fn run(engine: Engine, jobs: Vec<Job>, shutdown: impl Future<Output = ()>) {
    let mut tasks = JoinSet::new();
    for job in jobs {
        let engine = engine.clone();
        tasks.spawn(async move { run_job(engine, job).await });
    }
    shutdown.await;
    tasks.shutdown().await;
}

async fn run_job(engine: Engine, job: Job) {
    let id = job.connector.id().to_owned();
    loop {
        let now = Utc::now();
        let next = match job.schedule.find_next_occurrence(&now, false) {
            Ok(next) => next,
            Err(error) => {
                tracing::error!(connector = %id, %error, "schedule has no next occurrence; connector stops");
                return;
            }
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tracing::debug!(connector = %id, next = %next, "next scheduled run");
        tokio::time::sleep(wait).await;
        match engine.run(job.connector.as_ref(), SyncMode::Incremental, &Quiet).await {
            Ok(report) if report.succeeded() => {
                tracing::info!(connector = %id, pages = report.outcome.pages, upserted = report.outcome.upserted, "scheduled run succeeded")
            }
            Ok(report) => {
                tracing::warn!(connector = %id, error = report.outcome.error.as_deref().unwrap_or(""), "scheduled run failed")
            }
            Err(SyncError::AlreadyRunning(_)) => tracing::info!(connector = %id, "skipped: already running elsewhere"),
            Err(error) => tracing::error!(connector = %id, %error, "scheduled run could not start"),
        }
    }
}

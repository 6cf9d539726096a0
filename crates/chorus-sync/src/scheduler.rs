//! The scheduler: runs each connector on its cron schedule under `chorus serve`.
//!
//! Each scheduled connector gets one task that sleeps until the next occurrence and
//! runs the engine. Runs never overlap: the store's claim makes a second run (from this
//! node or another node sharing PostgreSQL) return `AlreadyRunning`, which is logged
//! and skipped, and a run longer than the interval simply delays the next one.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chorus_store::RunStatus;
use chrono::Utc;
use tokio::task::JoinSet;

use crate::connector::{DynConnector, SyncMode};
use crate::engine::{Engine, Quiet, SyncError};

/// A connector and when to run it.
pub struct Job {
    pub connector: Arc<dyn DynConnector>,
    pub schedule: croner::Cron,
}

/// How long a shutdown waits for runs in progress before cancelling them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Runs the jobs until `shutdown` completes. Then no new run starts, runs in progress
/// get `SHUTDOWN_GRACE` to finish, and the rest are cancelled — which is safe at any
/// instant: a page commits whole or not at all, and the next run resumes at the last
/// committed page (the cancelled run is then marked `abandoned`).
pub async fn run(engine: Engine, jobs: Vec<Job>, shutdown: impl Future<Output = ()>) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = JoinSet::new();
    for job in jobs {
        let engine = engine.clone();
        let stopped = stopped.clone();
        tasks.spawn(async move { run_job(engine, job, stopped).await });
    }
    shutdown.await;
    let _ = stop.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!("runs still in progress after the shutdown grace; cancelling them");
    }
    tasks.shutdown().await;
}

async fn run_job(engine: Engine, job: Job, mut stopped: tokio::sync::watch::Receiver<bool>) {
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
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        // In a task of its own, so that even a panic outside the connector (the engine
        // catches the connector's own) costs this run only, never the schedule.
        let run = {
            let engine = engine.clone();
            let connector = Arc::clone(&job.connector);
            tokio::spawn(async move { engine.run(connector.as_ref(), SyncMode::Incremental, &Quiet).await })
        };
        let outcome = match run.await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::error!(connector = %id, %error, "scheduled run panicked; the schedule goes on");
                continue;
            }
        };
        match outcome {
            Ok(report) if report.outcome.status == RunStatus::RateLimited => tracing::warn!(
                connector = %id,
                reason = report.outcome.error.as_deref().unwrap_or(""),
                "scheduled run stopped by the source's rate limit; the next run resumes"
            ),
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

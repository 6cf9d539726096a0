//! `chorus serve`: the HTTP API plus the scheduler, until Ctrl-C or SIGTERM.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chorus_sync::scheduler::{self, Job};

use crate::runtime::App;

pub async fn run(config: Option<&Path>) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    serve(app).await
}

/// Serves a loaded app (also used by `chorus demo`).
pub async fn serve(app: App) -> anyhow::Result<()> {
    let mut jobs = Vec::new();
    for entry in app.selected(&[])? {
        let Some(expr) = &entry.schedule else { continue };
        let schedule = chorus_config::parse_schedule(expr).map_err(|e| anyhow::anyhow!("connector `{}` schedule: {e}", entry.id))?;
        jobs.push(Job { connector: Arc::from(app.connector(entry)?), schedule });
    }
    let listener = tokio::net::TcpListener::bind(app.config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", app.config.server.listen))?;
    let addr = listener.local_addr()?;
    println!("chorus serving on http://{addr} ({} scheduled connector(s)); Ctrl-C stops", jobs.len());
    let state = chorus_server::AppState { store: Arc::clone(&app.store) };
    let scheduler = tokio::spawn(scheduler::run(app.engine(), jobs, shutdown_signal()));
    chorus_server::serve(listener, state, shutdown_signal()).await?;
    scheduler.await.context("scheduler task")?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

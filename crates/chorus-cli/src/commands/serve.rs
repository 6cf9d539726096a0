//! `chorus serve`: the HTTP API plus the scheduler, until Ctrl-C or SIGTERM.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chorus_index::{IndexProjection, SearchIndex, FOLLOW_POLL};
use chorus_sync::scheduler::{self, Job};

use crate::runtime::App;

pub async fn run(config: Option<&Path>) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    serve(app).await
}

/// Serves a loaded app (also used by `chorus demo`).
pub async fn serve(app: App) -> anyhow::Result<()> {
    let mut jobs = Vec::new();
    let mut entries = Vec::new();
    // Enabled connectors only: a disabled one may lack its credentials.
    for entry in app.selected(&[])? {
        let connector: Arc<dyn chorus_sync::DynConnector> = Arc::from(app.connector(entry)?);
        entries.push(chorus_server::ConnectorEntry {
            id: entry.id.clone(),
            kind: entry.kind.clone(),
            enabled: entry.enabled,
            schedule: entry.schedule.clone(),
            connector: Arc::clone(&connector),
        });
        let Some(expr) = &entry.schedule else { continue };
        let schedule = chorus_config::parse_schedule(expr)
            .map_err(|e| anyhow::anyhow!("connector `{}` schedule: {e}", entry.id))?;
        jobs.push(Job { connector, schedule });
    }
    let listener = tokio::net::TcpListener::bind(app.config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", app.config.server.listen))?;
    let addr = listener.local_addr()?;
    println!(
        "chorus serving on http://{addr}: web UI at /, API at /api/v1 ({} scheduled connector(s)); Ctrl-C stops",
        jobs.len()
    );
    let path = &app.config.index.path;
    let index = SearchIndex::open(path).with_context(|| format!("opening the index at {}", path.display()))?;
    let state = chorus_server::AppState::new(Arc::clone(&app.store))
        .with_index(index.clone())
        .with_max_index_lag(app.config.server.max_index_lag)
        .with_web(chorus_server::web::WebSettings {
            session_ttl: std::time::Duration::from_secs(u64::from(app.config.server.session_hours) * 3600),
            logins_per_minute: std::num::NonZeroU32::new(app.config.server.logins_per_minute)
                .unwrap_or(std::num::NonZeroU32::MIN),
        })
        .with_settings(chorus_server::Settings {
            health: app.config.health.clone(),
            priority: app.config.priority.clone(),
            money: app.config.money.clone(),
        })
        .with_syncs(
            chorus_server::Syncs::new(app.engine(), entries)
                .with_debounce(std::time::Duration::from_millis(app.config.server.webhook_debounce_ms)),
        )
        .with_webhooks(
            app.config.server.webhooks.iter().map(|(id, webhook)| (id.clone(), webhook.secret.clone())).collect(),
        );
    let follower = spawn_index_follower(&app, index)?;
    let scheduler = tokio::spawn(scheduler::run(app.engine(), jobs, shutdown_signal()));
    chorus_server::serve(listener, state, shutdown_signal(), chorus_server::Timeouts::default()).await?;
    scheduler.await.context("scheduler task")?;
    if let Some(follower) = follower {
        follower.await.context("index follower task")?;
    }
    Ok(())
}

/// Keeps the search index following the store's change log (every node does this).
/// When another process owns the writer, the index is reloaded on the same beat so
/// searches here see that process's commits.
fn spawn_index_follower(app: &App, index: SearchIndex) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    match IndexProjection::new(index.clone(), Arc::clone(&app.store), app.config.money.clone()) {
        Ok(projection) => Ok(Some(tokio::spawn(projection.follow(FOLLOW_POLL, shutdown_signal())))),
        Err(e) if e.is_writer_busy() => {
            tracing::warn!(index = %index.root().display(), "another process owns this index; this server only reads it");
            Ok(Some(tokio::spawn(async move {
                let reload = async {
                    loop {
                        tokio::time::sleep(FOLLOW_POLL).await;
                        if let Err(error) = index.reload_off_runtime().await {
                            tracing::warn!(%error, "reloading the search index failed");
                        }
                    }
                };
                tokio::select! {
                    () = reload => {}
                    () = shutdown_signal() => {}
                }
            })))
        }
        Err(e) => Err(e).context("opening the index writer"),
    }
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

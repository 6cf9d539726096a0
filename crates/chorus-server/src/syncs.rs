//! The connectors this server may sync, and starting a run of one on request.
//!
//! `Syncs::trigger` starts an engine run in the background and answers as soon as the
//! run holds the connector's claim (with its run id) or could not take it (another run
//! holds it: `Conflict`). A run never blocks the request that started it, and the
//! claim, not this process, decides who runs, so two nodes cannot both run it.

use std::sync::{Arc, Mutex};

use chorus_sync::engine::{Engine, Observer, SyncError};
use chorus_sync::{DynConnector, SyncMode};
use tokio::sync::oneshot;

/// One configured connector.
#[derive(Clone)]
pub struct ConnectorEntry {
    pub id: String,
    pub kind: String,
    pub enabled: bool,
    /// Cron expression, when the scheduler runs it.
    pub schedule: Option<String>,
    pub connector: Arc<dyn DynConnector>,
}

/// Why a run was not started.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("no connector `{0}` is configured")]
    Unknown(String),
    #[error("connector `{0}` is already being synced")]
    AlreadyRunning(String),
    #[error("this server does not run syncs")]
    Disabled,
    #[error("the run could not start: {0}")]
    Failed(String),
}

/// The server's connectors and the engine that runs them.
#[derive(Clone, Default)]
pub struct Syncs {
    engine: Option<Arc<Engine>>,
    connectors: Vec<ConnectorEntry>,
}

impl Syncs {
    pub fn new(engine: Engine, connectors: Vec<ConnectorEntry>) -> Self {
        Self { engine: Some(Arc::new(engine)), connectors }
    }

    /// The configured connectors, in configuration order.
    pub fn connectors(&self) -> &[ConnectorEntry] {
        &self.connectors
    }

    pub fn get(&self, id: &str) -> Option<&ConnectorEntry> {
        self.connectors.iter().find(|entry| entry.id == id)
    }

    /// Starts a run of `id`; returns its run id once it holds the claim.
    pub async fn trigger(&self, id: &str, mode: SyncMode) -> Result<i64, TriggerError> {
        let entry = self.get(id).ok_or_else(|| TriggerError::Unknown(id.to_owned()))?;
        let engine = Arc::clone(self.engine.as_ref().ok_or(TriggerError::Disabled)?);
        let connector = Arc::clone(&entry.connector);
        let (started, on_start) = oneshot::channel();
        let observer = StartSignal(Mutex::new(Some(started)));
        let run = tokio::spawn(async move {
            let report = engine.run(connector.as_ref(), mode, &observer).await;
            match &report {
                Ok(report) => {
                    tracing::info!(connector = %report.connector, status = ?report.outcome.status, "triggered run ended")
                }
                Err(error) => tracing::debug!(%error, "triggered run did not start"),
            }
            report
        });
        match on_start.await {
            Ok(run_id) => Ok(run_id),
            // The run ended before it signalled: it never took the claim.
            Err(_) => match run.await {
                Ok(Err(SyncError::AlreadyRunning(connector))) => Err(TriggerError::AlreadyRunning(connector)),
                Ok(Err(error)) => Err(TriggerError::Failed(error.to_string())),
                Ok(Ok(_)) => Err(TriggerError::Failed("the run ended without starting".into())),
                Err(join) => Err(TriggerError::Failed(join.to_string())),
            },
        }
    }
}

/// Tells the trigger the run id once the engine holds the claim.
struct StartSignal(Mutex<Option<oneshot::Sender<i64>>>);

impl Observer for StartSignal {
    fn run_started(&self, _connector: &str, run_id: i64) {
        let sender = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(sender) = sender {
            let _ = sender.send(run_id);
        }
    }
}

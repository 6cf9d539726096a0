//! The connectors this server may sync, and starting a run of one on request.
//!
//! `Syncs::trigger` starts an engine run in the background and answers as soon as the
//! run holds the connector's claim (with its run id) or could not take it (another run
//! holds it: `Conflict`). A run never blocks the request that started it, and the
//! claim, not this process, decides who runs, so two nodes cannot both run it.
//!
//! Webhooks ask for runs through `request_sync`, which debounces: a burst of events
//! for one connector becomes one incremental run after `debounce`, and an event that
//! arrives while a run is going gets a run after it. `tombstone` writes deletions at
//! once through the store's page commit (under the connector's claim, with its cursor
//! unchanged), for sources whose deletions an incremental sync cannot see.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chorus_core::{EntityKind, Record};
use chorus_store::{PageCommit, RunOutcome, RunStatus};

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

/// The default wait between a webhook event and the run it asks for.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_secs(2);

/// How many times a debounced run is retried while another run holds the connector.
const BUSY_RETRIES: u32 = 30;

/// The server's connectors and the engine that runs them.
#[derive(Default)]
pub struct Syncs {
    engine: Option<Arc<Engine>>,
    connectors: Vec<ConnectorEntry>,
    debounce: Duration,
    /// Connectors with a debounced run waiting to start.
    pending: Mutex<HashSet<String>>,
}

impl Syncs {
    pub fn new(engine: Engine, connectors: Vec<ConnectorEntry>) -> Self {
        Self { engine: Some(Arc::new(engine)), connectors, debounce: DEFAULT_DEBOUNCE, pending: Mutex::default() }
    }

    /// Sets the wait between a webhook event and its run.
    pub fn with_debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }

    /// Asks for an incremental run of `id` soon; events within the debounce share it.
    /// Returns whether this call scheduled a new run (false: one was already waiting).
    pub fn request_sync(self: &Arc<Self>, id: &str) -> bool {
        {
            let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !pending.insert(id.to_owned()) {
                return false;
            }
        }
        let syncs = Arc::clone(self);
        let id = id.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(syncs.debounce).await;
            syncs.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
            for _ in 0..BUSY_RETRIES {
                match syncs.trigger(&id, SyncMode::Incremental).await {
                    Ok(run_id) => {
                        tracing::info!(connector = %id, run_id, "webhook sync started");
                        return;
                    }
                    Err(TriggerError::AlreadyRunning(_)) => {
                        tokio::time::sleep(syncs.debounce.max(Duration::from_millis(200))).await
                    }
                    Err(error) => {
                        tracing::warn!(connector = %id, %error, "webhook sync did not start");
                        return;
                    }
                }
            }
            tracing::warn!(connector = %id, "webhook sync gave up: the connector stayed busy");
        });
        true
    }

    /// Tombstones the connector's items `external_ids` now, in one page commit under
    /// the connector's claim; the cursor is left as it is. Returns how many
    /// tombstones were written; `AlreadyRunning` while a run holds the claim.
    pub async fn tombstone(&self, id: &str, external_ids: &[String]) -> Result<u64, TriggerError> {
        let entry = self.get(id).ok_or_else(|| TriggerError::Unknown(id.to_owned()))?;
        let engine = self.engine.as_ref().ok_or(TriggerError::Disabled)?;
        let store = engine.store();
        let failed = |e: chorus_store::StoreError| TriggerError::Failed(e.to_string());
        let cursor = store.cursor(id).await.map_err(failed)?;
        // Never synced: nothing of this connector is stored, so nothing to tombstone.
        let Some(value) = cursor.value else { return Ok(0) };
        let claim = store
            .claim_run(id, engine.holder())
            .await
            .map_err(failed)?
            .ok_or_else(|| TriggerError::AlreadyRunning(id.to_owned()))?;
        let page = PageCommit {
            connector: id.to_owned(),
            source: entry.connector.source(),
            records: external_ids
                .iter()
                .map(|external_id| Record::Deleted { entity: EntityKind::Item, external_id: external_id.clone() })
                .collect(),
            cursor: value,
            expected_version: cursor.version,
        };
        let committed = store.commit_page(&claim, &page).await;
        let outcome = match &committed {
            Ok(outcome) => {
                RunOutcome { status: RunStatus::Succeeded, pages: 1, deleted: outcome.deleted, ..RunOutcome::default() }
            }
            Err(error) => {
                RunOutcome { status: RunStatus::Failed, error: Some(error.to_string()), ..RunOutcome::default() }
            }
        };
        store.finish_run(&claim, &outcome).await.map_err(failed)?;
        committed.map(|outcome| outcome.deleted).map_err(failed)
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

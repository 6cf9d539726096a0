//! The sync engine: runs one connector once, page by page.
//!
//! The engine, not the connector, persists. For each page it calls
//! `Store::commit_page`, which writes the page's records and the new cursor in one
//! transaction, so a crash at any instant leaves the cursor at the last page whose
//! records are durable — never ahead of them. The run holds the connector's claim for
//! its whole life (one run per connector, across processes sharing the store) and
//! heartbeats it; a run whose claim was taken over stops at its next commit.
//!
//! A page that fails (malformed body, retries exhausted, auth refused) fails the run
//! and leaves the cursor at the last good page; the next run resumes there. A run the
//! source's rate limit stops (a wait longer than the run can afford) ends
//! `rate_limited`, not failed, with the cursor at the last good page all the same.
//! Records a page could not map are counted and named in the run's history.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus_store::{
    Holder, PageCommit, PageOutcome, RunClaim, RunOutcome, RunStatus, Store, StoreError, UNMAPPED_EXAMPLES_MAX,
};
use futures::{FutureExt, StreamExt};

use crate::connector::{DynConnector, SyncMode, Unmapped};
use crate::telemetry;
use crate::ConnectorError;

/// Why a run could not start or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Another run holds the connector's claim.
    #[error("connector `{0}` is already being synced by another run")]
    AlreadyRunning(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// The connector panicked mid-run; the run is recorded as failed.
    #[error("the connector panicked: {0}")]
    Panicked(String),
}

/// The text of a panic's payload (`panic!("…")` gives a `&str` or a `String`), bounded.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    text.chars().take(200).collect()
}

/// Receives progress as pages commit (the CLI draws progress bars from it).
pub trait Observer: Send + Sync {
    /// The run holds the connector's claim and is recorded as run `run_id`.
    fn run_started(&self, _connector: &str, _run_id: i64) {}
    fn page_committed(&self, _connector: &str, _records: usize, _outcome: &PageOutcome) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// What a finished run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub connector: String,
    pub run_id: i64,
    pub outcome: RunOutcome,
    pub elapsed: Duration,
}

impl RunReport {
    pub fn succeeded(&self) -> bool {
        self.outcome.status == RunStatus::Succeeded
    }
}

/// Runs connectors against one store.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    holder: Holder,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, holder: Holder) -> Self {
        Self { store, holder }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Who this engine claims runs as.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Claims the connector, syncs it to the end of its source, and records the run.
    ///
    /// Returns `Err` only when the run could not start (already running, store down);
    /// a run that started and failed returns `Ok` with a failed outcome.
    pub async fn run(
        &self,
        connector: &dyn DynConnector,
        mode: SyncMode,
        observer: &dyn Observer,
    ) -> Result<RunReport, SyncError> {
        let started = Instant::now();
        let claim = self
            .store
            .claim_run(connector.id(), &self.holder)
            .await?
            .ok_or_else(|| SyncError::AlreadyRunning(connector.id().to_owned()))?;
        observer.run_started(connector.id(), claim.run_id);
        let _heartbeat = AbortOnDrop(self.spawn_heartbeat(claim.clone()));
        let mut totals = RunOutcome { status: RunStatus::Running, ..RunOutcome::default() };
        // A connector that panics (a bug meeting input we did not foresee) fails its run
        // like any other error: the run is recorded, the claim released, and a
        // scheduler calling us keeps scheduling.
        let result = AssertUnwindSafe(self.drive(&claim, connector, mode, observer, &mut totals))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(SyncError::Panicked(panic_message(panic.as_ref()))));
        match result {
            Ok(()) => totals.status = RunStatus::Succeeded,
            Err(SyncError::Connector(error @ ConnectorError::RateLimited { .. })) => {
                totals.status = RunStatus::RateLimited;
                totals.error = Some(format!("{error}; the next run resumes at the last committed page"));
            }
            Err(error) => {
                totals.status = RunStatus::Failed;
                totals.error = Some(error.to_string());
            }
        }
        self.store.finish_run(&claim, &totals).await?;
        let elapsed = started.elapsed();
        telemetry::RunFinished {
            connector: connector.id(),
            status: totals.status.as_str(),
            pages: totals.pages,
            elapsed,
        }
        .emit();
        Ok(RunReport { connector: connector.id().to_owned(), run_id: claim.run_id, outcome: totals, elapsed })
    }

    async fn drive(
        &self,
        claim: &RunClaim,
        connector: &dyn DynConnector,
        mode: SyncMode,
        observer: &dyn Observer,
        totals: &mut RunOutcome,
    ) -> Result<(), SyncError> {
        // A full run reads from the beginning but leaves the stored cursor in place until
        // its first page commits over it: a full run that fails before that costs the
        // next incremental run nothing.
        let mut cursor = self.store.cursor(connector.id()).await?;
        let from = match mode {
            SyncMode::Full => None,
            SyncMode::Incremental => cursor.value.as_ref(),
        };
        let mut pages = connector.pages(from, mode)?;
        let mut page_started = Instant::now();
        while let Some(page) = pages.next().await {
            let page = page?;
            let records = page.records.len();
            let unmapped = page.unmapped;
            let commit = PageCommit {
                connector: connector.id().to_owned(),
                source: connector.source(),
                records: page.records,
                cursor: page.cursor,
                expected_version: cursor.version,
            };
            let outcome = self.store.commit_page(claim, &commit).await?;
            debug_assert_eq!(outcome.cursor_version, cursor.version + 1, "a commit advances the cursor version by one");
            cursor.version = outcome.cursor_version;
            cursor.value = Some(commit.cursor);
            totals.pages += 1;
            totals.upserted += outcome.upserted;
            totals.unchanged += outcome.unchanged;
            totals.deleted += outcome.deleted;
            note_unmapped(connector.id(), &unmapped, totals);
            telemetry::PageCommitted {
                connector: connector.id(),
                records: records as u64,
                upserted: outcome.upserted,
                unchanged: outcome.unchanged,
                deleted: outcome.deleted,
                elapsed: page_started.elapsed(),
            }
            .emit();
            observer.page_committed(connector.id(), records, &outcome);
            page_started = Instant::now();
        }
        Ok(())
    }

    /// Keeps the claim alive while the run works; stops when aborted or the claim is lost.
    fn spawn_heartbeat(&self, claim: RunClaim) -> tokio::task::JoinHandle<()> {
        let store = Arc::clone(&self.store);
        let every = (self.holder.ttl / 3).max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(error) = store.heartbeat(&claim).await {
                    tracing::warn!(connector = %claim.connector, %error, "heartbeat failed");
                    if matches!(error, StoreError::ClaimLost { .. }) {
                        return;
                    }
                }
            }
        })
    }
}

/// Counts a page's unmapped records into the run's totals and names the first few;
/// each is logged, so none is skipped in silence.
fn note_unmapped(connector: &str, unmapped: &[Unmapped], totals: &mut RunOutcome) {
    for record in unmapped {
        telemetry::RecordUnmapped { connector, external_id: &record.external_id, reason: &record.reason }.emit();
        if totals.unmapped_examples.len() < UNMAPPED_EXAMPLES_MAX {
            totals.unmapped_examples.push(format!("{}: {}", record.external_id, record.reason));
        }
    }
    totals.unmapped += unmapped.len() as u64;
}

/// Stops the heartbeat however the run ends, a dropped (cancelled) run included: a
/// cancelled run must stop renewing its claim so another run can take it after the TTL.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// This process as a claimant: `host:pid:nonce`, with the given claim lifetime.
///
/// `host` names the pid namespace, not just the machine: the store takes a claim over
/// at once when its holder's pid no longer exists "on this host", and containers that
/// share a hostname (compose `hostname:`, Kubernetes `hostNetwork`, sidecars) have
/// separate pid namespaces in which that check would be wrong. The boot id and the pid
/// namespace inode make two such processes different hosts, so they wait for the TTL.
pub fn this_process(ttl: Duration) -> Holder {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned());
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|b| b.trim().chars().take(8).collect::<String>())
        .unwrap_or_default();
    let pid_ns = std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .and_then(|ns| ns.to_str().map(|ns| ns.trim_start_matches("pid:[").trim_end_matches(']').to_owned()))
        .unwrap_or_default();
    let host = format!("{hostname}/{boot}/{pid_ns}");
    let pid = std::process::id();
    let nonce: u32 = rand::random();
    Holder { id: format!("{host}:{pid}:{nonce:08x}"), host, pid, ttl }
}

//! Reconciliation across runs: a run stopped mid-reconciliation (here by Jira's
//! quota) is continued by the next run after the last committed batch, not started
//! over; and ids tombstoned by reconciliation are re-checked now and then, so an issue
//! hidden by a permission flicker comes back instead of staying deleted for good.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chorus_sim::jira::{JiraQuota, JiraSim};
use chorus_sim::{FaultProfile, SimServer};
use chorus_store::{PageOutcome, RunStatus, Store};
use chorus_sync::engine::{Observer, Quiet};
use chorus_sync::SyncMode;
use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Spends Jira's quota once `after` pages of a run have committed.
struct SpendQuotaAfter {
    sim: JiraSim,
    after: usize,
    pages: AtomicUsize,
}

impl Observer for SpendQuotaAfter {
    fn page_committed(&self, _: &str, _: usize, _: &PageOutcome) {
        if self.pages.fetch_add(1, Ordering::SeqCst) + 1 == self.after {
            self.sim.set_quota(Some(JiraQuota::hourly(0)));
        }
    }
}

async fn deleted_at(store: &Arc<dyn Store>, id: u64) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    let item = store.item_by_external_id("jira", &id.to_string()).await.map_err(|e| e.to_string())?;
    Ok(item.ok_or("no such item")?.deleted_at)
}

async fn cursor(store: &Arc<dyn Store>) -> Result<Value, Box<dyn std::error::Error>> {
    Ok(store.cursor("jira").await?.value.ok_or("no cursor")?["position"].clone())
}

fn bulk_fetches(server: &SimServer) -> usize {
    server.requests().iter().filter(|r| r.path.ends_with("/rest/api/3/issue/bulkfetch")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconciliation_stopped_by_the_quota_goes_on_where_it_stopped() -> TestResult {
    let sim = support::basic_sim(31, 30);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let store = support::memory_store().await;
    let settings = json!({
        "base_url": server.url(), "auth": support::basic_auth(), "jql": "project in (PROD, SUP, IDEA)",
        "reconcile": {"every_runs": 2, "every_hours": 0, "batch_size": 5, "recheck_every": 0}
    });
    let build = || support::build(&settings, support::context("jira", &store, support::backoff_policy()));
    let engine = support::engine(&store);
    let connector = build();
    for mode in [SyncMode::Full, SyncMode::Incremental] {
        let outcome = engine.run(connector.as_ref(), mode, &Quiet).await?.outcome;
        assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    }
    // Ids 10000..10029 in batches of 5: one gone from the first batch, one from the last.
    assert!(sim.delete("PROD-1") && sim.issue("PROD-10").is_some_and(|i| i.id == 10_027));
    assert!(sim.delete("PROD-10"));

    // Reconciliation is due; the quota runs out after the search page and two batches.
    let stop = SpendQuotaAfter { sim: sim.clone(), after: 3, pages: AtomicUsize::new(0) };
    let stopped = engine.run(connector.as_ref(), SyncMode::Incremental, &stop).await?.outcome;
    assert_eq!(stopped.status, RunStatus::RateLimited, "{:?}", stopped.error);
    assert_eq!((stopped.pages, stopped.deleted), (3, 1));
    assert!(deleted_at(&store, 10_000).await?.is_some(), "the first batch's deletion is committed");
    assert!(deleted_at(&store, 10_027).await?.is_none(), "the last batch was not reached");
    assert_eq!(cursor(&store).await?["reconcile_after"], "10009", "the cursor keeps the position");

    // An hour later: the next run checks the 20 ids after 10009 (4 batches), not all 30.
    sim.set_quota(None);
    let before = bulk_fetches(&server);
    let resumed = engine.run(build().as_ref(), SyncMode::Incremental, &Quiet).await?.outcome;
    assert_eq!(resumed.status, RunStatus::Succeeded, "{:?}", resumed.error);
    assert_eq!(bulk_fetches(&server) - before, 4, "reconciliation went on after 10009");
    assert!(deleted_at(&store, 10_027).await?.is_some(), "the rest of the reconciliation ran");
    let position = cursor(&store).await?;
    assert!(position.get("reconcile_after").is_none(), "finished: {position}");
    assert_eq!(position["runs_since_reconcile"], 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_hidden_by_a_permission_flicker_comes_back_at_the_recheck() -> TestResult {
    let sim = support::basic_sim(32, 12);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let store = support::memory_store().await;
    let settings = json!({
        "base_url": server.url(), "auth": support::basic_auth(), "jql": "project in (PROD, SUP, IDEA)",
        "reconcile": {"every_runs": 1, "recheck_every": 2}
    });
    let connector = support::build(&settings, support::context("jira", &store, support::backoff_policy()));
    let engine = support::engine(&store);
    let run = |mode| {
        let engine = engine.clone();
        let connector = &connector;
        async move { engine.run(connector.as_ref(), mode, &Quiet).await.map(|report| report.outcome) }
    };
    // Reconciliations: #1 (full run), #2 re-checks (nothing tombstoned yet), #3 does
    // not, #4 re-checks.
    let first = run(SyncMode::Full).await?;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    let flicker = sim.issue("SUP-2").ok_or("no SUP-2")?;
    sim.set_hidden(&[flicker.id]);
    let hidden = run(SyncMode::Incremental).await?;
    assert_eq!((hidden.status, hidden.deleted), (RunStatus::Succeeded, 1), "{:?}", hidden.error);
    assert!(deleted_at(&store, flicker.id).await?.is_some(), "invisible, so tombstoned");

    // Access is restored; the issue itself did not change (no new `updated`).
    sim.set_hidden(&[]);
    let no_recheck = run(SyncMode::Incremental).await?;
    assert_eq!(no_recheck.status, RunStatus::Succeeded, "{:?}", no_recheck.error);
    assert!(deleted_at(&store, flicker.id).await?.is_some(), "not re-checked on this reconciliation");
    let recheck = run(SyncMode::Incremental).await?;
    assert_eq!(recheck.status, RunStatus::Succeeded, "{:?}", recheck.error);
    assert_eq!(deleted_at(&store, flicker.id).await?, None, "the re-check revived it");
    let item = store.item_by_external_id("jira", &flicker.id.to_string()).await?.ok_or("no item")?;
    assert_eq!((item.title.as_str(), item.updated_at), (flicker.summary.as_str(), flicker.updated));
    assert_eq!(item.comments.len(), flicker.comments.len());
    // And a deletion the re-check confirms stays.
    assert!(sim.delete("PROD-1"));
    for _ in 0..4 {
        assert_eq!(run(SyncMode::Incremental).await?.status, RunStatus::Succeeded);
    }
    assert!(deleted_at(&store, 10_000).await?.is_some());
    Ok(())
}

//! Pagination that repeats itself: a search whose `nextPageToken`s go round in circles,
//! a reconciliation scope query that repeats its token, and comment pages that ignore
//! `startAt`. Runs fail (or stop reading) instead of looping forever, and never
//! tombstone on incomplete information. Every run is bounded by a timeout, so a
//! regression fails the test instead of hanging it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chorus_sim::jira::{JiraSim, SimUser, TokenFault};
use chorus_sim::{FaultProfile, SimServer};
use chorus_store::{IdPage, ItemFilter, RunStatus, Store};
use chorus_sync::engine::{Engine, Quiet, RunReport};
use chorus_sync::{DynConnector, HttpPolicy, SyncMode};
use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Rig {
    sim: JiraSim,
    server: SimServer,
    store: Arc<dyn Store>,
    connector: Box<dyn DynConnector>,
    engine: Engine,
}

async fn rig(issues: u64, extra: Value) -> Result<Rig, Box<dyn std::error::Error>> {
    let sim = support::basic_sim(9, issues);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let store = support::memory_store().await;
    let policy = HttpPolicy { requests_per_minute: 600_000, burst: 10_000, ..HttpPolicy::default() };
    let ctx = support::context("jira", &store, policy);
    let mut settings = json!({
        "base_url": server.url(),
        "auth": support::basic_auth(),
        "jql": "project in (PROD, SUP, IDEA)",
        "page_size": 5,
    });
    if let (Some(settings), Value::Object(extra)) = (settings.as_object_mut(), extra) {
        settings.extend(extra);
    }
    let connector = support::build(&settings, ctx);
    let engine = support::engine(&store);
    Ok(Rig { sim, server, store, connector, engine })
}

impl Rig {
    /// One run, failing the test if it does not end within 30 s (a pagination loop).
    async fn run(&self, mode: SyncMode) -> Result<RunReport, Box<dyn std::error::Error>> {
        let run = self.engine.run(self.connector.as_ref(), mode, &Quiet);
        Ok(tokio::time::timeout(Duration::from_secs(30), run).await.map_err(|_| "the run did not end")??)
    }

    async fn live_items(&self) -> Result<Vec<chorus_core::Item>, Box<dyn std::error::Error>> {
        let filter = ItemFilter::default();
        Ok(self.store.items(&filter, IdPage::first(10_000)).await?)
    }

    fn comment_requests(&self) -> usize {
        self.server.requests().iter().filter(|r| r.path.ends_with("/comment")).count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_whose_tokens_cycle_fails_the_run() -> TestResult {
    let rig = rig(30, json!({})).await?;
    rig.sim.set_token_fault(Some(TokenFault::Cycle));
    let outcome = rig.run(SyncMode::Full).await?.outcome;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.unwrap_or_default();
    assert!(error.contains("repeated a nextPageToken"), "{error}");
    // No token, A, B (which points back to A): three searches, then the run stops.
    assert_eq!(rig.sim.searches().len(), 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_query_repeating_its_token_tombstones_nothing() -> TestResult {
    let rig = rig(30, json!({"page_size": 100, "reconcile": {"every_runs": 1}})).await?;
    let first = rig.run(SyncMode::Full).await?.outcome;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    assert_eq!(rig.live_items().await?.len(), 30);

    // The scope query of the next reconciliation pages by 2 and repeats its token.
    rig.sim.set_id_search_page_cap(Some(2));
    rig.sim.set_token_fault(Some(TokenFault::Repeat));
    let second = rig.run(SyncMode::Incremental).await?.outcome;
    assert_eq!(second.status, RunStatus::Failed);
    let error = second.error.unwrap_or_default();
    assert!(error.contains("while reconciling"), "{error}");
    assert!(rig.sim.searches().iter().any(|jql| jql.contains("id in")), "the scope query ran");
    assert_eq!(rig.live_items().await?.len(), 30, "no issue in scope was tombstoned");

    rig.sim.set_token_fault(None);
    let third = rig.run(SyncMode::Incremental).await?.outcome;
    assert_eq!(third.status, RunStatus::Succeeded, "{:?}", third.error);
    assert_eq!(rig.live_items().await?.len(), 30);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_pages_ignoring_start_at_are_read_once() -> TestResult {
    let rig = rig(30, json!({})).await?;
    rig.sim.set_embedded_comments(1);
    rig.sim.set_broken_comment_paging(true);
    let outcome = rig.run(SyncMode::Full).await?.outcome;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);

    let truncated = rig.sim.truth().iter().filter(|issue| issue.comments.len() > 1).count();
    assert!(truncated > 0, "some issues need their comments fetched");
    assert_eq!(rig.comment_requests(), 2 * truncated, "a first page, then its repeat, per issue");
    for item in rig.live_items().await? {
        let issue = rig.sim.truth().into_iter().find(|i| i.id.to_string() == item.external_id).ok_or("no issue")?;
        assert_eq!(item.comments.len(), issue.comments.len(), "issue {}: no duplicated comments", issue.key());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_are_read_up_to_twenty_pages_per_issue_keeping_the_newest() -> TestResult {
    let rig = rig(3, json!({})).await?;
    rig.sim.set_embedded_comments(1);
    let issue = rig.sim.truth().into_iter().next().ok_or("no issue")?;
    let author = SimUser { account_id: "u-1".into(), display_name: "Chatty".into(), email: None };
    for n in 0..2_500 {
        rig.sim.add_comment(&issue.key(), author.clone(), &format!("comment {n}"), true).ok_or("no issue")?;
    }
    let outcome = rig.run(SyncMode::Full).await?.outcome;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);

    let item = rig.live_items().await?.into_iter().find(|i| i.external_id == issue.id.to_string()).ok_or("no item")?;
    assert_eq!(item.comments.len(), 2_000, "20 pages of 100");
    // The newest 2,000 are kept (the seeded comments and the first 500 added are
    // older), stored oldest first as Jira shows them.
    let bodies: Vec<&str> = item.comments.iter().map(|c| c.body.as_str()).collect();
    assert_eq!((bodies[0], bodies[1_999]), ("comment 500", "comment 2499"), "the newest comments are kept");
    let requests = rig.server.requests();
    let for_issue = requests.iter().filter(|r| r.path.ends_with(&format!("/{}/comment", issue.id))).count();
    assert_eq!(for_issue, 20);
    Ok(())
}

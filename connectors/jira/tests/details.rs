//! Run-to-run details a long-lived process must get right: the API user's time zone
//! is read at the start of every run (not once per process), and an issue the
//! connector cannot map is counted and named in the run's history instead of being
//! skipped in silence while the cursor moves past it.

mod support;

use std::sync::Arc;

use chorus_sim::jira::SimZone;
use chorus_sim::{FaultProfile, SimServer};
use chorus_store::{IdPage, ItemFilter, RunStatus, Store};
use chorus_sync::engine::Quiet;
use chorus_sync::SyncMode;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn cursor_updated(store: &Arc<dyn Store>) -> Result<DateTime<Utc>, Box<dyn std::error::Error>> {
    let cursor = store.cursor("jira").await?.value.ok_or("no cursor committed")?;
    let at = cursor["position"]["updated"].as_str().ok_or("cursor has no `updated`")?;
    Ok(DateTime::parse_from_rfc3339(at)?.to_utc())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_changed_between_runs_is_honoured_by_the_next_runs_jql() -> TestResult {
    let sim = support::basic_sim(5, 20);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let store = support::memory_store().await;
    let ctx = support::context("jira", &store, support::backoff_policy());
    let settings = json!({"base_url": server.url(), "auth": support::basic_auth(), "jql": "project = PROD"});
    // One connector object for both runs, as under `chorus serve`.
    let connector = support::build(&settings, ctx);
    let engine = support::engine(&store);
    let first = engine.run(connector.as_ref(), SyncMode::Full, &Quiet).await?.outcome;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);

    // The API user moves from Los Angeles to Sydney (17 or 19 hours ahead).
    sim.set_zone(SimZone::Sydney);
    let cursor = cursor_updated(&store).await?;
    let before = sim.searches().len();
    let second = engine.run(connector.as_ref(), SyncMode::Incremental, &Quiet).await?.outcome;
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    let searches = sim.searches();
    let window = searches[before..].iter().find(|q| q.contains("updated >=")).ok_or("no incremental search")?;
    let sydney = SimZone::Sydney.to_local(cursor - Duration::minutes(1)).format("%Y-%m-%d %H:%M").to_string();
    assert!(window.contains(&format!("updated >= \"{sydney}\"")), "{window} (expected {sydney}, Sydney time)");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmappable_issue_is_counted_and_named_in_the_run_history() -> TestResult {
    let sim = support::basic_sim(6, 12);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let store = support::memory_store().await;
    let ctx = support::context("jira", &store, support::backoff_policy());
    let settings = json!({
        "base_url": server.url(), "auth": support::basic_auth(), "jql": "project in (PROD, SUP, IDEA)", "page_size": 5
    });
    let connector = support::build(&settings, ctx);
    let broken = sim.truth().get(3).cloned().ok_or("no issue")?;
    sim.set_idless_issues(&[broken.id]);

    let report = support::engine(&store).run(connector.as_ref(), SyncMode::Full, &Quiet).await?;
    let outcome = &report.outcome;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(outcome.unmapped, 1);
    let named = format!("{}: issue has no id", broken.key());
    assert_eq!(outcome.unmapped_examples, std::slice::from_ref(&named));
    let runs = store.runs(Some("jira"), 1).await?;
    let run = runs.first().ok_or("no run recorded")?;
    assert_eq!((run.id, run.unmapped, run.unmapped_examples.clone()), (report.run_id, 1, vec![named]));
    let items = store.items(&ItemFilter::default(), IdPage::first(100)).await?;
    assert_eq!(items.len(), sim.truth().len() - 1, "every other issue is synced");
    Ok(())
}

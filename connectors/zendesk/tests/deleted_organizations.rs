//! Deleted organizations: Zendesk's organization objects carry no `deleted_at` and the
//! export simply stops listing a deleted one, so the connector checks the ids it knows
//! with `organizations/show_many.json` on full runs and on schedule. A deleted one
//! becomes an account tombstone, a live one is kept, an answer that is an error or
//! not an organization list tombstones nothing, and a check stopped mid-way resumes
//! after its last committed batch.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chorus_sim::zendesk::{ZendeskSim, ZendeskSimConfig};
use chorus_sim::{ErrorBurst, FaultProfile, SimClock, SimServer, WrongShape};
use chorus_store::{IdPage, Store};
use chorus_sync::connector::DynConnector;
use chorus_sync::engine::{Engine, Quiet, RunReport};
use chorus_sync::http::HttpPolicy;
use chorus_sync::SyncMode;

use support::{BoxResult, TestResult};

const SHOW_MANY: &str = "/api/v2/organizations/show_many.json";

fn sim(organizations: usize) -> BoxResult<(ZendeskSim, SimClock)> {
    let clock = support::clock()?;
    let config = ZendeskSimConfig {
        organizations,
        users: 10,
        tickets: 5,
        incremental_window: Duration::from_millis(200),
        ..ZendeskSimConfig::default()
    };
    Ok((ZendeskSim::new(config, clock.clone()), clock))
}

fn connector(url: &str, store: &Arc<dyn Store>, reconcile: serde_json::Value) -> BoxResult<Box<dyn DynConnector>> {
    let settings = serde_json::json!({
        "base_url": url,
        "auth": support::api_token_auth(&ZendeskSimConfig::default()),
        "comments": "none",
        "rate_limit": {"requests_per_minute": 60000, "incremental_requests": 10, "incremental_window_secs": 0.2},
        "reconcile": reconcile,
    });
    let policy = HttpPolicy {
        max_attempts: 2,
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..support::fast_policy(60_000, 100)
    };
    support::build(&settings, store, policy)
}

async fn run(engine: &Engine, connector: &dyn DynConnector, mode: SyncMode) -> BoxResult<RunReport> {
    Ok(engine.run(connector, mode, &Quiet).await?)
}

/// The external ids of the live accounts, sorted.
async fn live_organizations(store: &dyn Store) -> BoxResult<Vec<String>> {
    let mut ids: Vec<String> = store
        .accounts(IdPage::first(1000))
        .await?
        .into_iter()
        .flat_map(|account| account.external_ids.into_iter().map(|x| x.id))
        .collect();
    ids.sort();
    Ok(ids)
}

fn organization_ids(sim: &ZendeskSim) -> Vec<String> {
    sim.truth().organizations.keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_deleted_between_runs_is_tombstoned_by_the_check_and_live_ones_are_kept() -> TestResult {
    let (sim, clock) = sim(8)?;
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let daily = connector(&server.url(), &store, serde_json::json!({}))?;
    assert!(run(&engine, daily.as_ref(), SyncMode::Incremental).await?.succeeded());
    let all = organization_ids(&sim);
    assert_eq!(live_organizations(store.as_ref()).await?, all);
    assert!(sim.organization_lookups().is_empty(), "the first run's export had just seen every organization");

    let gone: u64 = all[2].parse()?;
    assert!(sim.delete_organization(gone));
    clock.advance(Duration::from_secs(61));
    assert!(run(&engine, daily.as_ref(), SyncMode::Incremental).await?.succeeded());
    assert_eq!(live_organizations(store.as_ref()).await?, all, "not due yet: the export alone cannot tell");
    assert!(sim.organization_lookups().is_empty());

    // A full run checks what its export did not return.
    assert!(run(&engine, daily.as_ref(), SyncMode::Full).await?.succeeded());
    let kept: Vec<String> = all.iter().filter(|id| **id != gone.to_string()).cloned().collect();
    assert_eq!(live_organizations(store.as_ref()).await?, kept);
    assert_eq!(sim.organization_lookups(), [1], "only the organization the export left out was asked for");
    assert_eq!(store.counts().await?.accounts, 7);

    // Checked on every run: the known organizations are asked for and the live ones stay.
    let every_run = connector(&server.url(), &store, serde_json::json!({"every_runs": 1}))?;
    // A second connector paces the exports on its own: let the simulator's window pass.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second: u64 = kept[0].parse()?;
    assert!(sim.delete_organization(second));
    clock.advance(Duration::from_secs(61));
    let report = run(&engine, every_run.as_ref(), SyncMode::Incremental).await?;
    assert!(report.succeeded(), "{:?}", report.outcome.error);
    // The 7 known ones but the one the export re-listed (it repeats its last second).
    assert_eq!(sim.organization_lookups(), [1, 6]);
    assert_eq!(live_organizations(store.as_ref()).await?, kept[1..].to_vec());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_or_malformed_answer_tombstones_nothing() -> TestResult {
    let (sim, clock) = sim(8)?;
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let every_run = connector(&server.url(), &store, serde_json::json!({"every_runs": 1}))?;
    assert!(run(&engine, every_run.as_ref(), SyncMode::Incremental).await?.succeeded());
    let all = organization_ids(&sim);
    assert!(sim.delete_organization(all[0].parse()?));
    clock.advance(Duration::from_secs(61));

    let errors = FaultProfile {
        scope: Some(SHOW_MANY.into()),
        error_burst: Some(ErrorBurst { after_n: 0, len: 1000, status: 500 }),
        ..FaultProfile::none()
    };
    let not_found = FaultProfile {
        scope: Some(SHOW_MANY.into()),
        error_burst: Some(ErrorBurst { after_n: 0, len: 1000, status: 404 }),
        ..FaultProfile::none()
    };
    let wrong_shape = FaultProfile {
        scope: Some(SHOW_MANY.into()),
        wrong_shape: Some(WrongShape { path_prefix: SHOW_MANY.into(), nth: 1 }),
        ..FaultProfile::none()
    };
    for (name, profile) in [("500", errors), ("404", not_found), ("wrong shape", wrong_shape)] {
        server.set_faults(profile);
        let report = run(&engine, every_run.as_ref(), SyncMode::Incremental).await?;
        assert!(!report.succeeded(), "{name}: the run says the check failed");
        assert_eq!(live_organizations(store.as_ref()).await?, all, "{name}: nothing tombstoned");
    }

    // The same check with a good answer does tombstone it.
    server.set_faults(FaultProfile::none());
    assert!(run(&engine, every_run.as_ref(), SyncMode::Incremental).await?.succeeded());
    assert_eq!(live_organizations(store.as_ref()).await?, all[1..].to_vec());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_goes_by_a_hundred_ids_and_resumes_after_its_last_committed_batch() -> TestResult {
    let (sim, clock) = sim(250)?;
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let daily = connector(&server.url(), &store, serde_json::json!({}))?;
    assert!(run(&engine, daily.as_ref(), SyncMode::Incremental).await?.succeeded());
    let all = organization_ids(&sim);
    let (first, last) = (all[5].clone(), all[240].clone());
    assert!(sim.delete_organization(first.parse()?) && sim.delete_organization(last.parse()?));
    clock.advance(Duration::from_secs(61));

    // The second batch fails: the first one's tombstone is committed with its cursor.
    server.set_faults(FaultProfile {
        scope: Some(SHOW_MANY.into()),
        error_burst: Some(ErrorBurst { after_n: 1, len: 1000, status: 500 }),
        ..FaultProfile::none()
    });
    let every_run = connector(&server.url(), &store, serde_json::json!({"every_runs": 1}))?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!run(&engine, every_run.as_ref(), SyncMode::Incremental).await?.succeeded());
    let live = live_organizations(store.as_ref()).await?;
    assert!(!live.contains(&first) && live.contains(&last), "batch one committed, batch two not");

    // An incremental run not due by the schedule still finishes the check it left.
    server.set_faults(FaultProfile::none());
    assert!(run(&engine, daily.as_ref(), SyncMode::Incremental).await?.succeeded());
    let live = live_organizations(store.as_ref()).await?;
    assert_eq!(live.len(), 248);
    assert!(!live.contains(&last));
    // Answered calls only: batch one, then the two batches after it (ids 101..=250).
    assert_eq!(sim.organization_lookups(), [100, 100, 50]);
    Ok(())
}

//! Cursor exports that do not move on: a page that repeats the cursor it was asked
//! with, or names none, while saying `end_of_stream: false`. The run fails with a clear
//! error instead of requesting the same page forever, the repeated page is not
//! committed, and the next healthy run resumes from the stored cursor. Every run is
//! bounded by a timeout, so a regression fails the test instead of hanging it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chorus_sim::zendesk::{CursorFault, ZendeskSim, ZendeskSimConfig};
use chorus_sim::{FaultProfile, SimServer};
use chorus_store::{IdPage, ItemFilter, RunStatus, Store};
use chorus_sync::engine::{Engine, RunReport};
use chorus_sync::DynConnector;

use support::{BoxResult, TestResult};

struct Rig {
    sim: ZendeskSim,
    _server: SimServer,
    store: Arc<dyn Store>,
    connector: Box<dyn DynConnector>,
    engine: Engine,
}

async fn rig() -> BoxResult<Rig> {
    let clock = support::clock()?;
    let config = ZendeskSimConfig {
        incremental_limit: 1_000,
        incremental_window: Duration::from_millis(100),
        ..ZendeskSimConfig::default()
    };
    let sim = ZendeskSim::new(config.clone(), clock);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let store = support::memory_store().await?;
    let settings = serde_json::json!({
        "base_url": server.url(),
        "auth": support::api_token_auth(&config),
        "comments": "none",
        "page_size": 10,
        "rate_limit": {"requests_per_minute": 60000, "incremental_requests": 1000, "incremental_window_secs": 0.1},
    });
    let connector = support::build(&settings, &store, support::fast_policy(600_000, 10_000))?;
    let engine = support::engine(&store);
    Ok(Rig { sim, _server: server, store, connector, engine })
}

impl Rig {
    /// One run, failing the test if it does not end within 30 s (a pagination loop).
    async fn run(&self) -> BoxResult<RunReport> {
        let run = support::incremental(&self.engine, self.connector.as_ref());
        tokio::time::timeout(Duration::from_secs(30), run).await.map_err(|_| "the run did not end")?
    }

    async fn items(&self) -> BoxResult<usize> {
        let filter = ItemFilter { include_deleted: true, ..ItemFilter::default() };
        Ok(self.store.items(&filter, IdPage::first(10_000)).await?.len())
    }
}

async fn fails_then_recovers(fault: CursorFault, expected: &str) -> TestResult {
    let rig = rig().await?;
    rig.sim.set_cursor_fault(Some(fault));
    let outcome = rig.run().await?.outcome;
    assert_eq!(outcome.status, RunStatus::Failed, "{fault:?}");
    let error = outcome.error.unwrap_or_default();
    assert!(error.contains("repeated its cursor") && error.contains(expected), "{fault:?}: {error}");
    assert!(error.contains("incremental/users/cursor.json"), "the users export stops first: {error}");
    assert_eq!(rig.items().await?, 0, "no ticket page was read");

    rig.sim.set_cursor_fault(None);
    let outcome = rig.run().await?.outcome;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert!(rig.items().await? > 100, "the tickets export caught up");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_repeating_its_cursor_fails_the_run() -> TestResult {
    fails_then_recovers(CursorFault::Repeat, "the `after_cursor` it was asked with").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_without_a_cursor_that_is_not_the_last_fails_the_run() -> TestResult {
    fails_then_recovers(CursorFault::Null, "no `after_cursor`").await
}

//! The Jira connector against the simulator's own rate limits (429 and 503 with
//! `Retry-After`, `X-RateLimit-*` and `RateLimit-Reason`): runs succeed, and no request
//! arrives inside a `Retry-After` window.

mod support;

use std::time::Duration;

use chorus_sim::jira::JiraRateLimit;
use chorus_sim::{FaultProfile, SimServer};
use chorus_store::{IdPage, ItemFilter, RunStatus};
use chorus_sync::engine::Quiet;
use chorus_sync::SyncMode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_wait_out_jiras_429s_and_503s() {
    let sim = support::basic_sim(9, 30);
    sim.set_embedded_comments(100);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await.expect("simulator");
    let store = support::memory_store().await;
    let ctx = support::context("jira", &store, support::backoff_policy());
    let settings = json!({
        "base_url": server.url(),
        "auth": support::basic_auth(),
        "jql": "project in (PROD, SUP, IDEA)",
        "page_size": 10,
    });
    let connector = support::build(&settings, ctx);
    let engine = support::engine(&store);

    sim.set_rate_limit(Some(JiraRateLimit::burst(3, Duration::from_secs(1))));
    let first = engine.run(connector.as_ref(), SyncMode::Full, &Quiet).await.expect("run").outcome;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    let after_429s = sim.rate_limit_rejections();
    assert!(after_429s > 0, "the 429 limit fired");

    let overloaded = JiraRateLimit {
        status: 503,
        reason: "jira-quota-tenant-based".into(),
        ..JiraRateLimit::burst(2, Duration::from_secs(1))
    };
    sim.set_rate_limit(Some(overloaded));
    let second = engine.run(connector.as_ref(), SyncMode::Full, &Quiet).await.expect("run").outcome;
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    assert!(sim.rate_limit_rejections() > after_429s, "the 503 limit fired");

    let statuses: Vec<u16> = server.requests().iter().filter_map(|r| r.status).collect();
    assert!(statuses.contains(&429) && statuses.contains(&503), "{statuses:?}");
    assert_eq!(server.retry_after_violations(), 0, "a request arrived inside a Retry-After window");
    let items = store.items(&ItemFilter::default(), IdPage::first(100)).await.expect("items");
    assert_eq!(items.len(), sim.truth().len());
}

//! The Jira connector against the simulator's own rate limits (429 and 503 with
//! `Retry-After`, `X-RateLimit-*` and `RateLimit-Reason`): runs succeed, and no request
//! arrives inside a `Retry-After` window. Against the points-based quota: a 429 with
//! only an ISO `X-RateLimit-Reset` a moment ahead is waited out; one an hour ahead
//! ends the run `rate_limited` at its last committed page, and a later run completes.

mod support;

use std::time::Duration;

use chorus_sim::jira::{JiraQuota, JiraRateLimit};
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

/// The store's live items and the committed cursor's `updated`.
async fn synced(store: &std::sync::Arc<dyn chorus_store::Store>) -> (Vec<chorus_core::Item>, Option<String>) {
    let items = store.items(&ItemFilter::default(), IdPage::first(1000)).await.expect("items");
    let cursor = store.cursor("jira").await.expect("cursor").value;
    let updated = cursor.and_then(|c| c["position"]["updated"].as_str().map(str::to_owned));
    (items, updated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_429_without_retry_after_is_waited_out_until_its_iso_reset() {
    let sim = support::basic_sim(12, 30);
    sim.set_embedded_comments(100);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await.expect("simulator");
    let store = support::memory_store().await;
    let ctx = support::context("jira", &store, support::backoff_policy());
    let settings = json!({"base_url": server.url(), "auth": support::basic_auth(), "jql": "project in (PROD, SUP, IDEA)", "page_size": 5});
    let connector = support::build(&settings, ctx);
    // 14 points a 2-second window: /myself and two pages of 5, then a 429 whose only
    // hint is `X-RateLimit-Reset`, a second or two ahead (within `max_backoff`).
    let quota = JiraQuota { window: Duration::from_secs(2), retry_after: false, ..JiraQuota::hourly(14) };
    sim.set_quota(Some(quota));
    let engine = support::engine(&store);
    let run = engine.run(connector.as_ref(), SyncMode::Full, &Quiet);
    let outcome = tokio::time::timeout(Duration::from_secs(60), run).await.expect("the run ends").expect("run").outcome;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert!(sim.rate_limit_rejections() > 0, "the quota fired");
    let refused = server.requests().iter().filter(|r| r.status == Some(429)).count();
    assert!(refused > 0);
    let (items, _) = synced(&store).await;
    assert_eq!(items.len(), sim.truth().len(), "nothing lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hourly_quota_ends_the_run_rate_limited_and_a_later_run_completes() {
    let sim = support::basic_sim(13, 40);
    sim.set_embedded_comments(100);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await.expect("simulator");
    let store = support::memory_store().await;
    let settings = json!({"base_url": server.url(), "auth": support::basic_auth(), "jql": "project in (PROD, SUP, IDEA)", "page_size": 5});
    let connector = support::build(&settings, support::context("jira", &store, support::backoff_policy()));
    let engine = support::engine(&store);
    // /myself (1) and four pages of 5 issues (6 each) spend 25 of 20 points: the fifth
    // page is refused, with a reset an hour away and no Retry-After.
    sim.set_quota(Some(JiraQuota::hourly(20)));
    let run = engine.run(connector.as_ref(), SyncMode::Full, &Quiet);
    let first =
        tokio::time::timeout(Duration::from_secs(30), run).await.expect("no hour-long wait").expect("run").outcome;
    assert_eq!(first.status, RunStatus::RateLimited, "{:?}", first.error);
    assert_eq!(first.pages, 4);
    let error = first.error.clone().unwrap_or_default();
    assert!(error.contains("rate limited") && error.contains("resumes"), "{error}");
    let runs = store.runs(Some("jira"), 1).await.expect("runs");
    assert_eq!(runs[0].status, RunStatus::RateLimited, "the history says rate_limited, not failed");

    // The cursor is at the last committed page: the 20th issue in (updated, key) order.
    let mut order: Vec<_> = sim.truth();
    order.sort_by_key(|i| (i.updated, i.key()));
    let (items, cursor) = synced(&store).await;
    assert_eq!(items.len(), 20);
    let twentieth = order[19].updated.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let cursor = cursor.expect("a cursor");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&cursor).expect("rfc3339"),
        chrono::DateTime::parse_from_rfc3339(&twentieth).expect("rfc3339")
    );

    // The same client remembers the reset: a run now sends nothing and stays rate-limited.
    let sent = server.requests().len();
    let again = engine.run(connector.as_ref(), SyncMode::Incremental, &Quiet).await.expect("run").outcome;
    assert_eq!(again.status, RunStatus::RateLimited, "{:?}", again.error);
    assert_eq!(server.requests().len(), sent, "no request inside the quota's window");

    // An hour later (a fresh window; a process started since): the run completes.
    sim.set_quota(Some(JiraQuota::hourly(10_000)));
    let later = support::build(&settings, support::context("jira", &store, support::backoff_policy()));
    let second = engine.run(later.as_ref(), SyncMode::Incremental, &Quiet).await.expect("run").outcome;
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    let (items, _) = synced(&store).await;
    let ids: std::collections::BTreeSet<String> = items.iter().map(|i| i.external_id.clone()).collect();
    let truth: std::collections::BTreeSet<String> = sim.truth().iter().map(|i| i.id.to_string()).collect();
    assert_eq!(ids.len(), items.len(), "nothing duplicated");
    assert_eq!(ids, truth, "nothing lost");
}

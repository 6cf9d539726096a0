//! The org's traps, one test each: ties on `SystemModstamp` across a committed page
//! boundary, the daily quota (slow down, stop, `REQUEST_LIMIT_EXCEEDED`), a missing
//! custom field, sessions that expire mid-run, and the JWT bearer grant end to end.

mod support;

use std::time::{Duration, Instant};

use chorus_sim::salesforce::{salesforce_authority, SalesforceSimConfig, JWT_AUDIENCE, JWT_USERNAME};
use chorus_sim::token::JWT_TEST_PRIVATE_KEY_PEM;
use chorus_sim::{AuthorityConfig, FaultProfile, WrongShape};
use chorus_store::RunStatus;
use serde_json::json;

use support::TestResult;

fn cases_only() -> serde_json::Value {
    json!({"objects": {"accounts": false, "contacts": false, "opportunities": false, "cases": true}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sharing_a_modstamp_across_a_committed_page_boundary_are_all_read_once() -> TestResult {
    let clock = support::clock()?;
    let config = SalesforceSimConfig { batch_size: 7, ..SalesforceSimConfig::default() };
    let org = support::start(config, clock.clone(), FaultProfile::none(), FaultProfile::none()).await?;
    // One bulk update stamps every case with the same second: every page boundary is a tie.
    let ids: Vec<String> = org.sim.records("Case").keys().cloned().collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    org.sim.stamp_together("Case", &refs, clock.now());
    // The fourth page arrives in a shape no retry fixes: the run fails after three pages.
    org.instance.set_faults(FaultProfile {
        wrong_shape: Some(WrongShape { path_prefix: "/services/data/v62.0/query/".into(), nth: 3 }),
        ..FaultProfile::none()
    });
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let connector = support::build(&support::settings(&org.login.url(), cases_only()), &store, true)?;
    let first = support::incremental(&engine, connector.as_ref()).await?;
    assert_eq!(first.outcome.status, RunStatus::Failed, "{:?}", first.outcome.error);
    assert_eq!(support::snapshot(store.as_ref()).await?.items.len(), 21, "three pages of seven committed");

    org.instance.set_faults(FaultProfile::none());
    support::sync(&engine, connector.as_ref()).await?;
    let snapshot = support::snapshot(store.as_ref()).await?;
    assert_eq!(snapshot.items.len(), ids.len(), "every case of the tie arrived, none twice");
    let resumed = org.sim.queries().into_iter().rev().find(|q| q.contains("FROM Case") && !q.contains("IsDeleted"));
    assert!(resumed.is_some_and(|q| q.contains("SystemModstamp = ") && q.contains("Id > '")), "resumed inside the tie");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_slows_the_run_then_stops_it_resumably_and_exhaustion_is_a_rate_limit() -> TestResult {
    let clock = support::clock()?;
    let config =
        SalesforceSimConfig { batch_size: 7, daily_quota: 1_000, api_used: 930, ..SalesforceSimConfig::default() };
    let org = support::start(config, clock, FaultProfile::none(), FaultProfile::none()).await?;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let limits = json!({"limits": {"slow_down_at": 0.9, "stop_at": 0.95, "slow_requests_per_minute": 600}});
    let connector = support::build(&support::settings(&org.login.url(), limits), &store, true)?;
    let started = Instant::now();
    let stopped = support::incremental(&engine, connector.as_ref()).await?;
    assert_eq!(stopped.outcome.status, RunStatus::RateLimited, "{:?}", stopped.outcome.error);
    let used = org.sim.api_used();
    assert_eq!(used, 950, "no request once 95% of the quota was used");
    // 20 requests, every one after the first paced at 100 ms.
    assert!(started.elapsed() >= Duration::from_millis(1_800), "paced: {:?}", started.elapsed());
    assert!(stopped.outcome.pages > 0, "pages before the stop were committed");
    assert_eq!(org.sim.quota_refusals(), 0, "the org never had to refuse a request");

    // A new day: the run resumes where it stopped and completes.
    org.sim.set_api_used(0);
    support::sync(&engine, connector.as_ref()).await?;
    let snapshot = support::snapshot(store.as_ref()).await?;
    assert_eq!(
        snapshot
            .items
            .values()
            .filter(|i| i.kind == chorus_core::Kind::SupportTicket || i.kind == chorus_core::Kind::FeatureRequest)
            .count(),
        60
    );

    // Used up by someone else: Salesforce's 403 ends the run as rate-limited, not failed.
    org.sim.set_api_used(1_000);
    let refused = support::incremental(&engine, connector.as_ref()).await?;
    assert_eq!(refused.outcome.status, RunStatus::RateLimited, "{:?}", refused.outcome.error);
    assert!(refused.outcome.error.unwrap_or_default().contains("REQUEST_LIMIT_EXCEEDED"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_custom_field_names_the_field_and_the_object() -> TestResult {
    let org =
        support::start(SalesforceSimConfig::default(), support::clock()?, FaultProfile::none(), FaultProfile::none())
            .await?;
    org.sim.remove_field("Opportunity", "Product_Gap__c");
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let connector = support::build(&support::settings(&org.login.url(), json!({})), &store, true)?;
    let report = support::incremental(&engine, connector.as_ref()).await?;
    assert_eq!(report.outcome.status, RunStatus::Failed);
    let error = report.outcome.error.unwrap_or_default();
    assert!(
        error.contains("INVALID_FIELD") && error.contains("Product_Gap__c") && error.contains("Opportunity"),
        "{error}"
    );

    // Without blockers configured the same org syncs.
    let settings = support::settings(&org.login.url(), json!({"mapping": {"blocker": {"field": ""}}}));
    let connector = support::build(&settings, &store, true)?;
    support::sync(&engine, connector.as_ref()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expiring_mid_run_are_renewed_once_each() -> TestResult {
    let authority = AuthorityConfig { max_uses: Some(6), ..salesforce_authority() };
    let config = SalesforceSimConfig { batch_size: 7, authority, ..SalesforceSimConfig::default() };
    let org = support::start(config, support::clock()?, FaultProfile::none(), FaultProfile::none()).await?;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let connector = support::build(&support::settings(&org.login.url(), json!({})), &store, true)?;
    support::sync(&engine, connector.as_ref()).await?;
    let expired = org.instance.requests().iter().filter(|r| r.status == Some(401)).count() as u64;
    assert!(expired >= 3, "sessions expired mid-run ({expired})");
    assert_eq!(org.sim.authority().refreshes(), expired + 1, "one grant per expired session, plus the first");
    assert_eq!(org.sim.authority().violations(), 0, "no rotated refresh token was sent again");

    org.sim.expire_sessions();
    support::sync(&engine, connector.as_ref()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwt_bearer_grant_works_end_to_end_and_a_wrong_user_is_refused() -> TestResult {
    let org =
        support::start(SalesforceSimConfig::default(), support::clock()?, FaultProfile::none(), FaultProfile::none())
            .await?;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let auth = |user: &str| {
        json!({"auth": {"type": "jwt_bearer", "client_id": "sim-client", "username": user,
                        "private_key": JWT_TEST_PRIVATE_KEY_PEM, "audience": JWT_AUDIENCE}})
    };
    let connector = support::build(&support::settings(&org.login.url(), auth(JWT_USERNAME)), &store, true)?;
    let report = support::sync(&engine, connector.as_ref()).await?;
    assert!(report.outcome.pages > 0);
    assert_eq!(org.sim.jwt_grants(), 1);
    assert!(!support::snapshot(store.as_ref()).await?.accounts.is_empty());

    let stranger = support::build(&support::settings(&org.login.url(), auth("stranger@example.com")), &store, true)?;
    let refused = support::incremental(&engine, stranger.as_ref()).await?;
    assert_eq!(refused.outcome.status, RunStatus::Failed);
    let error = refused.outcome.error.unwrap_or_default();
    assert!(!error.contains("PRIVATE KEY"), "{error}");
    Ok(())
}

#[tokio::test]
async fn an_insecure_login_url_is_refused_unless_allowed() -> TestResult {
    let store = support::memory_store().await?;
    let result = support::build(&support::settings("http://127.0.0.1:9", json!({})), &store, false);
    let error = result.err().ok_or("refused")?.to_string();
    assert!(error.contains("login_url"), "{error}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_costs_one_describe_and_two_queries_per_object() -> TestResult {
    let org =
        support::start(SalesforceSimConfig::default(), support::clock()?, FaultProfile::none(), FaultProfile::none())
            .await?;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let settings = support::settings(&org.login.url(), json!({"page_size": 2000}));
    let connector = support::build(&settings, &store, true)?;
    support::sync(&engine, connector.as_ref()).await?;
    // 4 describes, 4 queries, 4 recycle-bin queries; one token grant on the login host.
    assert_eq!(org.instance.requests().len(), 12);
    assert_eq!(org.login.requests().len(), 1);
    assert_eq!(org.sim.api_used(), 12, "every data call counts against the daily quota");
    org.instance.log().clear();
    support::sync(&engine, connector.as_ref()).await?;
    assert_eq!(org.instance.requests().len(), 12, "an incremental sync with nothing new costs the same");
    Ok(())
}

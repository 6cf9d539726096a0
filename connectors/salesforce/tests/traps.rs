//! The org's traps, one test each: ties on `SystemModstamp` across a committed page
//! boundary, records committed late with an older `SystemModstamp`, the daily quota (slow down, stop, `REQUEST_LIMIT_EXCEEDED`), a missing
//! custom field, account fields from configured fields and the stage rule, sessions that expire mid-run, the JWT bearer grant end to end, and
//! records purged from the recycle bin (in no query at all).

mod support;

use std::time::{Duration, Instant};

use chorus_sim::salesforce::{salesforce_authority, SalesforceSimConfig, JWT_AUDIENCE, JWT_USERNAME};
use chorus_sim::token::JWT_TEST_PRIVATE_KEY_PEM;
use chorus_sim::{AuthorityConfig, CutBody, FaultProfile, WrongShape};
use chorus_store::RunStatus;
use chorus_sync::engine::Quiet;
use chorus_sync::SyncMode;
use serde_json::json;

use support::TestResult;

/// A live read of Cases: not the recycle bin, not the purged-record check's `Id IN`.
fn is_case_read(query: &str) -> bool {
    query.contains("FROM Case") && !query.contains("IsDeleted") && !query.contains(" IN (")
}

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
    let resumed = org.sim.queries().into_iter().rev().find(|q| is_case_read(q));
    assert!(resumed.is_some_and(|q| q.contains("SystemModstamp = ") && q.contains("Id > '")), "resumed inside the tie");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_committed_late_inside_the_overlap_arrives_and_one_outside_waits_for_full() -> TestResult {
    let clock = support::clock()?;
    let org = support::start(SalesforceSimConfig::default(), clock.clone(), FaultProfile::none(), FaultProfile::none())
        .await?;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let settings =
        support::settings(&org.login.url(), json!({"overlap_seconds": 300, "objects": cases_only()["objects"]}));
    let connector = support::build(&settings, &store, true)?;
    let now = clock.now();
    let fresh = org.sim.create("Case", &[("Subject", json!("Export to CSV")), ("Type", json!("Feature Request"))]);
    support::sync(&engine, connector.as_ref()).await?;
    let before = support::snapshot(store.as_ref()).await?.items.len();

    // Two long transactions commit after that run read past their stamps: one began
    // two minutes ago (inside the overlap), one two hours ago (outside it).
    let late = org
        .sim
        .create_stamped("Case", &[("Subject", json!("Late SSO case"))], now - chrono::Duration::minutes(2))
        .ok_or("created")?;
    let old = org.sim.records("Case").keys().find(|id| Some(*id) != fresh.as_ref()).cloned().ok_or("a case")?;
    let stamped = now - chrono::Duration::hours(2);
    assert!(org.sim.update_stamped("Case", &old, &[("Subject", json!("Rewritten long ago"))], stamped));

    let report = support::sync(&engine, connector.as_ref()).await?;
    let snapshot = support::snapshot(store.as_ref()).await?;
    assert_eq!(snapshot.items.len(), before + 1, "the late case arrived, nothing twice");
    assert!(snapshot.items.get(&late).is_some_and(|item| item.title.contains("Late SSO case")));
    assert!(snapshot.items.get(&old).is_some_and(|item| !item.title.contains("Rewritten")), "outside the overlap");
    assert_eq!(report.outcome.upserted, 1, "{:?}", report.outcome);
    assert_eq!(report.outcome.unchanged, 1, "the repeat inside the overlap: {:?}", report.outcome);
    let first = org.sim.queries().into_iter().rev().find(|q| is_case_read(q));
    assert!(first.is_some_and(|q| q.contains("SystemModstamp >= 2025-06-01T11:55:00.000Z")), "from the newest case");

    // The stored position did not go back to the late case: the next run reaches back
    // from the newest case again.
    let seen = org.sim.queries().len();
    support::sync(&engine, connector.as_ref()).await?;
    let again = org.sim.queries().into_iter().skip(seen).find(|q| is_case_read(q));
    assert!(again.is_some_and(|q| q.contains("SystemModstamp >= 2025-06-01T11:55:00.000Z")), "never backwards");

    // The documented limit: a full sync catches what fell outside the overlap.
    let full = engine.run(connector.as_ref(), SyncMode::Full, &Quiet).await?;
    assert!(full.succeeded(), "{:?}", full.outcome.error);
    let snapshot = support::snapshot(store.as_ref()).await?;
    assert!(snapshot.items.get(&old).is_some_and(|item| item.title.contains("Rewritten long ago")));
    assert_eq!(snapshot.items.len(), before + 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_failing_inside_the_overlap_resumes_after_its_last_record_not_at_the_position() -> TestResult {
    let clock = support::clock()?;
    let config = SalesforceSimConfig { batch_size: 7, ..SalesforceSimConfig::default() };
    let org = support::start(config, clock.clone(), FaultProfile::none(), FaultProfile::none()).await?;
    let ids: Vec<String> = org.sim.records("Case").keys().cloned().collect();
    let (older, newer): (Vec<&str>, Vec<&str>) =
        (ids.iter().take(40).map(String::as_str).collect(), ids.iter().skip(40).map(String::as_str).collect());
    let now = clock.now();
    org.sim.stamp_together("Case", &older, now - chrono::Duration::seconds(100));
    org.sim.stamp_together("Case", &newer, now);
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let connector = support::build(&support::settings(&org.login.url(), cases_only()), &store, true)?;
    support::sync(&engine, connector.as_ref()).await?;

    // A late commit between the two stamps; the overlap's read then fails after three
    // pages, all of them older than the stored position.
    let late = org
        .sim
        .create_stamped("Case", &[("Subject", json!("Late SSO case"))], now - chrono::Duration::seconds(50))
        .ok_or("created")?;
    org.instance.set_faults(FaultProfile {
        wrong_shape: Some(WrongShape { path_prefix: "/services/data/v62.0/query/".into(), nth: 3 }),
        ..FaultProfile::none()
    });
    let failed = support::incremental(&engine, connector.as_ref()).await?;
    assert_eq!(failed.outcome.status, RunStatus::Failed, "{:?}", failed.outcome.error);
    assert_eq!((failed.outcome.pages, failed.outcome.upserted), (3, 0), "{:?}", failed.outcome);

    org.instance.set_faults(FaultProfile::none());
    let seen = org.sim.queries().len();
    let resumed = support::sync(&engine, connector.as_ref()).await?;
    assert_eq!(resumed.outcome.upserted, 1, "{:?}", resumed.outcome);
    assert!(support::snapshot(store.as_ref()).await?.items.contains_key(&late), "the rest of the overlap was read");
    let query = org.sim.queries().into_iter().skip(seen).find(|q| is_case_read(q));
    assert!(
        query.is_some_and(|q| q.contains("SystemModstamp = 2025-06-01T11:58:20.000Z AND Id > '")),
        "resumed exactly after the last committed record"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_overlap_a_late_commit_is_missed_and_a_longer_one_than_a_day_is_refused() -> TestResult {
    let clock = support::clock()?;
    let org = support::start(SalesforceSimConfig::default(), clock.clone(), FaultProfile::none(), FaultProfile::none())
        .await?;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let objects = cases_only()["objects"].clone();
    let settings = support::settings(&org.login.url(), json!({"overlap_seconds": 0, "objects": objects}));
    let connector = support::build(&settings, &store, true)?;
    org.sim.create("Case", &[("Subject", json!("Export to CSV"))]);
    support::sync(&engine, connector.as_ref()).await?;
    let late = org
        .sim
        .create_stamped("Case", &[("Subject", json!("Late SSO case"))], clock.now() - chrono::Duration::seconds(1))
        .ok_or("created")?;
    let report = support::sync(&engine, connector.as_ref()).await?;
    assert_eq!((report.outcome.upserted, report.outcome.unchanged), (0, 0), "{:?}", report.outcome);
    assert!(!support::snapshot(store.as_ref()).await?.items.contains_key(&late), "the trap, with the overlap off");

    let too_long = support::settings(&org.login.url(), json!({"overlap_seconds": 86_401}));
    let error = support::build(&too_long, &store, true).err().ok_or("refused")?.to_string();
    assert!(error.contains("overlap_seconds") && error.contains("86400"), "{error}");
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
async fn plan_stage_and_renewal_come_from_the_configured_account_fields() -> TestResult {
    use chorus_core::LifecycleStage;
    let org =
        support::start(SalesforceSimConfig::default(), support::clock()?, FaultProfile::none(), FaultProfile::none())
            .await?;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let mapping = json!({"mapping": {
        "plan_field": "Plan__c", "renewal_date_field": "Renewal_Date__c", "lifecycle_stage_field": "Type",
        "lifecycle": {"values": {"Customer - Direct": "retention", "Customer - Channel": "retention"},
                      "by_arr": {"paying": "retention", "not_paying": "acquisition"}}}});
    let connector = support::build(&support::settings(&org.login.url(), mapping.clone()), &store, true)?;
    support::sync(&engine, connector.as_ref()).await?;
    let snapshot = support::snapshot(store.as_ref()).await?;
    let named = |name: &str| snapshot.accounts.iter().find(|a| a.name == name).cloned().ok_or(format!("no {name}"));
    let acme = named("Acme Corp")?;
    assert_eq!(acme.plan.as_deref(), Some("Enterprise"));
    assert_eq!(acme.renewal_date.map(|d| d.to_string()).as_deref(), Some("2027-03-31"));
    assert_eq!(acme.lifecycle_stage, Some(LifecycleStage::Retention), "`Customer - Direct` through the map");
    let prospect = named("Wonka")?;
    assert_eq!((prospect.plan, prospect.renewal_date), (None, None));
    assert_eq!(prospect.lifecycle_stage, Some(LifecycleStage::Acquisition), "unmapped `Prospect`, no ARR");

    // A configured field the org lacks stops the run, naming field and object.
    org.sim.remove_field("Account", "Plan__c");
    let connector = support::build(&support::settings(&org.login.url(), mapping), &store, true)?;
    let report = support::incremental(&engine, connector.as_ref()).await?;
    assert_eq!(report.outcome.status, RunStatus::Failed);
    let error = report.outcome.error.unwrap_or_default();
    assert!(error.contains("INVALID_FIELD") && error.contains("Plan__c") && error.contains("Account"), "{error}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_purged_from_the_recycle_bin_are_tombstoned_by_the_check_and_a_bad_answer_tombstones_nothing(
) -> TestResult {
    let clock = support::clock()?;
    let org = support::start(SalesforceSimConfig::default(), clock.clone(), FaultProfile::none(), FaultProfile::none())
        .await?;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let scheduled_off = support::settings(&org.login.url(), json!({"reconcile": {"every_hours": 0}}));
    let connector = support::build(&scheduled_off, &store, true)?;
    support::sync(&engine, connector.as_ref()).await?;
    let items = support::snapshot(store.as_ref()).await?.items;
    let blocker = items.keys().find(|id| id.ends_with(":blocker")).cloned().ok_or("a blocker")?;
    let opportunity = blocker.trim_end_matches(":blocker").to_owned();
    let account_of_blocker = items.get(&blocker).and_then(|item| item.account_id).ok_or("linked")?;
    let case = items.keys().find(|id| id.starts_with("500")).cloned().ok_or("a case")?;
    let accounts = store.live_account_external_ids(support::ID).await?;
    let account = accounts.last().cloned().ok_or("an account")?;
    assert!(org.sim.delete("Case", &case) && org.sim.purge("Case", &case), "binned, then the bin emptied");
    assert!(org.sim.purge("Opportunity", &opportunity), "hard-deleted");
    assert!(org.sim.purge("Account", &account), "hard-deleted");
    let live_items =
        |store: std::sync::Arc<dyn chorus_store::Store>| async move { store.live_external_ids(support::ID).await };
    let opportunity_live = |store: std::sync::Arc<dyn chorus_store::Store>, opportunity: String| async move {
        let of_account = store.opportunities_of_account(account_of_blocker).await?;
        Ok::<bool, chorus_store::StoreError>(of_account.iter().any(|o| o.external_id == opportunity))
    };

    // No query reports a purge: an incremental run without a due check keeps all three.
    support::sync(&engine, connector.as_ref()).await?;
    let live = live_items(store.clone()).await?;
    assert!(live.contains(&case) && live.contains(&blocker), "the trap bites: nothing reported them");
    assert!(store.live_account_external_ids(support::ID).await?.contains(&account));

    // A full run checks; an answer in the wrong shape to the first batch tombstones nothing.
    // Eight queries (four objects, live and recycle bin) come first.
    org.instance.set_faults(FaultProfile {
        wrong_shape: Some(WrongShape { path_prefix: "/services/data/v62.0/query".into(), nth: 9 }),
        ..FaultProfile::none()
    });
    let asked = org.sim.queries().len();
    let failed = engine.run(connector.as_ref(), SyncMode::Full, &Quiet).await?;
    assert_eq!(failed.outcome.status, RunStatus::Failed, "{:?}", failed.outcome.error);
    let failed_queries = org.sim.queries().split_off(asked);
    assert!(failed_queries.iter().any(|q| q.contains(" IN (")), "it failed in the check: {failed_queries:?}");
    let live = live_items(store.clone()).await?;
    assert!(live.contains(&case) && live.contains(&blocker), "an error answer tombstones nothing");
    assert!(store.live_account_external_ids(support::ID).await?.contains(&account));
    assert!(opportunity_live(store.clone(), opportunity.clone()).await?);

    org.instance.set_faults(FaultProfile::none());
    let before = org.sim.queries().len();
    let report = engine.run(connector.as_ref(), SyncMode::Full, &Quiet).await?;
    assert!(report.succeeded(), "{:?}", report.outcome.error);
    let checks: Vec<String> = org.sim.queries().split_off(before).into_iter().filter(|q| q.contains(" IN (")).collect();
    assert_eq!(checks.len(), 3, "one batch per object, records the run just read not asked for: {checks:?}");
    assert_eq!(checks.iter().map(|q| q.matches('\'').count() / 2).sum::<usize>(), 3, "{checks:?}");
    let live = live_items(store.clone()).await?;
    assert!(!live.contains(&case) && !live.contains(&blocker), "purged case and blocker tombstoned");
    assert!(!store.live_account_external_ids(support::ID).await?.contains(&account), "purged account tombstoned");
    assert!(!opportunity_live(store.clone(), opportunity.clone()).await?, "purged opportunity tombstoned");
    assert_eq!(live.len(), items.len() - 2, "nothing else was tombstoned");
    assert_eq!(store.live_account_external_ids(support::ID).await?.len(), accounts.len() - 1);

    // The check is recorded: an incremental run on the default schedule does not ask again.
    let scheduled = support::build(&support::settings(&org.login.url(), json!({})), &store, true)?;
    let before = org.sim.queries().len();
    support::sync(&engine, scheduled.as_ref()).await?;
    assert!(org.sim.queries().split_off(before).iter().all(|q| !q.contains(" IN (")), "checked under a day ago");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_that_never_checked_checks_on_its_first_incremental_run() -> TestResult {
    let clock = support::clock()?;
    let org = support::start(SalesforceSimConfig::default(), clock.clone(), FaultProfile::none(), FaultProfile::none())
        .await?;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let off =
        support::build(&support::settings(&org.login.url(), json!({"reconcile": {"every_hours": 0}})), &store, true)?;
    support::sync(&engine, off.as_ref()).await?;
    let case = support::snapshot(store.as_ref()).await?.items.keys().find(|id| id.starts_with("500")).cloned();
    let case = case.ok_or("a case")?;
    assert!(org.sim.purge("Case", &case));
    let scheduled = support::build(&support::settings(&org.login.url(), json!({})), &store, true)?;
    support::sync(&engine, scheduled.as_ref()).await?;
    assert!(!store.live_external_ids(support::ID).await?.contains(&case), "due by age: never checked");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_answer_cut_after_rotation_fails_clearly_keeps_what_was_committed_and_leaks_no_token() -> TestResult {
    // The renewal after the first session expired is answered, the refresh token
    // rotated, and the answer cut in half on the way: its successor is lost. With
    // rotation on and no reuse grace, no client can recover; the run must say so.
    let authority = AuthorityConfig { max_uses: Some(6), ..salesforce_authority() };
    let config = SalesforceSimConfig { batch_size: 7, authority, ..SalesforceSimConfig::default() };
    let login = FaultProfile { cut_bodies: vec![CutBody::nth("/services/oauth2/token", 2)], ..FaultProfile::none() };
    let org = support::start(config, support::clock()?, login, FaultProfile::none()).await?;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let connector = support::build(&support::settings(&org.login.url(), cases_only()), &store, true)?;
    let report = support::incremental(&engine, connector.as_ref()).await?;
    let tokens = org.login.requests().iter().filter(|r| r.path.starts_with("/services/oauth2/token")).count();
    assert!(tokens >= 2, "the cut answer was served ({tokens} token requests)");
    assert_eq!(report.outcome.status, RunStatus::Failed, "{:?}", report.outcome);
    let error = report.outcome.error.clone().unwrap_or_default();
    assert!(error.contains("invalid_grant") && error.contains("authorize the connector again"), "{error}");
    assert!(!error.contains("sim-refresh") && !error.contains("sim-client-secret"), "no secret in: {error}");
    let kept = support::snapshot(store.as_ref()).await?.items.len();
    assert!(kept >= 7, "the pages read before the renewal stay committed ({kept})");
    let again = support::incremental(&engine, connector.as_ref()).await?;
    assert_eq!(again.outcome.status, RunStatus::Failed, "the chain stays broken until re-authorized");
    assert_eq!(support::snapshot(store.as_ref()).await?.items.len(), kept, "a failed run loses nothing");
    Ok(())
}

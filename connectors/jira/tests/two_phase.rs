//! The Jira connector against `chorus_sim::jira` over real HTTP, under faults.
//!
//! Phase one is a full sync; then the simulator edits, deletes and adds issues
//! exactly at the cursor's minute (and moves one to another organization); phase two
//! is an incremental sync. The store must equal the simulator's truth: nothing lost,
//! duplicated, stale, or left behind after deletion. The request log must show no
//! call to the retired search endpoint, no request inside a `Retry-After` window, and
//! the token authority no reuse of a rotated refresh token.
//!
//! Pages are committed by a small driver that does what the engine does (claim,
//! `commit_page` with the cursor, finish), on an in-memory SQLite store.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chorus_core::{Item, Secret};
use chorus_sim::jira::{JiraSim, SimZone, ORGANIZATIONS_FIELD};
use chorus_sim::{
    AuthorityConfig, CutBody, CutForm, ErrorBurst, FaultProfile, Latency, RateLimitFault, SimServer, TokenAuthority,
    TokenExpiry, Trigger,
};
use chorus_store::{IdPage, ItemFilter, RunOutcome, RunStatus, Store};
use chorus_sync::engine::Quiet;
use chorus_sync::{BasicAuth, ConnectorContext, DynConnector, SyncMode};
use chrono::{DateTime, Duration as TimeDelta, DurationRound, Utc};
use serde_json::{json, Value};

const ID: &str = "jira-test";

fn context(store: &Arc<dyn Store>) -> ConnectorContext {
    support::context(ID, store, support::backoff_policy())
}

fn build(settings: &Value, store: &Arc<dyn Store>) -> Box<dyn DynConnector> {
    support::build(settings, context(store))
}

/// Runs the connector once through the real sync engine.
async fn sync(connector: &dyn DynConnector, store: &Arc<dyn Store>, mode: SyncMode) -> RunOutcome {
    support::engine(store).run(connector, mode, &Quiet).await.expect("run starts").outcome
}

async fn all_items(store: &Arc<dyn Store>) -> Vec<Item> {
    let filter = ItemFilter { include_deleted: true, ..ItemFilter::default() };
    let mut items = Vec::new();
    let mut after_id = 0;
    loop {
        let page = store.items(&filter, IdPage { after_id, limit: 1000 }).await.expect("items");
        let Some(last) = page.last() else { break };
        after_id = last.id;
        items.extend(page);
    }
    items
}

async fn cursor_updated(store: &Arc<dyn Store>) -> DateTime<Utc> {
    let cursor = store.cursor(ID).await.expect("cursor").value.expect("a committed cursor");
    let at = cursor["position"]["updated"].as_str().expect("cursor has `updated`");
    DateTime::parse_from_rfc3339(at).expect("rfc3339").to_utc()
}

/// The store equals the simulator: same live ids, fresh content, no duplicates,
/// every other item a tombstone.
fn assert_matches(sim: &JiraSim, items: &[Item]) {
    let ids: HashSet<&str> = items.iter().map(|i| i.external_id.as_str()).collect();
    assert_eq!(ids.len(), items.len(), "an issue is stored twice");
    let truth: BTreeMap<String, _> = sim.truth().into_iter().map(|i| (i.id.to_string(), i)).collect();
    let live: BTreeMap<&str, &Item> =
        items.iter().filter(|i| i.deleted_at.is_none()).map(|i| (i.external_id.as_str(), i)).collect();
    let missing: Vec<_> = truth.keys().filter(|id| !live.contains_key(id.as_str())).collect();
    let extra: Vec<_> = live.keys().filter(|id| !truth.contains_key(**id)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, left behind {extra:?}");
    for (id, issue) in &truth {
        let item = live[id.as_str()];
        assert_eq!(item.key.as_deref(), Some(issue.key().as_str()), "{id}");
        assert_eq!(
            (&item.title, &item.status, item.updated_at),
            (&issue.summary, &issue.status, issue.updated),
            "stale {id}"
        );
        assert_eq!(item.comments.len(), issue.comments.len(), "comments of {id}");
        let org = item.raw["fields"][ORGANIZATIONS_FIELD][0]["name"].as_str();
        assert_eq!(org, issue.organizations.first().map(|o| o.name.as_str()), "organization of {id}");
    }
}

fn heavy_faults() -> FaultProfile {
    FaultProfile {
        seed: 11,
        scope: Some("/ex/jira".into()),
        rate_limit: Some(RateLimitFault::new(Trigger::EveryNth(9), Duration::from_secs(1))),
        error_burst: Some(ErrorBurst { after_n: 4, len: 2, status: 503 }),
        latency: Some(Latency { min: Duration::from_millis(1), max: Duration::from_millis(5), when: Trigger::Always }),
        token_expiry: Some(TokenExpiry { when: Trigger::EveryNth(13) }),
        ..FaultProfile::none()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phase_sync_over_oauth_under_faults() {
    let start = Utc::now().duration_trunc(TimeDelta::seconds(1)).expect("truncate");
    let clock = chorus_sim::SimClock::fixed(start);
    let sim = JiraSim::seeded_with_clock(21, 180, clock.clone());
    sim.set_embedded_comments(3);
    let authority = TokenAuthority::new(AuthorityConfig { max_uses: Some(25), seed: 3, ..AuthorityConfig::default() });
    let sim = sim.with_oauth(authority.clone(), "c0ffee00-1d");
    let server = SimServer::start(sim.router(), heavy_faults()).await.expect("simulator");
    let url = server.url();
    sim.set_site(&url);
    let store = support::memory_store().await;
    let settings = json!({
        "base_url": url,
        "auth": {
            "type": "oauth_refresh", "client_id": "sim-client", "client_secret": "sim-client-secret",
            "refresh_token": "sim-refresh-0", "token_url": format!("{url}/oauth/token")
        },
        "api_base": url,
        "jql": "project in (PROD, SUP, IDEA)",
        "page_size": 20,
        "reconcile": {"every_runs": 1},
        "mapping": {"account_field": ORGANIZATIONS_FIELD}
    });
    let connector = build(&settings, &store);
    let who = connector.check().await.expect("check");
    assert!(who.contains("Priya Nair") && who.contains("America/Los_Angeles"), "{who}");

    // Phase one: everything.
    let first = sync(connector.as_ref(), &store, SyncMode::Full).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    assert_matches(&sim, &all_items(&store).await);
    let cursor = cursor_updated(&store).await;
    assert_eq!(Some(cursor), sim.truth().iter().map(|i| i.updated).max(), "cursor is the greatest `updated`");

    // Changes at the cursor's minute: the clock stands on the cursor's second, so an
    // edit can land before the cursor instant (its milliseconds) yet inside its minute.
    clock.set(cursor);
    let mut keys: Vec<String> = sim.truth().iter().map(|i| i.key()).collect();
    keys.sort();
    for key in &keys[0..8] {
        sim.edit(key, |i| i.summary = format!("{} (edited at the boundary)", i.summary));
    }
    for key in &keys[8..13] {
        assert!(sim.delete(key));
    }
    let added: Vec<String> =
        (0..30).map(|n| sim.add(["PROD", "SUP"][n % 2], |i| i.summary = format!("added {n}")).id.to_string()).collect();
    sim.edit(&keys[20], |i| i.organizations = vec![chorus_sim::jira::SimOrg { id: 5, name: "Hooli".into() }]);
    sim.add_comment(&keys[21], sim.truth()[0].reporter.clone(), "one more thing", true);
    clock.advance(Duration::from_secs(1));
    sim.edit(&keys[22], |i| i.status = "Done".into());
    // Jira cannot read one live issue this time: it must not be taken for deleted.
    let unreadable = sim.issue(&keys[30]).expect("live issue");
    sim.set_bulkfetch_errors(&[unreadable.id]);

    // Phase two: incremental, ~45 changes in one minute across pages of 20; the second
    // search page arrives cut in half and the third empty, a comments page as an HTML
    // error page: each is retried inside the run, which completes in ONE run.
    let searches_before = sim.searches().len();
    let search = "/ex/jira/c0ffee00-1d/rest/api/3/search/jql";
    let cut_bodies = vec![
        CutBody::nth(search, 2),
        CutBody { path_prefix: search.into(), when: Trigger::Nth(3), form: CutForm::Empty },
        CutBody {
            path_prefix: "/ex/jira/c0ffee00-1d/rest/api/3/issue/".into(),
            when: Trigger::Nth(1),
            form: CutForm::NotJson,
        },
    ];
    server.set_faults(FaultProfile { cut_bodies, ..heavy_faults() });
    let second = sync(connector.as_ref(), &store, SyncMode::Incremental).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    assert!(server.faults().injected() >= 3, "the cut bodies were served");
    assert_eq!(server.faults().cut_bodies_served(), [1, 1, 1], "each planned cut was served once");
    let items = all_items(&store).await;
    assert_matches(&sim, &items);
    assert_eq!(items.iter().filter(|i| i.deleted_at.is_some()).count(), 5, "five tombstones");
    assert!(added.iter().all(|id| items.iter().any(|i| &i.external_id == id)), "added issues synced");

    // The incremental window: cursor − 1 minute, in the user's zone, floored.
    let searches = sim.searches();
    let window = searches[searches_before..].iter().find(|q| q.contains("updated >=")).expect("an incremental search");
    let expected_local =
        SimZone::LosAngeles.to_local(cursor - TimeDelta::minutes(1)).format("%Y-%m-%d %H:%M").to_string();
    assert!(window.contains(&format!("updated >= \"{expected_local}\"")), "{window} (expected {expected_local})");
    // Deletions are found by bulk fetch (a JQL naming a deleted id answers 400); the
    // scope query only names issues that still exist.
    let bulk_fetches = server.requests().iter().filter(|r| r.path.ends_with("/rest/api/3/issue/bulkfetch")).count();
    assert!(bulk_fetches >= 2, "deletions reconciled by bulk fetch ({bulk_fetches} calls)");
    let deleted_ids: Vec<String> =
        items.iter().filter(|i| i.deleted_at.is_some()).map(|i| i.external_id.clone()).collect();
    for scope in searches[searches_before..].iter().filter(|q| q.contains("id in (")) {
        assert!(!deleted_ids.iter().any(|id| scope.contains(id.as_str())), "scope query names a deleted id: {scope}");
    }
    let unreadable_id = unreadable.id.to_string();
    let kept = items.iter().any(|i| i.external_id == unreadable_id && i.deleted_at.is_none());
    assert!(kept, "an issue bulk fetch listed in issueErrors was tombstoned");

    // The request log.
    let requests = server.requests();
    assert!(requests.iter().all(|r| !r.path.ends_with("/rest/api/3/search")), "the retired search endpoint was called");
    assert_eq!(sim.retired_search_calls(), 0);
    assert_eq!(server.retry_after_violations(), 0, "a request arrived inside a Retry-After window");
    assert!(requests.iter().any(|r| r.status == Some(429)), "the rate-limit fault fired");
    assert_eq!(authority.violations(), 0, "a rotated refresh token was reused");
    assert!(authority.refreshes() >= 2, "tokens were refreshed ({} refreshes)", authority.refreshes());
    let credentials = chorus_sync::Credentials::new(ID, Arc::clone(&store));
    let stored = chorus_sync::auth::stored_refresh_token(&credentials).await.expect("credential");
    assert_eq!(stored.map(|t| vec![t]), Some(authority.live_refresh_tokens()), "the newest refresh token is persisted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_sync_maps_accounts_and_survives_a_quiet_rerun() {
    let sim = support::basic_sim(4, 60);
    sim.set_zone(SimZone::Sydney);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await.expect("simulator");
    let store = support::memory_store().await;
    let settings = json!({
        "base_url": server.url(),
        "auth": support::basic_auth(),
        "jql": "project = SUP",
        "page_size": 7,
        "mapping": {"account_field": ORGANIZATIONS_FIELD}
    });
    let connector = build(&settings, &store);
    assert!(connector.check().await.expect("check").contains("Australia/Sydney"));
    let first = sync(connector.as_ref(), &store, SyncMode::Incremental).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    let items = all_items(&store).await;
    let sup: Vec<_> = sim.truth().into_iter().filter(|i| i.project == "SUP").collect();
    assert_eq!(items.len(), sup.len());
    let with_org = sup.iter().filter(|i| !i.organizations.is_empty()).count();
    assert_eq!(
        items.iter().filter(|i| i.account_id.is_some() || i.raw["fields"][ORGANIZATIONS_FIELD][0].is_object()).count(),
        with_org
    );

    // Nothing changed: the rerun re-reads only the overlap window and changes nothing.
    let rerun = sync(connector.as_ref(), &store, SyncMode::Incremental).await;
    assert_eq!(rerun.status, RunStatus::Succeeded, "{:?}", rerun.error);
    assert_eq!(rerun.upserted, 0, "a quiet rerun rewrote items");
    assert_eq!(all_items(&store).await.len(), sup.len());
    assert!(server.requests().iter().all(|r| r.auth == chorus_sim::AuthSeen::Basic));
    assert!(!sim.searches().iter().any(|q| q.contains("id in (")), "reconciliation is not due on the rerun");

    // A full sync reconciles: an issue deleted on the site becomes a tombstone.
    let gone = sup[0].key();
    assert!(sim.delete(&gone));
    let full = sync(connector.as_ref(), &store, SyncMode::Full).await;
    assert_eq!(full.status, RunStatus::Succeeded, "{:?}", full.error);
    assert_eq!(full.deleted, 1);
    let items = all_items(&store).await;
    let tombstones: Vec<_> = items.iter().filter(|i| i.deleted_at.is_some()).filter_map(|i| i.key.clone()).collect();
    assert_eq!(tombstones, [gone]);

    // The retired search endpoint answers 410, and the simulator counts the call, so the
    // zero asserted in the two-phase test means something.
    let http =
        context(&store).http.with_auth(Arc::new(BasicAuth::new(support::EMAIL, Secret::new(support::API_TOKEN))));
    let retired = url::Url::parse(&format!("{}/rest/api/3/search?jql=project%3DSUP", server.url())).expect("url");
    let err = http.send(http.get(retired)).await.expect_err("410 Gone");
    assert!(matches!(err, chorus_sync::ConnectorError::Permanent { .. }), "{err}");
    assert_eq!(sim.retired_search_calls(), 1);

    // Wrong credentials fail as an auth error, not a hang.
    let wrong = json!({
        "base_url": server.url(),
        "auth": {"type": "basic", "email": support::EMAIL, "api_token": "nope"},
        "jql": "project = SUP"
    });
    let err = build(&wrong, &store).check().await.expect_err("refused").to_string();
    assert!(err.contains("authentication"), "{err}");
}

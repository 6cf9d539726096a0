//! End-to-end: the real `chorus` binary syncing a feed simulator over real HTTP.
//!
//! The invariants of the sync engine, proven from the outside: `kill -9` at random
//! points loses and duplicates nothing and never leaves the cursor ahead of the
//! committed records; records repeated across page boundaries are absorbed; a 429
//! storm is waited out without one request inside a `Retry-After` window; a token
//! expiring mid-sync is refreshed once and the sync completes; a malformed page fails
//! the run with the cursor at the last good page.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use chorus_core::Item;
use chorus_sim::{
    AuthorityConfig, CutBody, CutForm, FaultProfile, FeedRecord, FeedSim, Latency, RateLimitFault, SimServer,
    TokenAuthority, Trigger, WrongShape,
};
use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use support::{all_items, describe, feed_connector, runtime, Install};

/// The live records of the simulator by id, and of the store by external id.
fn live_truth(sim: &FeedSim) -> BTreeMap<String, FeedRecord> {
    sim.truth().into_iter().filter(|r| !r.deleted).map(|r| (r.id.clone(), r)).collect()
}

fn live_items(items: &[Item]) -> BTreeMap<String, &Item> {
    items.iter().filter(|i| i.deleted_at.is_none()).map(|i| (i.external_id.clone(), i)).collect()
}

/// The store equals the source: same live ids, same content, no duplicates, and every
/// record the source deleted is a tombstone.
fn assert_store_matches(sim: &FeedSim, items: &[Item]) {
    let ids: HashSet<_> = items.iter().map(|i| (&i.connector, &i.external_id)).collect();
    assert_eq!(ids.len(), items.len(), "an external id is stored twice");
    let truth = live_truth(sim);
    let live = live_items(items);
    let missing: Vec<_> = truth.keys().filter(|id| !live.contains_key(*id)).take(5).collect();
    let extra: Vec<_> = live.keys().filter(|id| !truth.contains_key(*id)).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, left behind {extra:?}");
    for (id, record) in &truth {
        let item = live[id];
        assert_eq!(
            (&item.title, &item.status, item.updated_at),
            (&record.title, &record.status, record.updated_at),
            "stale item {id}"
        );
    }
    for record in sim.truth().iter().filter(|r| r.deleted) {
        if let Some(item) = items.iter().find(|i| i.external_id == record.id) {
            assert!(item.deleted_at.is_some(), "deleted record {} is still live", record.id);
        }
    }
}

/// The committed cursor's position (`None` before the first page).
fn cursor_position(install: &Install, rt: &tokio::runtime::Runtime) -> Option<DateTime<Utc>> {
    let cursor = rt.block_on(async { install.store().await.cursor("feed").await.expect("cursor") });
    let value = cursor.value?;
    let at = value["position"]["updated_at"].as_str().expect("feed cursor has updated_at");
    Some(DateTime::parse_from_rfc3339(at).expect("rfc3339").to_utc())
}

#[test]
fn kill_nine_at_random_points_loses_and_duplicates_nothing() {
    let sim = FeedSim::seeded(42, 6000);
    sim.set_duplicates_across_pages(true);
    let latency = Latency { min: Duration::from_millis(2), max: Duration::from_millis(8), when: Trigger::Always };
    let server =
        SimServer::start_in_thread(sim.router(), FaultProfile { latency: Some(latency), ..FaultProfile::none() })
            .expect("start simulator");
    let install = Install::new(&feed_connector("feed", &server.handle().url(), "page_size = 40\noverlap_secs = 0"));
    let rt = runtime();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let truth = live_truth(&sim);

    let mut kills = 0;
    let mut iterations = 0;
    while kills < 24 {
        iterations += 1;
        assert!(iterations < 120, "could not kill a running sync 24 times ({kills} so far)");
        let full = iterations % 4 == 0;
        let args: &[&str] = if full { &["sync", "--full"] } else { &["sync"] };
        let mut child = install
            .command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(rng.gen_range(60..900)));
        let still_running = child.try_wait().expect("poll child").is_none();
        child.kill().ok(); // SIGKILL: no destructor, no rollback handler, no goodbye
        child.wait().expect("reap child");
        if still_running {
            kills += 1;
        }

        // After every kill: nothing duplicated, nothing invented, cursor not ahead.
        let items = rt.block_on(async { all_items(install.store().await.as_ref()).await });
        let ids: HashSet<_> = items.iter().map(|i| &i.external_id).collect();
        assert_eq!(ids.len(), items.len(), "duplicate after kill {kills}");
        assert!(items.iter().all(|i| truth.contains_key(&i.external_id)), "an item the source never had");
        if let Some(position) = cursor_position(&install, &rt) {
            let behind: Vec<_> = truth
                .values()
                .filter(|r| r.updated_at < position && !ids.contains(&r.id))
                .map(|r| r.id.clone())
                .take(5)
                .collect();
            assert!(behind.is_empty(), "cursor at {position} is ahead of committed records {behind:?} (kill {kills})");
        }
    }

    let output = install.run(&["sync"]);
    assert!(output.status.success(), "final sync: {}", describe(&output));
    let items = rt.block_on(async { all_items(install.store().await.as_ref()).await });
    assert_store_matches(&sim, &items);
    eprintln!("survived {kills} kills of a running `chorus sync` in {iterations} runs; {} items intact", items.len());

    // Abandoned runs are visible in the history.
    let runs = install.run(&["runs", "--limit", "200", "--format", "json"]);
    assert!(runs.status.success(), "{}", describe(&runs));
    let abandoned = String::from_utf8_lossy(&runs.stdout).matches("\"abandoned\"").count();
    assert!(abandoned > 0, "killed runs are marked abandoned");
}

#[test]
fn second_phase_edits_deletes_and_adds_at_the_cursor_boundary() {
    let clock = chorus_sim::SimClock::fixed(Utc::now());
    let sim = FeedSim::seeded_with_clock(9, 800, clock.clone());
    sim.set_duplicates_across_pages(true);
    let server = SimServer::start_in_thread(sim.router(), FaultProfile::none()).expect("start simulator");
    let install = Install::new(&feed_connector("feed", &server.handle().url(), "page_size = 25\noverlap_secs = 0"));
    let rt = runtime();

    let first = install.run(&["sync"]);
    assert!(first.status.success(), "{}", describe(&first));
    let position = cursor_position(&install, &rt).expect("cursor after a full sync");

    // Changes stamped exactly at the cursor's second, plus later ones.
    clock.set(position);
    let ids: Vec<String> = live_truth(&sim).keys().take(30).cloned().collect();
    for id in &ids[0..10] {
        sim.edit(id, |r| r.title = format!("{} (edited at the boundary)", r.title));
    }
    for id in &ids[10..15] {
        sim.delete(id);
    }
    for _ in 0..5 {
        sim.add(|r| r.title = "added at the boundary".into());
    }
    clock.advance(Duration::from_secs(1));
    sim.edit(&ids[20], |r| r.status = "closed".into());

    let second = install.run(&["sync"]);
    assert!(second.status.success(), "{}", describe(&second));
    let items = rt.block_on(async { all_items(install.store().await.as_ref()).await });
    assert_store_matches(&sim, &items);
    assert_eq!(items.iter().filter(|i| i.deleted_at.is_some()).count(), 5, "five tombstones");

    // Export leaves tombstones out unless asked.
    let export = install.run(&["export", "items"]);
    assert!(export.status.success(), "{}", describe(&export));
    let exported = String::from_utf8_lossy(&export.stdout).lines().count();
    assert_eq!(exported, live_truth(&sim).len());
    let with_deleted = install.run(&["export", "items", "--include-deleted"]);
    assert_eq!(String::from_utf8_lossy(&with_deleted.stdout).lines().count(), exported + 5);
}

#[test]
fn rate_limit_storm_is_waited_out_without_early_requests() {
    let sim = FeedSim::seeded(3, 300);
    let storm = RateLimitFault::new(Trigger::EveryNth(3), Duration::from_secs(1));
    let server =
        SimServer::start_in_thread(sim.router(), FaultProfile { rate_limit: Some(storm), ..FaultProfile::none() })
            .expect("start simulator");
    let install = Install::new(&feed_connector("feed", &server.handle().url(), "page_size = 50"));

    let started = Instant::now();
    let output = install.run(&["sync"]);
    assert!(output.status.success(), "{}", describe(&output));
    let requests = server.handle().requests();
    let limited = requests.iter().filter(|r| r.status == Some(429)).count();
    assert!(limited >= 2, "the storm happened ({limited} answers were 429)");
    assert_eq!(server.handle().retry_after_violations(), 0, "a request was sent inside a Retry-After window");
    assert!(started.elapsed() >= Duration::from_secs(limited as u64 - 1), "Retry-After was waited out");
    let items = runtime().block_on(async { all_items(install.store().await.as_ref()).await });
    assert_store_matches(&sim, &items);
}

#[test]
fn token_expiring_mid_sync_is_refreshed_once() {
    let config = AuthorityConfig {
        max_uses: Some(4),
        initial_refresh_token: "feed-refresh-0-secret".into(),
        ..AuthorityConfig::default()
    };
    let (client_id, client_secret, refresh_token) =
        (config.client_id.clone(), config.client_secret.clone(), config.initial_refresh_token.clone());
    let authority = TokenAuthority::new(config);
    let sim = FeedSim::seeded(5, 200).with_auth(authority.clone());
    let server = SimServer::start_in_thread(sim.router(), FaultProfile::none()).expect("start simulator");
    let url = server.handle().url();
    let auth = format!(
        "[connectors.settings.auth]\ntype = \"oauth_refresh\"\ntoken_url = \"{url}/oauth/token\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\nrefresh_token = \"{refresh_token}\"",
        client_id, client_secret
    );
    let install = Install::new(&feed_connector("feed", &url, &format!("page_size = 20\n{auth}")));

    let output = install.run(&["sync"]);
    assert!(output.status.success(), "{}", describe(&output));
    // 200 records / 20 per page = 10 pages at 4 uses per token: the first token plus
    // one refresh per expiry, never two for the same expiry, never a reused token.
    let pages =
        server.handle().requests().iter().filter(|r| r.path == "/api/items" && r.status == Some(200)).count() as u64;
    assert_eq!(authority.violations(), 0, "a rotated refresh token was reused");
    assert!(authority.refreshes() >= 2, "tokens expired mid-sync and were refreshed");
    assert!(authority.refreshes() <= pages.div_ceil(4) + 1, "more refreshes than expiries: {}", authority.refreshes());
    let leaked = String::from_utf8_lossy(&output.stderr).contains(&refresh_token)
        || String::from_utf8_lossy(&output.stdout).contains(&refresh_token);
    assert!(!leaked, "a secret reached the output");
    let items = runtime().block_on(async { all_items(install.store().await.as_ref()).await });
    assert_store_matches(&sim, &items);
}

#[test]
fn a_page_of_the_wrong_shape_fails_the_run_at_the_last_good_page() {
    let sim = FeedSim::seeded(11, 500);
    let wrong = WrongShape { path_prefix: "/api/items".into(), nth: 4 };
    let server =
        SimServer::start_in_thread(sim.router(), FaultProfile { wrong_shape: Some(wrong), ..FaultProfile::none() })
            .expect("start simulator");
    let install = Install::new(&feed_connector("feed", &server.handle().url(), "page_size = 50\noverlap_secs = 0"));
    let rt = runtime();

    let output = install.run(&["sync"]);
    assert!(!output.status.success(), "a page of the wrong shape must fail the sync");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("feed") && stderr.contains("malformed"),
        "the failure names the connector and the cause: {stderr}"
    );
    let cursor = rt.block_on(async { install.store().await.cursor("feed").await.expect("cursor") });
    assert_eq!(cursor.version, 3, "three good pages committed, the fourth refused");
    let items = rt.block_on(async { all_items(install.store().await.as_ref()).await });
    assert_eq!(items.len(), 150, "exactly the three good pages' records");

    server.handle().set_faults(FaultProfile::none());
    let retry = install.run(&["sync"]);
    assert!(retry.status.success(), "{}", describe(&retry));
    let items = rt.block_on(async { all_items(install.store().await.as_ref()).await });
    assert_store_matches(&sim, &items);
}

#[test]
fn cut_bodies_are_retried_and_the_sync_completes_in_one_run() {
    let sim = FeedSim::seeded(12, 500);
    let cut_bodies = vec![
        CutBody::nth("/api/items", 1),
        CutBody { path_prefix: "/api/items".into(), when: Trigger::AnyOf(vec![4, 7]), form: CutForm::Half },
        CutBody { path_prefix: "/api/items".into(), when: Trigger::Nth(9), form: CutForm::Empty },
        CutBody { path_prefix: "/api/items".into(), when: Trigger::Nth(10), form: CutForm::NotJson },
    ];
    let server = SimServer::start_in_thread(sim.router(), FaultProfile { cut_bodies, ..FaultProfile::none() })
        .expect("start simulator");
    let install = Install::new(&feed_connector("feed", &server.handle().url(), "page_size = 50\noverlap_secs = 0"));
    let rt = runtime();

    let output = install.run(&["sync"]);
    assert!(output.status.success(), "cut bodies must not cost the run: {}", describe(&output));
    assert_eq!(server.handle().faults().injected(), 5, "every cut was served");
    assert_eq!(server.handle().faults().cut_bodies_served(), [1, 2, 1, 1], "by each rule");
    let items = rt.block_on(async { all_items(install.store().await.as_ref()).await });
    assert_store_matches(&sim, &items);
}

/// Two `chorus sync` processes on one store: the second is refused while the first
/// runs, on SQLite and (when `CHORUS_TEST_PG_URL` is set) on PostgreSQL — the claim
/// lives in the database, so it holds across processes and nodes.
#[test]
fn two_processes_never_sync_one_connector_at_once() {
    let sim = FeedSim::seeded(13, 1200);
    let latency = Latency { min: Duration::from_millis(15), max: Duration::from_millis(25), when: Trigger::Always };
    let server =
        SimServer::start_in_thread(sim.router(), FaultProfile { latency: Some(latency), ..FaultProfile::none() })
            .expect("start simulator");
    let connector = feed_connector("feed", &server.handle().url(), "page_size = 20");

    let sqlite = Install::new(&connector);
    assert_second_is_refused(&sqlite, &sim);

    let Ok(pg_url) = std::env::var("CHORUS_TEST_PG_URL") else {
        eprintln!("skipped: CHORUS_TEST_PG_URL not set, the PostgreSQL half of this test did not run");
        return;
    };
    let schema = format!("chorus_e2e_{}", std::process::id());
    let rt = runtime();
    rt.block_on(chorus_store::postgres::open_isolated(&pg_url, &schema)).expect("create schema");
    let separator = if pg_url.contains('?') { '&' } else { '?' };
    let url = format!("{pg_url}{separator}options=-c%20search_path%3D{schema}");
    let postgres = Install::with_store_url(&url, &connector);
    assert_second_is_refused(&postgres, &sim);
    rt.block_on(chorus_store::postgres::drop_isolated(&pg_url, &schema)).expect("drop schema");
}

fn assert_second_is_refused(install: &Install, sim: &FeedSim) {
    let first = install
        .command(&["sync"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(700));
    let second = install.run(&["sync"]);
    let first = first.wait_with_output().expect("first sync");
    assert!(first.status.success(), "the first run completes: {}", describe(&first));
    assert!(!second.status.success(), "the second run must be refused: {}", describe(&second));
    let said = format!("{}{}", String::from_utf8_lossy(&second.stdout), String::from_utf8_lossy(&second.stderr));
    assert!(said.contains("already running"), "{said}");
    let items = runtime().block_on(async { all_items(install.store().await.as_ref()).await });
    assert_store_matches(sim, &items);
}

/// A source that hands back the page token it was given would be read forever: the
/// run fails with a clear reason instead of looping, and keeps the pages it had.
#[test]
fn a_feed_repeating_its_page_token_fails_instead_of_looping() {
    use axum::routing::get;
    let page = serde_json::json!({
        "items": [{"id": "FB-1", "type": "bug", "title": "loop", "updated_at": "2026-01-01T00:00:00Z"}],
        "next_page_token": "same-token"
    });
    let router = axum::Router::new().route("/api/items", get(move || std::future::ready(axum::Json(page.clone()))));
    let server = SimServer::start_in_thread(router, FaultProfile::none()).expect("start stub");
    let install = Install::new(&feed_connector("feed", &server.handle().url(), ""));

    let started = Instant::now();
    let output = install.run(&["sync"]);
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("repeated a next_page_token"), "{}", describe(&output));
    assert!(started.elapsed() < Duration::from_secs(20), "no endless loop");
    assert!(server.handle().requests().len() <= 3, "stopped at the first repeat");
}

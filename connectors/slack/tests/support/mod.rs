//! Setup shared by the Slack connector's integration tests: a simulator on a fixed
//! clock, a SQLite store, the connector over real HTTP, the engine, and the store's
//! view of the synced threads compared with the simulator's truth.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chorus_connector_slack::SlackConnector;
use chorus_core::Item;
use chorus_sim::slack::{channels, SimMessage, SlackSim, SlackSimConfig, SlackTruth, Ts};
use chorus_sim::SimClock;
use chorus_store::{IdPage, ItemFilter, Store};
use chorus_sync::connector::{ConnectorContext, Credentials, DynConnector, Factory};
use chorus_sync::engine::{this_process, Engine, Quiet, RunReport};
use chorus_sync::http::{HttpPolicy, HttpStack};
use chorus_sync::SyncMode;
use chrono::DateTime;
use serde_json::{json, Value};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;
pub type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

pub const ID: &str = "slack";

/// The channels the tests configure (the bot is in all of them).
pub const READ: &[&str] = &[channels::FEATURE_REQUESTS, channels::BUGS, channels::GLOBEX_SHARED, channels::ARCHIVED];

pub fn clock() -> BoxResult<SimClock> {
    Ok(SimClock::fixed(DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")?.to_utc()))
}

/// A simulator whose windows last a second (budgets per second instead of per minute).
pub fn sim(clock: &SimClock, config: SlackSimConfig) -> SlackSim {
    SlackSim::new(SlackSimConfig { window: Duration::from_secs(1), ..config }, clock.clone())
}

pub async fn file_store(dir: &tempfile::TempDir) -> BoxResult<Arc<dyn Store>> {
    Ok(chorus_store::open(&format!("sqlite://{}", dir.path().join("chorus.db").display())).await?)
}

/// Settings for the four readable channels, the connector paced at the sim's per-second
/// budgets (Slack's per-minute tiers, sixty times faster).
pub fn settings(url: &str, token: &str) -> Value {
    json!({
        "base_url": format!("{url}/api"),
        "auth": {"type": "bearer", "token": token},
        "channels": [
            {"channel": "#feature-requests"},
            {"channel": "bugs", "kind": "bug"},
            {"channel": channels::GLOBEX_SHARED, "account": "Globex"},
            {"channel": "#old-roadmap"},
        ],
        "rate_limit": {"tier1_per_minute": 60, "tier2_per_minute": 1200, "tier3_per_minute": 3000, "tier4_per_minute": 6000},
    })
}

pub fn policy() -> HttpPolicy {
    HttpPolicy {
        requests_per_minute: 60_000,
        burst: 100,
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        ..HttpPolicy::default()
    }
}

pub fn build(settings: &Value, store: &Arc<dyn Store>) -> BoxResult<Box<dyn DynConnector>> {
    let ctx = ConnectorContext {
        id: ID.into(),
        http: HttpStack::new()?.client(ID, policy()),
        credentials: Credentials::new(ID, Arc::clone(store)),
        allow_insecure_endpoints: true,
    };
    Ok(Factory::<SlackConnector>::boxed().build(settings, ctx)?)
}

pub fn engine(store: &Arc<dyn Store>) -> Engine {
    Engine::new(Arc::clone(store), this_process(Duration::from_secs(30)))
}

pub async fn run(engine: &Engine, connector: &dyn DynConnector) -> BoxResult<RunReport> {
    Ok(engine.run(connector, SyncMode::Incremental, &Quiet).await?)
}

/// Runs one incremental sync, which must succeed.
pub async fn sync(engine: &Engine, connector: &dyn DynConnector) -> TestResult {
    let report = run(engine, connector).await?;
    if !report.succeeded() {
        return Err(format!("the run failed: {:?}", report.outcome.error).into());
    }
    Ok(())
}

/// Every item of the connector, deleted ones included, by external id.
pub async fn items(store: &dyn Store) -> BoxResult<BTreeMap<String, Item>> {
    let filter = ItemFilter { connector: Some(ID.into()), include_deleted: true, ..ItemFilter::default() };
    let mut items = BTreeMap::new();
    let mut page = IdPage::first(500);
    loop {
        let batch = store.items(&filter, page).await?;
        let Some(last) = batch.last().map(|i| i.id) else { break };
        for item in batch {
            let previous = items.insert(item.external_id.clone(), item);
            assert!(previous.is_none(), "one item per external id");
        }
        page = IdPage { after_id: last, limit: 500 };
    }
    Ok(items)
}

fn external_id(channel: &str, ts: Ts) -> String {
    format!("{channel}:{ts}")
}

fn newest_stamp(message: &SimMessage) -> Ts {
    let own = message.edited.as_ref().map_or(message.ts, |(_, at)| (*at).max(message.ts));
    message.replies.values().map(newest_stamp).fold(own, Ts::max)
}

/// The store equals the simulator's truth, thread by thread.
pub fn assert_matches(items: &BTreeMap<String, Item>, truth: &SlackTruth) {
    let live = items.values().filter(|i| i.deleted_at.is_none()).count();
    assert_eq!(live, truth.threads.len(), "live items equal live threads");
    for ((channel, ts), thread) in &truth.threads {
        let id = external_id(channel, *ts);
        let item = items.get(&id).unwrap_or_else(|| panic!("thread {id} is missing"));
        assert!(item.deleted_at.is_none(), "thread {id} is live");
        let replies: Vec<String> = thread.parent.replies.keys().map(Ts::to_string).collect();
        let comments: Vec<&str> = item.comments.iter().map(|c| c.external_id.as_str()).collect();
        assert_eq!(comments, replies, "thread {id} has every reply once, in order");
        let newest = newest_stamp(&thread.parent);
        assert_eq!(item.updated_at.timestamp(), newest.secs, "thread {id} is not stale");
        let words = thread.parent.text.split_whitespace().find(|w| w.chars().all(char::is_alphanumeric));
        if let Some(word) = words {
            assert!(item.body.contains(word), "thread {id} body holds its text: {}", item.body);
        }
        assert!(!item.body.contains("&amp;") && !item.body.contains("<@"), "thread {id} body is text: {}", item.body);
        let email = thread.parent.user.as_ref().and_then(|u| truth.users.get(u)).and_then(|u| u.email.clone());
        assert_eq!(item.author_email, email, "thread {id} author");
    }
    for (channel, ts) in &truth.tombstones {
        let id = external_id(channel, *ts);
        assert!(items.get(&id).is_none_or(|i| i.deleted_at.is_some()), "tombstoned thread {id} is left behind");
    }
}

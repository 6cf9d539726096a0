//! Setup shared by the Slack connector's integration tests, over `chorus_testkit`: a
//! simulator on a fixed clock, the connector over real HTTP with its settings, and the
//! store's view of the synced threads compared with the simulator's truth.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chorus_connector_slack::SlackConnector;
use chorus_core::Item;
use chorus_sim::slack::{channels, SimMessage, SlackSim, SlackSimConfig, SlackTruth, Ts};
use chorus_sim::{FaultProfile, SimClock, SimServer};
use chorus_store::Store;
use chorus_sync::connector::DynConnector;
use chorus_sync::engine::Engine;
use chorus_sync::http::HttpPolicy;
use serde_json::{json, Value};

// Each test binary uses its own part of these.
#[allow(unused_imports)]
pub use chorus_testkit::{clock, engine, incremental as run, sync, BoxResult, TestResult};

pub const ID: &str = "slack";

/// The channels the tests configure (the bot is in all of them).
pub const READ: &[&str] = &[channels::FEATURE_REQUESTS, channels::BUGS, channels::GLOBEX_SHARED, channels::ARCHIVED];

/// A simulator whose windows last a second (budgets per second instead of per minute).
pub fn sim(clock: &SimClock, config: SlackSimConfig) -> SlackSim {
    SlackSim::new(SlackSimConfig { window: Duration::from_secs(1), ..config }, clock.clone())
}

/// A simulator served over real HTTP under `faults`, on a clock of its own, with a
/// fresh file store and the engine over it.
pub struct Setup {
    pub clock: SimClock,
    pub sim: SlackSim,
    pub server: SimServer,
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    _dir: tempfile::TempDir,
}

pub async fn setup(config: SlackSimConfig, faults: FaultProfile) -> BoxResult<Setup> {
    let clock = clock()?;
    let sim = sim(&clock, config);
    let server = SimServer::start(sim.router(), faults).await?;
    let dir = tempfile::tempdir()?;
    let store = chorus_testkit::file_store(dir.path(), "chorus.db").await?;
    let engine = engine(&store);
    Ok(Setup { clock, sim, server, store, engine, _dir: dir })
}

impl Setup {
    /// [`settings`] for this simulator, with the bot's token.
    pub fn settings(&self) -> Value {
        settings(&self.server.url(), &self.sim.config().bot_token)
    }

    /// The connector with `settings`, over this store.
    pub fn connector(&self, settings: &Value) -> BoxResult<Box<dyn DynConnector>> {
        build(settings, &self.store)
    }

    /// Every item of the connector, deleted ones included.
    pub async fn items(&self) -> BoxResult<BTreeMap<String, Item>> {
        items(self.store.as_ref()).await
    }
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
    HttpPolicy { burst: 100, ..chorus_testkit::fast_policy() }
}

pub fn build(settings: &Value, store: &Arc<dyn Store>) -> BoxResult<Box<dyn DynConnector>> {
    chorus_testkit::build::<SlackConnector>(settings, chorus_testkit::context(ID, store, policy())?)
}

/// Every item of the connector, deleted ones included, by external id.
pub async fn items(store: &dyn Store) -> BoxResult<BTreeMap<String, Item>> {
    chorus_testkit::items(store, ID).await
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

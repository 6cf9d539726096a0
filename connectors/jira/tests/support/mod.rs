//! Setup shared by the Jira connector's integration tests, over `chorus_testkit`: an
//! in-memory store, an HTTP policy for a local simulator, the connector's context and
//! the connector built over them, basic-auth settings the simulator accepts, and the
//! engine that drives its runs. These panic on failure, as the tests expect.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chorus_connector_jira::JiraConnector;
use chorus_sim::jira::JiraSim;
use chorus_store::Store;
use chorus_sync::engine::Engine;
use chorus_sync::{ConnectorContext, DynConnector, HttpPolicy};
use serde_json::{json, Value};

/// The basic-auth email the simulator is given by [`basic_sim`].
pub const EMAIL: &str = "bot@acme.example";
/// The API token the simulator is given by [`basic_sim`].
pub const API_TOKEN: &str = "api-token-1";

/// An in-memory SQLite store.
pub async fn memory_store() -> Arc<dyn Store> {
    chorus_testkit::memory_store().await.expect("in-memory store")
}

/// A generous client-side limit with short backoffs, for runs under faults.
pub fn backoff_policy() -> HttpPolicy {
    HttpPolicy {
        max_backoff: Duration::from_secs(3),
        read_timeout: HttpPolicy::default().read_timeout,
        ..chorus_testkit::fast_policy()
    }
}

/// The connector context `id` over `store`, its client under `policy`.
pub fn context(id: &str, store: &Arc<dyn Store>, policy: HttpPolicy) -> ConnectorContext {
    chorus_testkit::context(id, store, policy).expect("http stack")
}

/// The connector built from `settings` in `ctx`.
pub fn build(settings: &Value, ctx: ConnectorContext) -> Box<dyn DynConnector> {
    chorus_testkit::build::<JiraConnector>(settings, ctx).expect("connector builds")
}

/// A seeded simulator that accepts [`EMAIL`] and [`API_TOKEN`].
pub fn basic_sim(seed: u64, issues: u64) -> JiraSim {
    JiraSim::seeded(seed, issues).with_basic(EMAIL, API_TOKEN)
}

/// The `auth` settings for [`basic_sim`].
pub fn basic_auth() -> Value {
    json!({"type": "basic", "email": EMAIL, "api_token": API_TOKEN})
}

/// The sync engine over `store`, as this process.
pub fn engine(store: &Arc<dyn Store>) -> Engine {
    chorus_testkit::engine_with_lease(store, Duration::from_secs(60))
}

//! Setup shared by the Jira connector's integration tests: an in-memory store, an
//! HTTP policy for a local simulator, the connector's context and the connector built
//! over them, basic-auth settings the simulator accepts, and the engine that drives
//! its runs.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chorus_connector_jira::JiraConnector;
use chorus_sim::jira::JiraSim;
use chorus_store::Store;
use chorus_sync::engine::{this_process, Engine};
use chorus_sync::{ConnectorContext, Credentials, DynConnector, Factory, HttpPolicy, HttpStack};
use serde_json::{json, Value};

/// The basic-auth email the simulator is given by [`basic_sim`].
pub const EMAIL: &str = "bot@acme.example";
/// The API token the simulator is given by [`basic_sim`].
pub const API_TOKEN: &str = "api-token-1";

/// An in-memory SQLite store.
pub async fn memory_store() -> Arc<dyn Store> {
    chorus_store::open("sqlite::memory:").await.expect("in-memory store")
}

/// A generous client-side limit with short backoffs, for runs under faults.
pub fn backoff_policy() -> HttpPolicy {
    HttpPolicy {
        requests_per_minute: 60_000,
        burst: 1_000,
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(3),
        ..HttpPolicy::default()
    }
}

/// The connector context `id` over `store`, its client under `policy`.
pub fn context(id: &str, store: &Arc<dyn Store>, policy: HttpPolicy) -> ConnectorContext {
    ConnectorContext {
        id: id.to_owned(),
        http: HttpStack::new().expect("http stack").client(id, policy),
        credentials: Credentials::new(id, Arc::clone(store)),
        allow_insecure_endpoints: true,
    }
}

/// The connector built from `settings` in `ctx`.
pub fn build(settings: &Value, ctx: ConnectorContext) -> Box<dyn DynConnector> {
    Factory::<JiraConnector>::boxed().build(settings, ctx).expect("connector builds")
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
    Engine::new(Arc::clone(store), this_process(Duration::from_secs(60)))
}

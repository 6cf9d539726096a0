//! Setup shared by the Zendesk connector's integration tests: a simulator clock, a
//! SQLite store, an HTTP policy fast enough for a local simulator, the connector built
//! over them, and the engine that drives its runs.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chorus_connector_zendesk::ZendeskConnector;
use chorus_sim::zendesk::ZendeskSimConfig;
use chorus_sim::SimClock;
use chorus_store::Store;
use chorus_sync::connector::{ConnectorContext, Credentials, DynConnector, Factory};
use chorus_sync::engine::{this_process, Engine, Quiet, RunReport};
use chorus_sync::http::{HttpPolicy, HttpStack};
use chorus_sync::SyncMode;
use chrono::DateTime;
use serde_json::Value;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;
pub type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The connector id every test registers.
pub const ID: &str = "zendesk";

/// A clock stopped at 2025-06-01T12:00:00Z, far from this host's.
pub fn clock() -> BoxResult<SimClock> {
    Ok(SimClock::fixed(DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")?.to_utc()))
}

/// An in-memory SQLite store.
pub async fn memory_store() -> BoxResult<Arc<dyn Store>> {
    Ok(chorus_store::open("sqlite::memory:").await?)
}

/// A SQLite store in the file `file` of `dir`.
pub async fn file_store(dir: &tempfile::TempDir, file: &str) -> BoxResult<Arc<dyn Store>> {
    Ok(chorus_store::open(&format!("sqlite://{}", dir.path().join(file).display())).await?)
}

/// An HTTP policy whose client-side limit never holds a test back.
pub fn fast_policy(requests_per_minute: u32, burst: u32) -> HttpPolicy {
    HttpPolicy { requests_per_minute, burst, ..HttpPolicy::default() }
}

/// The `auth` settings that the simulator configured by `config` accepts.
pub fn api_token_auth(config: &ZendeskSimConfig) -> Value {
    serde_json::json!({"type": "basic", "email": config.email, "api_token": config.api_token})
}

/// The connector built from `settings` over `store`, its client under `policy`.
pub fn build(settings: &Value, store: &Arc<dyn Store>, policy: HttpPolicy) -> BoxResult<Box<dyn DynConnector>> {
    let ctx = ConnectorContext {
        id: ID.into(),
        http: HttpStack::new()?.client(ID, policy),
        credentials: Credentials::new(ID, Arc::clone(store)),
        allow_insecure_endpoints: true,
    };
    Ok(Factory::<ZendeskConnector>::boxed().build(settings, ctx)?)
}

/// The sync engine over `store`, as this process.
pub fn engine(store: &Arc<dyn Store>) -> Engine {
    Engine::new(Arc::clone(store), this_process(Duration::from_secs(30)))
}

/// One incremental run.
pub async fn incremental(engine: &Engine, connector: &dyn DynConnector) -> BoxResult<RunReport> {
    Ok(engine.run(connector, SyncMode::Incremental, &Quiet).await?)
}

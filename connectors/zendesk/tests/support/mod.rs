//! Setup shared by the Zendesk connector's integration tests, over `chorus_testkit`:
//! the settings' `auth` the simulator accepts, an HTTP policy whose limit a test sets,
//! and the connector built over a store.

#![allow(dead_code)]

use std::sync::Arc;

use chorus_connector_zendesk::ZendeskConnector;
use chorus_sim::zendesk::ZendeskSimConfig;
use chorus_store::Store;
use chorus_sync::connector::DynConnector;
use chorus_sync::http::HttpPolicy;
use serde_json::Value;

// Each test binary uses its own part of these.
#[allow(unused_imports)]
pub use chorus_testkit::{clock, engine, incremental, memory_store, sync, BoxResult, Snapshot, TestResult};

/// The connector id every test registers.
pub const ID: &str = "zendesk";

/// A SQLite store in the file `file` of `dir`.
pub async fn file_store(dir: &tempfile::TempDir, file: &str) -> BoxResult<Arc<dyn Store>> {
    chorus_testkit::file_store(dir.path(), file).await
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
    chorus_testkit::build::<ZendeskConnector>(settings, chorus_testkit::context(ID, store, policy)?)
}

/// What the store holds of the connector.
pub async fn snapshot(store: &dyn Store) -> BoxResult<Snapshot> {
    chorus_testkit::snapshot(store, ID).await
}

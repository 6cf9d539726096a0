//! Setup shared by the Salesforce connector's integration tests, over `chorus_testkit`:
//! the two simulator hosts, the connector's settings and the connector built from them,
//! and the store's view of what arrived.

#![allow(dead_code)]

use std::sync::Arc;

use chorus_connector_salesforce::SalesforceConnector;
use chorus_sim::salesforce::{SalesforceServers, SalesforceSim, SalesforceSimConfig};
use chorus_sim::{FaultProfile, SimClock};
use chorus_store::Store;
use chorus_sync::connector::DynConnector;
use chorus_sync::http::HttpPolicy;
use serde_json::Value;

// Each test binary uses its own part of these.
#[allow(unused_imports)]
pub use chorus_testkit::{clock, engine, incremental, memory_store, sync, BoxResult, Snapshot, TestResult};

pub const ID: &str = "salesforce";

pub async fn start(
    config: SalesforceSimConfig,
    clock: SimClock,
    login: FaultProfile,
    instance: FaultProfile,
) -> BoxResult<SalesforceServers> {
    Ok(SalesforceSim::new(config, clock).start(login, instance).await?)
}

pub fn policy() -> HttpPolicy {
    chorus_testkit::fast_policy()
}

/// The `auth` table of the refresh-token grant the simulator accepts.
pub fn refresh_auth() -> Value {
    serde_json::json!({"type": "oauth_refresh", "client_id": "sim-client", "client_secret": "sim-client-secret", "refresh_token": "sim-refresh-0"})
}

/// Settings for the org at `login`, with `extra` merged in.
pub fn settings(login: &str, extra: Value) -> Value {
    let mut settings = serde_json::json!({ "login_url": login, "auth": refresh_auth(), "page_size": 200 });
    if let (Value::Object(base), Value::Object(extra)) = (&mut settings, extra) {
        base.extend(extra);
    }
    settings
}

pub fn build(settings: &Value, store: &Arc<dyn Store>, allow_insecure: bool) -> BoxResult<Box<dyn DynConnector>> {
    let mut ctx = chorus_testkit::context(ID, store, policy())?;
    ctx.allow_insecure_endpoints = allow_insecure;
    chorus_testkit::build::<SalesforceConnector>(settings, ctx)
}

/// What the store holds of the connector.
pub async fn snapshot(store: &dyn Store) -> BoxResult<Snapshot> {
    chorus_testkit::snapshot(store, ID).await
}

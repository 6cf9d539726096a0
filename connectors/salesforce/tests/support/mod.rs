//! Setup shared by the Salesforce connector's integration tests: the two simulator
//! hosts, a SQLite store, a fast HTTP policy, the connector built over them, and the
//! store's view of what arrived.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chorus_connector_salesforce::SalesforceConnector;
use chorus_core::{Account, Contact, Item};
use chorus_sim::salesforce::{SalesforceServers, SalesforceSim, SalesforceSimConfig};
use chorus_sim::{FaultProfile, SimClock};
use chorus_store::{IdPage, ItemFilter, Store};
use chorus_sync::connector::{ConnectorContext, Credentials, DynConnector, Factory};
use chorus_sync::engine::{this_process, Engine, Quiet, RunReport};
use chorus_sync::http::{HttpPolicy, HttpStack};
use chorus_sync::SyncMode;
use chrono::DateTime;
use serde_json::Value;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;
pub type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

pub const ID: &str = "salesforce";

/// A clock stopped at 2025-06-01T12:00:00Z.
pub fn clock() -> BoxResult<SimClock> {
    Ok(SimClock::fixed(DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")?.to_utc()))
}

pub async fn start(
    config: SalesforceSimConfig,
    clock: SimClock,
    login: FaultProfile,
    instance: FaultProfile,
) -> BoxResult<SalesforceServers> {
    Ok(SalesforceSim::new(config, clock).start(login, instance).await?)
}

pub async fn memory_store() -> BoxResult<Arc<dyn Store>> {
    Ok(chorus_store::open("sqlite::memory:").await?)
}

pub fn policy() -> HttpPolicy {
    HttpPolicy {
        requests_per_minute: 60_000,
        burst: 1_000,
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        ..HttpPolicy::default()
    }
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
    let ctx = ConnectorContext {
        id: ID.into(),
        http: HttpStack::new()?.client(ID, policy()),
        credentials: Credentials::new(ID, Arc::clone(store)),
        allow_insecure_endpoints: allow_insecure,
    };
    Ok(Factory::<SalesforceConnector>::boxed().build(settings, ctx)?)
}

pub fn engine(store: &Arc<dyn Store>) -> Engine {
    Engine::new(Arc::clone(store), this_process(Duration::from_secs(30)))
}

pub async fn incremental(engine: &Engine, connector: &dyn DynConnector) -> BoxResult<RunReport> {
    Ok(engine.run(connector, SyncMode::Incremental, &Quiet).await?)
}

/// One run that must succeed.
pub async fn sync(engine: &Engine, connector: &dyn DynConnector) -> BoxResult<RunReport> {
    let report = incremental(engine, connector).await?;
    if !report.succeeded() {
        return Err(format!("the run failed: {:?}", report.outcome.error).into());
    }
    Ok(report)
}

/// What the store holds of the connector.
pub struct Snapshot {
    pub items: BTreeMap<String, Item>,
    pub accounts: Vec<Account>,
    pub contacts: Vec<Contact>,
}

pub async fn snapshot(store: &dyn Store) -> BoxResult<Snapshot> {
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
    Ok(Snapshot {
        items,
        accounts: store.accounts(IdPage::first(1000)).await?,
        contacts: store.contacts(IdPage::first(1000)).await?,
    })
}

impl Snapshot {
    pub fn live_items(&self) -> impl Iterator<Item = &Item> {
        self.items.values().filter(|i| i.deleted_at.is_none())
    }

    pub fn account_of(&self, external_id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.external_ids.iter().any(|e| e.connector == ID && e.id == external_id))
    }
}

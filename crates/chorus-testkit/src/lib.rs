//! Support for the connectors' integration tests, one copy for all of them: a clock for
//! the simulators, SQLite stores, an HTTP policy fast enough for a loopback simulator,
//! a connector built over real HTTP, the engine, one run that must succeed, and what
//! the store holds of a connector.
//!
//! Each connector's `tests/support` keeps only its own specifics (simulator wiring,
//! settings, auth) and builds on this. A dev-dependency only: nothing ships with it.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chorus_core::{Account, Contact, Item};
use chorus_sim::SimClock;
#[cfg(test)]
use chorus_store::StoreError;
use chorus_store::{IdPage, ItemFilter, Store};
use chorus_sync::connector::{Connector, ConnectorContext, Credentials, DynConnector, Factory};
use chorus_sync::engine::{this_process, Engine, Quiet, RunReport};
use chorus_sync::http::{HttpPolicy, HttpStack};
use chorus_sync::SyncMode;
use chrono::DateTime;
use serde_json::Value;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;
pub type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Where [`clock`] stands: far from this host's clock, so no test leans on it.
pub const SIM_NOW: &str = "2025-06-01T12:00:00Z";

/// How many rows the store is asked for at once.
const PAGE: u32 = 500;

/// A simulator clock stopped at [`SIM_NOW`].
pub fn clock() -> BoxResult<SimClock> {
    Ok(SimClock::fixed(DateTime::parse_from_rfc3339(SIM_NOW)?.to_utc()))
}

/// An in-memory SQLite store.
pub async fn memory_store() -> BoxResult<Arc<dyn Store>> {
    Ok(chorus_store::open("sqlite::memory:").await?)
}

/// A SQLite store in the file `file` of `dir`.
pub async fn file_store(dir: &Path, file: &str) -> BoxResult<Arc<dyn Store>> {
    Ok(chorus_store::open(&format!("sqlite://{}", dir.join(file).display())).await?)
}

/// A client-side limit that never holds a test back, short backoffs and a read timeout
/// a loopback simulator never reaches unless it means to.
pub fn fast_policy() -> HttpPolicy {
    HttpPolicy {
        requests_per_minute: 60_000,
        burst: 1_000,
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        ..HttpPolicy::default()
    }
}

/// The context of connector `id` over `store`, its client under `policy`, loopback
/// (plain HTTP) endpoints allowed.
pub fn context(id: &str, store: &Arc<dyn Store>, policy: HttpPolicy) -> BoxResult<ConnectorContext> {
    Ok(ConnectorContext {
        id: id.to_owned(),
        http: HttpStack::new()?.client(id, policy),
        credentials: Credentials::new(id, Arc::clone(store)),
        allow_insecure_endpoints: true,
    })
}

/// The connector `C` built from `settings` in `ctx`.
pub fn build<C: Connector>(settings: &Value, ctx: ConnectorContext) -> BoxResult<Box<dyn DynConnector>> {
    Ok(Factory::<C>::boxed().build(settings, ctx)?)
}

/// The sync engine over `store`, as this process, its lease lasting `lease`.
pub fn engine_with_lease(store: &Arc<dyn Store>, lease: Duration) -> Engine {
    Engine::new(Arc::clone(store), this_process(lease))
}

/// The sync engine over `store`, as this process.
pub fn engine(store: &Arc<dyn Store>) -> Engine {
    engine_with_lease(store, Duration::from_secs(30))
}

/// One incremental run, whatever its outcome.
pub async fn incremental(engine: &Engine, connector: &dyn DynConnector) -> BoxResult<RunReport> {
    Ok(engine.run(connector, SyncMode::Incremental, &Quiet).await?)
}

/// One incremental run that must succeed: its failure is the test's error.
pub async fn sync(engine: &Engine, connector: &dyn DynConnector) -> BoxResult<RunReport> {
    let report = incremental(engine, connector).await?;
    if !report.succeeded() {
        return Err(format!("the run failed: {:?}", report.outcome.error).into());
    }
    Ok(report)
}

/// Every row a paged store listing holds, page after page by id.
async fn every<T, F, Fut>(mut page_of: F, id_of: impl Fn(&T) -> i64) -> BoxResult<Vec<T>>
where
    F: FnMut(IdPage) -> Fut,
    Fut: Future<Output = chorus_store::Result<Vec<T>>>,
{
    let mut rows = Vec::new();
    let mut page = IdPage::first(PAGE);
    loop {
        let batch = page_of(page).await?;
        let Some(last) = batch.last().map(&id_of) else { break };
        rows.extend(batch);
        page = IdPage { after_id: last, limit: PAGE };
    }
    Ok(rows)
}

/// Every item of `connector`, deleted ones included, by external id. Two items with
/// one external id are an error: the store would hold a duplicate.
pub async fn items(store: &dyn Store, connector: &str) -> BoxResult<BTreeMap<String, Item>> {
    let filter = ItemFilter { connector: Some(connector.to_owned()), include_deleted: true, ..ItemFilter::default() };
    let mut items = BTreeMap::new();
    for item in every(|page| store.items(&filter, page), |i: &Item| i.id).await? {
        let external_id = item.external_id.clone();
        if items.insert(external_id.clone(), item).is_some() {
            return Err(format!("two items of {connector} have the external id {external_id}").into());
        }
    }
    Ok(items)
}

/// What the store holds of one connector: its items by external id, and every
/// account and contact.
#[derive(Debug)]
pub struct Snapshot {
    pub connector: String,
    pub items: BTreeMap<String, Item>,
    pub accounts: Vec<Account>,
    pub contacts: Vec<Contact>,
}

/// What `store` holds of `connector` now.
pub async fn snapshot(store: &dyn Store, connector: &str) -> BoxResult<Snapshot> {
    Ok(Snapshot {
        connector: connector.to_owned(),
        items: items(store, connector).await?,
        accounts: every(|page| store.accounts(page), |a: &Account| a.id).await?,
        contacts: every(|page| store.contacts(page), |c: &Contact| c.id).await?,
    })
}

impl Snapshot {
    /// The items that are not tombstones.
    pub fn live_items(&self) -> impl Iterator<Item = &Item> {
        self.items.values().filter(|i| i.deleted_at.is_none())
    }

    /// The account with the store id `id` (the accounts are in id order, as paged).
    pub fn account(&self, id: i64) -> Option<&Account> {
        self.accounts.binary_search_by_key(&id, |a| a.id).ok().map(|at| &self.accounts[at])
    }

    /// The account the snapshot's connector knows as `external_id`.
    pub fn account_of(&self, external_id: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.external_ids.iter().any(|e| e.connector == self.connector && e.id == external_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows `1..=n` served as the store serves them: in id order, after `after_id`, at
    /// most `limit`; the pages asked for are recorded.
    fn listing(n: i64) -> (Vec<i64>, std::sync::Mutex<Vec<IdPage>>) {
        ((1..=n).collect(), std::sync::Mutex::new(Vec::new()))
    }

    async fn read_all(rows: &[i64], asked: &std::sync::Mutex<Vec<IdPage>>) -> BoxResult<Vec<i64>> {
        every(
            |page: IdPage| {
                asked.lock().expect("lock").push(page);
                let batch: Vec<i64> =
                    rows.iter().copied().filter(|id| *id > page.after_id).take(page.limit as usize).collect();
                async move { chorus_store::Result::Ok(batch) }
            },
            |id: &i64| *id,
        )
        .await
    }

    #[tokio::test]
    async fn every_row_is_read_once_across_pages() -> TestResult {
        let (rows, asked) = listing(i64::from(PAGE) * 2 + 7);
        assert_eq!(read_all(&rows, &asked).await?, rows);
        let after: Vec<i64> = asked.lock().expect("lock").iter().map(|p| p.after_id).collect();
        let page = i64::from(PAGE);
        assert_eq!(after, [0, page, 2 * page, 2 * page + 7], "each page starts after the last row read");
        Ok(())
    }

    #[tokio::test]
    async fn an_empty_listing_is_one_request() -> TestResult {
        let (rows, asked) = listing(0);
        assert!(read_all(&rows, &asked).await?.is_empty());
        assert_eq!(asked.lock().expect("lock").len(), 1);
        Ok(())
    }

    #[tokio::test]
    async fn a_store_error_is_the_callers_error() {
        let failed = every(
            |_: IdPage| async { chorus_store::Result::<Vec<i64>>::Err(StoreError::Config("gone".into())) },
            |id: &i64| *id,
        )
        .await;
        assert!(failed.is_err_and(|e| e.to_string().contains("gone")));
    }

    #[tokio::test]
    async fn a_fresh_store_holds_nothing_of_a_connector() -> TestResult {
        let store = memory_store().await?;
        let snapshot = snapshot(store.as_ref(), "probe").await?;
        assert!(snapshot.items.is_empty() && snapshot.accounts.is_empty() && snapshot.contacts.is_empty());
        assert!(snapshot.account(1).is_none() && snapshot.account_of("1").is_none());
        Ok(())
    }
}

//! `SalesforceSim`: a Salesforce org's REST API as a connector meets it, traps included.
//!
//! Two servers, as in production: the login host answers the OAuth token endpoint
//! (`POST /services/oauth2/token`, a `TokenAuthority` granting refresh-token,
//! client-credentials and JWT-bearer requests, whose answers name the `instance_url`
//! and carry no `expires_in`; see `login`),
//! and the instance host, on ANOTHER port, answers the data API (see `api`):
//! `GET /services/data/vNN.N/query?q=` and `/queryAll?q=` over the SOQL subset of
//! `soql`, `nextRecordsUrl` locators (`/query/{locator}`), `sobjects/{Object}/describe`
//! and `limits`. Shapes follow `../shared/fixtures/salesforce/`: query pages
//! `{totalSize, done, nextRecordsUrl?, records: [{attributes: {type, url}, ...}]}`, errors
//! `[{message, errorCode, fields?}]`.
//!
//! Traps: `SystemModstamp` is not unique (a bulk update stamps many records with one
//! second); a record in the recycle bin is only in `queryAll`; a long text area cannot
//! be filtered (`INVALID_FIELD`); a datetime in quotes is refused; a custom field can be
//! missing from an org (`remove_field`: `INVALID_FIELD` naming field and object);
//! `CurrencyIsoCode` exists only with multi-currency on; amounts are JSON floats;
//! locators expire after `locator_ttl` and only `max_locators` stay open
//! (`INVALID_QUERY_LOCATOR`); an expired session answers 401 `INVALID_SESSION_ID`; every
//! answer carries `Sforce-Limit-Info: api-usage=N/M`, and past the daily quota every
//! call is refused with 403 `REQUEST_LIMIT_EXCEEDED`; a late commit (`update_stamped`,
//! `create_stamped`) carries a `SystemModstamp` older than records already served, as
//! a long transaction's does; a record purged from the recycle bin (`purge`: emptied
//! after 15 days, hard-deleted, `emptyRecycleBin`) is gone from `queryAll` too, so no
//! query ever reports its deletion. Invariant: every other mutation stamps what it changes
//! with the clock's "now", so the `(SystemModstamp, Id)` order of the query results is
//! the order of changes a client must follow.

mod api;
mod data;
mod login;
pub mod soql;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;

pub use self::data::{customer_account_id, make_id, FieldSpec, SimRecord};
pub use self::login::{salesforce_authority, JWT_AUDIENCE, JWT_USERNAME};
use crate::clock::SimClock;
use crate::token::{AuthorityConfig, TokenAuthority};
use crate::{FaultProfile, SimServer};

/// The path of the OAuth token endpoint on the login host.
pub const TOKEN_PATH: &str = "/services/oauth2/token";

/// How the simulated org is seeded and how strict it is.
#[derive(Debug, Clone)]
pub struct SalesforceSimConfig {
    pub seed: u64,
    /// Cases seeded (accounts, contacts and opportunities are fixed).
    pub cases: usize,
    /// Records per query page when the client asks for no batch size (Salesforce: 2000).
    pub batch_size: usize,
    /// The daily API request limit (`api-usage=N/M`'s M).
    pub daily_quota: u64,
    /// Requests already used today when the simulator starts.
    pub api_used: u64,
    /// A locator unused this long is gone (Salesforce: 15 minutes).
    pub locator_ttl: Duration,
    /// Open locators kept per org; the oldest goes first (Salesforce: 10 per user).
    pub max_locators: usize,
    /// Whether the org has multi-currency on (`CurrencyIsoCode` on every object).
    pub multi_currency: bool,
    /// The OAuth clients, tokens, lifetimes and JWT certificate of the login host
    /// (default `salesforce_authority()`).
    pub authority: AuthorityConfig,
}

impl Default for SalesforceSimConfig {
    fn default() -> Self {
        Self {
            seed: 11,
            cases: 60,
            batch_size: 2000,
            daily_quota: 100_000,
            api_used: 0,
            locator_ttl: Duration::from_secs(15 * 60),
            max_locators: 10,
            multi_currency: true,
            authority: salesforce_authority(),
        }
    }
}

/// The rest of a query's results, served page by page.
#[derive(Debug)]
struct Locator {
    records: VecDeque<Value>,
    total: usize,
    batch: usize,
    last_used: Instant,
}

#[derive(Debug)]
struct State {
    config: SalesforceSimConfig,
    /// Records by object, then id (ids of one object sort by creation).
    records: BTreeMap<&'static str, BTreeMap<String, SimRecord>>,
    /// Custom fields removed from the org (`remove_field`), as `(object, field)`.
    removed: Vec<(String, String)>,
    next_id: u64,
    api_used: u64,
    quota_refusals: u64,
    locators: HashMap<String, Locator>,
    /// Locator ids in creation order (the oldest is evicted first).
    locator_order: VecDeque<String>,
    next_locator: u64,
    /// Every SOQL text received, in order.
    queries: Vec<String>,
    /// Ids of records purged (`purge`), by object.
    purged: BTreeMap<&'static str, Vec<String>>,
}

/// The simulator: data, mutations and the two routers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SalesforceSim {
    inner: Arc<Mutex<State>>,
    clock: SimClock,
    authority: TokenAuthority,
    /// What the login host names as `instance_url` (set when the instance host is up).
    instance_url: Arc<Mutex<String>>,
}

/// A running org: the login host and the instance host, on two ports.
#[derive(Debug)]
pub struct SalesforceServers {
    pub sim: SalesforceSim,
    pub login: SimServer,
    pub instance: SimServer,
}

/// What a synced store must equal: every live record by object, and the ids of
/// records in the recycle bin or purged from it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SalesforceTruth {
    pub live: BTreeMap<&'static str, BTreeMap<String, SimRecord>>,
    pub deleted: BTreeMap<&'static str, Vec<String>>,
}

impl SalesforceSim {
    /// A seeded org on `clock`; everything seeded is at least an hour old.
    pub fn new(config: SalesforceSimConfig, clock: SimClock) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let until = clock.now() - chrono::Duration::hours(1);
        let seeded = data::seed(&mut rng, config.cases, until);
        let mut records: BTreeMap<&'static str, BTreeMap<String, SimRecord>> = BTreeMap::new();
        for record in seeded.records {
            records.entry(record.object).or_default().insert(record.id().to_owned(), record);
        }
        let authority = TokenAuthority::new(config.authority.clone());
        let state = State {
            api_used: config.api_used,
            config,
            records,
            removed: Vec::new(),
            next_id: seeded.next_id,
            quota_refusals: 0,
            locators: HashMap::new(),
            locator_order: VecDeque::new(),
            next_locator: 1,
            queries: Vec::new(),
            purged: BTreeMap::new(),
        };
        Self { inner: Arc::new(Mutex::new(state)), clock, authority, instance_url: Arc::new(Mutex::new(String::new())) }
    }

    /// Serves the instance host, then the login host naming it, each with its faults.
    pub async fn start(self, login: FaultProfile, instance: FaultProfile) -> std::io::Result<SalesforceServers> {
        let instance = SimServer::start(self.instance_router(), instance).await?;
        self.set_instance_url(&instance.url());
        let login = SimServer::start(self.login_router(), login).await?;
        Ok(SalesforceServers { sim: self, login, instance })
    }

    /// The `instance_url` token answers carry.
    pub fn set_instance_url(&self, url: &str) {
        *self.instance_url.lock().unwrap_or_else(PoisonError::into_inner) = url.to_owned();
    }

    /// Successful JWT bearer grants.
    pub fn jwt_grants(&self) -> u64 {
        self.authority.jwt_grants()
    }

    /// The default org on the system clock.
    pub fn seeded(seed: u64) -> Self {
        Self::new(SalesforceSimConfig { seed, ..SalesforceSimConfig::default() }, SimClock::system())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// The login host's token endpoint.
    pub fn authority(&self) -> &TokenAuthority {
        &self.authority
    }

    /// The instance host's routes (the data API).
    pub fn instance_router(&self) -> Router {
        api::router(self.clone())
    }

    /// The login host's routes (`POST /services/oauth2/token`).
    pub fn login_router(&self) -> Router {
        login::router(self.authority.clone(), self.instance_url.clone())
    }

    /// Every live record of `object`, by id.
    pub fn records(&self, object: &str) -> BTreeMap<String, SimRecord> {
        let state = self.lock();
        state
            .records
            .get(object)
            .map(|records| records.iter().filter(|(_, r)| !r.deleted()).map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// What a store synced to the current state must hold.
    pub fn truth(&self) -> SalesforceTruth {
        let state = self.lock();
        let mut truth = SalesforceTruth::default();
        for (object, records) in &state.records {
            for (id, record) in records {
                if record.deleted() {
                    truth.deleted.entry(object).or_default().push(id.clone());
                } else {
                    truth.live.entry(object).or_default().insert(id.clone(), record.clone());
                }
            }
        }
        for (object, ids) in &state.purged {
            truth.deleted.entry(object).or_default().extend(ids.iter().cloned());
        }
        truth
    }

    /// Changes fields of a record and stamps it with the clock's now.
    pub fn update(&self, object: &str, id: &str, fields: &[(&str, Value)]) -> bool {
        self.update_stamped(object, id, fields, self.clock.now())
    }

    /// Changes fields of a record stamped `at`, which may lie in the past: a late
    /// commit, as a long transaction that began at `at` and commits now writes it.
    pub fn update_stamped(&self, object: &str, id: &str, fields: &[(&str, Value)], at: DateTime<Utc>) -> bool {
        let mut state = self.lock();
        let Some(record) = state.records.get_mut(object).and_then(|records| records.get_mut(id)) else {
            return false;
        };
        for (name, value) in fields {
            record.fields.insert((*name).to_owned(), value.clone());
        }
        stamp(record, at);
        true
    }

    /// Creates a record of `object` stamped now; returns its id.
    pub fn create(&self, object: &str, fields: &[(&str, Value)]) -> Option<String> {
        self.create_stamped(object, fields, self.clock.now())
    }

    /// Creates a record of `object` stamped (and created) `at`, which may lie in the
    /// past: a late commit. Returns its id.
    pub fn create_stamped(&self, object: &str, fields: &[(&str, Value)], at: DateTime<Utc>) -> Option<String> {
        let mut state = self.lock();
        let (key, _) = state.records.get_key_value(object)?;
        let key: &'static str = key;
        let id = make_id(data::prefix(key), state.next_id);
        state.next_id += 1;
        let mut record = SimRecord { object: key, fields: serde_json::Map::new() };
        record.fields.insert("Id".into(), Value::from(id.clone()));
        record.fields.insert("IsDeleted".into(), Value::Bool(false));
        record.fields.insert("CreatedDate".into(), Value::from(soql::format_datetime(at)));
        for (name, value) in fields {
            record.fields.insert((*name).to_owned(), value.clone());
        }
        stamp(&mut record, at);
        state.records.entry(key).or_default().insert(id.clone(), record);
        Some(id)
    }

    /// Moves a record to the recycle bin (`IsDeleted = true`, stamped now).
    pub fn delete(&self, object: &str, id: &str) -> bool {
        self.update(object, id, &[("IsDeleted", Value::Bool(true))])
    }

    /// Purges a record, live or in the recycle bin: no query, `queryAll` included,
    /// returns it again, and nothing reports that it went.
    pub fn purge(&self, object: &str, id: &str) -> bool {
        let mut state = self.lock();
        let Some((key, records)) = state.records.iter_mut().find(|(key, _)| **key == object) else { return false };
        let key: &'static str = key;
        if records.remove(id).is_none() {
            return false;
        }
        state.purged.entry(key).or_default().push(id.to_owned());
        true
    }

    /// Restores a record from the recycle bin.
    pub fn undelete(&self, object: &str, id: &str) -> bool {
        self.update(object, id, &[("IsDeleted", Value::Bool(false))])
    }

    /// Stamps records with one `SystemModstamp`, as a bulk update does.
    pub fn stamp_together(&self, object: &str, ids: &[&str], at: DateTime<Utc>) {
        let mut state = self.lock();
        if let Some(records) = state.records.get_mut(object) {
            for id in ids {
                if let Some(record) = records.get_mut(*id) {
                    stamp(record, at);
                }
            }
        }
    }

    /// Removes a custom field from the org's schema, as in an org that never had it.
    pub fn remove_field(&self, object: &str, field: &str) {
        self.lock().removed.push((object.to_owned(), field.to_owned()));
    }

    /// Turns multi-currency off (`CurrencyIsoCode` disappears) or on.
    pub fn set_multi_currency(&self, on: bool) {
        self.lock().config.multi_currency = on;
    }

    /// API requests used today (what `api-usage` reports).
    pub fn api_used(&self) -> u64 {
        self.lock().api_used
    }

    pub fn set_api_used(&self, used: u64) {
        self.lock().api_used = used;
    }

    pub fn set_daily_quota(&self, quota: u64) {
        self.lock().config.daily_quota = quota;
    }

    /// Requests refused with `REQUEST_LIMIT_EXCEEDED`.
    pub fn quota_refusals(&self) -> u64 {
        self.lock().quota_refusals
    }

    pub fn set_batch_size(&self, batch: usize) {
        self.lock().config.batch_size = batch.max(1);
    }

    /// Forgets every open locator, as when they expire.
    pub fn expire_locators(&self) {
        let mut state = self.lock();
        state.locators.clear();
        state.locator_order.clear();
    }

    /// Every SOQL query received, in order.
    pub fn queries(&self) -> Vec<String> {
        self.lock().queries.clone()
    }

    /// Expires every session (access token) issued so far.
    pub fn expire_sessions(&self) {
        self.authority.expire_access_tokens();
    }

    /// The object's fields as the org has them now.
    pub fn fields_of(&self, object: &str) -> Option<Vec<FieldSpec>> {
        let state = self.lock();
        fields_of(&state, object)
    }
}

fn fields_of(state: &State, object: &str) -> Option<Vec<FieldSpec>> {
    let mut fields = data::schema(object, state.config.multi_currency)?;
    fields.retain(|field| {
        !state.removed.iter().any(|(o, f)| o.eq_ignore_ascii_case(object) && f.eq_ignore_ascii_case(field.name))
    });
    Some(fields)
}

fn stamp(record: &mut SimRecord, at: DateTime<Utc>) {
    let text = Value::from(soql::format_datetime(at));
    record.fields.insert("LastModifiedDate".into(), text.clone());
    record.fields.insert("SystemModstamp".into(), text);
}

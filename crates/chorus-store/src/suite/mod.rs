//! The shared test suite: every test runs against SQLite (a temp file) always, and
//! against PostgreSQL when `CHORUS_TEST_PG_URL` is set (each test in its own schema).
//!
//! Tests are plain async functions taking a `Harness`; `store_suite!` turns a list of
//! them into a `sqlite` and a `postgres` test module, so both backends prove the same
//! behaviour with the same code.

mod accounts;
mod claims;
mod graph;
mod links;
mod opportunities;
mod reads;
mod requests;
mod sessions;
mod sync;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use chorus_core::{AccountRecord, ContactRecord, EntityKind, ItemRecord, Kind, Person, Record, Source};
use chrono::{DateTime, TimeZone, Utc};

use crate::sql::SqlStore;
use crate::{Holder, PageCommit, PageOutcome, RunClaim, Store};

/// One test database and the store over it.
pub(crate) struct Harness {
    pub(crate) store: Arc<SqlStore>,
    target: Target,
}

enum Target {
    Sqlite { url: String, _dir: tempfile::TempDir },
    Postgres { url: String, schema: String },
}

impl Harness {
    pub(crate) async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("chorus.db").display());
        let store = crate::sqlite::open(&url).await.expect("open sqlite");
        Self { store: Arc::new(store), target: Target::Sqlite { url, _dir: dir } }
    }

    /// `None` (after saying so) when no PostgreSQL server is configured.
    pub(crate) async fn postgres() -> Option<Self> {
        let Ok(url) = std::env::var("CHORUS_TEST_PG_URL") else {
            eprintln!("skipped: CHORUS_TEST_PG_URL not set");
            return None;
        };
        let nanos = Utc::now().timestamp_subsec_nanos();
        let schema = format!("chorus_test_{}_{nanos}", std::process::id());
        let store = crate::postgres::open_isolated(&url, &schema).await.expect("open postgres");
        Some(Self { store: Arc::new(store), target: Target::Postgres { url, schema } })
    }

    /// A second store on the same database, as another process would open it.
    pub(crate) async fn reopen(&self) -> SqlStore {
        match &self.target {
            Target::Sqlite { url, .. } => crate::sqlite::open(url).await.expect("reopen sqlite"),
            Target::Postgres { url, schema } => {
                crate::postgres::open_isolated(url, schema).await.expect("reopen postgres")
            }
        }
    }

    pub(crate) fn is_sqlite(&self) -> bool {
        matches!(self.target, Target::Sqlite { .. })
    }

    pub(crate) async fn cleanup(self) {
        if let Target::Postgres { url, schema } = &self.target {
            self.store.writer.close().await;
            crate::postgres::drop_isolated(url, schema).await.expect("drop schema");
        }
    }

    pub(crate) async fn claim(&self, connector: &str) -> RunClaim {
        self.store
            .claim_run(connector, &holder("main", std::process::id(), 60))
            .await
            .expect("claim")
            .expect("claim is free")
    }

    /// Commits `records` as the next page of `claim`'s connector.
    pub(crate) async fn commit(&self, claim: &RunClaim, records: Vec<Record>) -> PageOutcome {
        let version = self.store.cursor(&claim.connector).await.expect("cursor").version;
        let page = page(&claim.connector, records, version);
        self.store.commit_page(claim, &page).await.expect("commit page")
    }

    /// Commits `records` as the next page of `claim`'s connector, read from `source`.
    pub(crate) async fn commit_as(&self, claim: &RunClaim, source: Source, records: Vec<Record>) -> PageOutcome {
        let version = self.store.cursor(&claim.connector).await.expect("cursor").version;
        let page = PageCommit { source, ..page(&claim.connector, records, version) };
        self.store.commit_page(claim, &page).await.expect("commit page")
    }

    /// The provenance of an item's account link, read straight from the table.
    pub(crate) async fn provenance(&self, item_id: i64) -> Option<String> {
        sqlx::query_scalar("SELECT provenance FROM item_account_links WHERE item_id = $1")
            .bind(item_id)
            .fetch_optional(&self.store.reader)
            .await
            .expect("read provenance")
    }
}

/// Declares each listed test once per backend.
macro_rules! store_suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let harness = crate::suite::Harness::sqlite().await;
                    super::$test(&harness).await;
                    harness.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(harness) = crate::suite::Harness::postgres().await else { return };
                    super::$test(&harness).await;
                    harness.cleanup().await;
                }
            )*
        }
    };
}
pub(crate) use store_suite;

pub(crate) fn holder(name: &str, pid: u32, ttl_secs: u64) -> Holder {
    Holder { id: format!("{name}:{pid}"), host: "test-host".to_owned(), pid, ttl: Duration::from_secs(ttl_secs) }
}

pub(crate) fn page(connector: &str, records: Vec<Record>, expected_version: i64) -> PageCommit {
    PageCommit {
        connector: connector.to_owned(),
        source: Source::Zendesk,
        records,
        cursor: serde_json::json!({ "v": 1, "after": expected_version + 1 }),
        expected_version,
    }
}

pub(crate) fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, hour, 0, 0).single().expect("valid time")
}

pub(crate) fn item(external_id: &str, title: &str) -> ItemRecord {
    ItemRecord {
        external_id: external_id.to_owned(),
        key: None,
        kind: Kind::SupportTicket,
        title: title.to_owned(),
        body: format!("body of {title}"),
        comments: Vec::new(),
        url: Some(format!("https://example.zendesk.com/tickets/{external_id}")),
        status: "open".to_owned(),
        priority: None,
        tags: vec!["tag".to_owned()],
        author: Person { email: None, name: Some("Someone".to_owned()) },
        account_external_id: None,
        account_name: None,
        csat: None,
        created_at: at(1),
        updated_at: at(2),
        raw: serde_json::json!({ "id": external_id }),
    }
}

pub(crate) fn item_by(external_id: &str, email: &str) -> ItemRecord {
    ItemRecord { author: Person { email: Some(email.to_owned()), name: None }, ..item(external_id, external_id) }
}

pub(crate) fn item_for_org(external_id: &str, org: &str) -> ItemRecord {
    ItemRecord { account_external_id: Some(org.to_owned()), ..item(external_id, external_id) }
}

pub(crate) fn org(external_id: &str, name: &str, domains: &[&str]) -> AccountRecord {
    AccountRecord {
        external_id: external_id.to_owned(),
        name: name.to_owned(),
        domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        arr_minor: None,
        currency: None,
        segment: None,
        lifecycle_stage: None,
        csm_owner: None,
        renewal_date: None,
        parent_external_id: None,
        plan: None,
        same_as: Vec::new(),
        raw: serde_json::Value::Null,
    }
}

pub(crate) fn user(external_id: &str, email: &str, org: Option<&str>) -> ContactRecord {
    ContactRecord {
        external_id: external_id.to_owned(),
        email: email.to_owned(),
        name: None,
        account_external_id: org.map(str::to_owned),
    }
}

pub(crate) fn deleted(entity: EntityKind, external_id: &str) -> Record {
    Record::Deleted { entity, external_id: external_id.to_owned() }
}

/// The store's id for an item of connector `zd`.
pub(crate) async fn item_id(harness: &Harness, external_id: &str) -> i64 {
    harness.store.item_by_external_id("zd", external_id).await.expect("read item").expect("item exists").id
}

/// The account id an item of connector `zd` is linked to.
pub(crate) async fn account_of(harness: &Harness, external_id: &str) -> Option<i64> {
    harness.store.item_by_external_id("zd", external_id).await.expect("read item").expect("item exists").account_id
}

/// The id of the account that external id `org` of connector `zd` maps to.
pub(crate) async fn account_id(harness: &Harness, org: &str) -> i64 {
    sqlx::query_scalar("SELECT account_id FROM account_external_ids WHERE connector = 'zd' AND external_id = $1")
        .bind(org)
        .fetch_one(&harness.store.reader)
        .await
        .expect("account mapped")
}

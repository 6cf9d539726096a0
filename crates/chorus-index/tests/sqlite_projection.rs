//! The projection against the real SQLite store: records committed through a sync page
//! reach the index, an account's ARR change re-ranks its items, a tombstone leaves, and a
//! restart resumes at the position in the last commit payload.

use std::sync::Arc;
use std::time::Duration;

use chorus_core::{AccountRecord, EntityKind, ItemRecord, Kind, Person, Record, Source};
use chorus_index::{IndexProjection, SearchIndex, SearchRequest, Sort};
use chorus_store::{Holder, PageCommit, RunClaim, Store};
use chrono::{TimeZone, Utc};

fn org(external_id: &str, name: &str, arr_dollars: i64, segment: &str) -> Record {
    Record::Account(AccountRecord {
        external_id: external_id.into(),
        name: name.into(),
        domains: vec![],
        arr_minor: Some(arr_dollars * 100),
        currency: Some("USD".into()),
        segment: Some(segment.into()),
        lifecycle_stage: None,
        csm_owner: None,
        renewal_date: None,
        parent_external_id: None,
        plan: None,
        same_as: Vec::new(),
        raw: serde_json::Value::Null,
    })
}

fn ticket(external_id: &str, title: &str, org: Option<&str>, hour: u32) -> Record {
    let at = Utc.with_ymd_and_hms(2025, 1, 1, hour, 0, 0).single().expect("valid time");
    Record::Item(ItemRecord {
        external_id: external_id.into(),
        key: None,
        kind: Kind::SupportTicket,
        title: title.into(),
        body: format!("details about {title}"),
        comments: vec![],
        url: None,
        status: "open".into(),
        priority: None,
        tags: vec![],
        author: Person::default(),
        account_external_id: org.map(str::to_owned),
        account_name: None,
        csat: None,
        created_at: at,
        updated_at: at,
        raw: serde_json::Value::Null,
    })
}

struct Sync {
    store: Arc<dyn Store>,
    claim: RunClaim,
}

impl Sync {
    async fn new(store: Arc<dyn Store>) -> Sync {
        let holder = Holder {
            id: "test:1".into(),
            host: "test-host".into(),
            pid: std::process::id(),
            ttl: Duration::from_secs(60),
        };
        let claim = store.claim_run("zd", &holder).await.expect("claim").expect("claim is free");
        Sync { store, claim }
    }

    async fn commit(&self, records: Vec<Record>) {
        let version = self.store.cursor("zd").await.expect("cursor").version;
        let page = PageCommit {
            connector: "zd".into(),
            source: Source::Zendesk,
            records,
            cursor: serde_json::json!({ "v": 1, "after": version + 1 }),
            expected_version: version,
        };
        self.store.commit_page(&self.claim, &page).await.expect("commit page");
    }
}

fn hit_ids(index: &SearchIndex, query: &str, sort: Sort) -> Vec<String> {
    let request = SearchRequest { sort, ..SearchRequest::new(query) };
    let answer = index.search(&request).expect("search");
    answer.hits.iter().map(|hit| hit.title.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projection_follows_the_sqlite_change_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("chorus.db").display());
    let store = chorus_store::open(&url).await.expect("open sqlite store");
    let sync = Sync::new(Arc::clone(&store)).await;
    sync.commit(vec![
        org("o1", "Acme", 1_000_000, "enterprise"),
        org("o2", "Globex", 10_000, "smb"),
        ticket("1", "SSO broken for Acme", Some("o1"), 1),
        ticket("2", "SSO broken for Globex", Some("o2"), 2),
        ticket("3", "Slow dashboard", None, 3),
    ])
    .await;

    let index_root = dir.path().join("index");
    let index = SearchIndex::open(&index_root).expect("open index");
    let mut projection = IndexProjection::new(index.clone(), Arc::clone(&store), chorus_core::ExchangeRates::default())
        .expect("projection");
    let outcome = projection.catch_up().await.expect("catch up");
    assert!(outcome.rebuilt, "an empty index is built from the store");
    let answer = index.search(&SearchRequest::new("sso")).expect("search");
    assert_eq!(answer.total, 2);
    assert_eq!(answer.reach.accounts, 2);
    assert_eq!(answer.reach.arr_minor, (1_000_000 + 10_000) * 100);
    assert_eq!(hit_ids(&index, "sso", Sort::Revenue), ["SSO broken for Acme", "SSO broken for Globex"]);

    // Globex grows past Acme: its items re-rank after one catch-up, no rebuild.
    sync.commit(vec![org("o2", "Globex", 5_000_000, "enterprise")]).await;
    let generation = index.position().expect("position");
    let outcome = projection.catch_up().await.expect("catch up");
    assert!(!outcome.rebuilt && outcome.position > generation);
    assert_eq!(hit_ids(&index, "sso", Sort::Revenue), ["SSO broken for Globex", "SSO broken for Acme"]);
    let answer = index.search(&SearchRequest::new("sso")).expect("search");
    assert_eq!(answer.reach.arr_minor, (1_000_000 + 5_000_000) * 100);

    // A deletion in the source leaves the index.
    sync.commit(vec![Record::Deleted { entity: EntityKind::Item, external_id: "1".into() }]).await;
    projection.catch_up().await.expect("catch up");
    assert_eq!(hit_ids(&index, "sso", Sort::Revenue), ["SSO broken for Globex"]);

    // Restart: a new process resumes exactly at the committed position.
    let committed = projection.position();
    drop(projection);
    drop(index);
    sync.commit(vec![ticket("4", "SSO for contractors", Some("o1"), 4)]).await;
    let index = SearchIndex::open(&index_root).expect("reopen index");
    assert_eq!(index.position().expect("position"), committed);
    let mut projection = IndexProjection::new(index.clone(), Arc::clone(&store), chorus_core::ExchangeRates::default())
        .expect("projection");
    let outcome = projection.catch_up().await.expect("catch up");
    assert_eq!(outcome.position, store.last_change().await.expect("last change"));
    assert!(!outcome.rebuilt);
    let answer = index.search(&SearchRequest::new("sso")).expect("search");
    assert_eq!(answer.total, 2);
    assert_eq!(index.num_docs(), 3);
}

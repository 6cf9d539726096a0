//! Suggestions over a real SQLite store and index: items about distinct topics (SSO
//! through Okta, CSV exports of invoices, dark mode), requests about them, and the
//! store's links, rejections and merges deciding what may be offered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chorus_core::{AccountRecord, ItemRecord, Kind, LinkProvenance, Person, Record, RequestStatus, Source};
use chorus_store::{Holder, NewRequest, PageCommit, RunOutcome, RunStatus, Store, StoreError};
use chrono::{TimeZone, Utc};

use crate::{IndexError, IndexProjection, QueryError, SearchIndex, SuggestOptions, Suggestion};

/// The corpus: external id, title, body, organization.
const ITEMS: [(&str, &str, &str, Option<&str>); 8] = [
    (
        "sso-1",
        "SSO login via Okta fails",
        "Our users cannot sign in with Okta single sign-on since Monday.",
        Some("org-1"),
    ),
    ("sso-2", "Okta SAML SSO setup", "We need SSO through Okta for the whole team.", Some("org-2")),
    ("sso-3", "SSO redirect loop", "After the Okta login the SSO page redirects forever.", Some("org-1")),
    ("csv-1", "CSV export of invoices", "Finance wants a CSV export of all invoices every month.", Some("org-1")),
    ("csv-2", "Invoice export broken", "The CSV export of invoices times out.", Some("org-2")),
    ("dark", "Dark mode", "Please add a dark theme to the dashboard.", None),
    ("typo", "Login page typo", "The button label is misspelled.", None),
    ("okta", "Okta sign in broken", "Signing in with Okta shows an error.", Some("org-2")),
];

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    index: SearchIndex,
    projection: IndexProjection,
    ids: HashMap<&'static str, i64>,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("chorus.db").display());
        let store = chorus_store::open(&url).await.expect("open store");
        let holder = Holder { id: "test:1".into(), host: "test".into(), pid: 1, ttl: Duration::from_secs(60) };
        let claim = store.claim_run("zd", &holder).await.expect("claim").expect("free");
        let mut records = vec![org("org-1", "Acme"), org("org-2", "Globex")];
        records.extend(ITEMS.iter().map(|(id, title, body, org)| item(id, title, body, *org)));
        let page = PageCommit {
            connector: "zd".into(),
            source: Source::Zendesk,
            records,
            cursor: serde_json::json!({ "v": 1 }),
            expected_version: 0,
        };
        store.commit_page(&claim, &page).await.expect("commit");
        let outcome = RunOutcome { status: RunStatus::Succeeded, pages: 1, ..RunOutcome::default() };
        store.finish_run(&claim, &outcome).await.expect("finish");
        let mut ids = HashMap::new();
        for (external_id, ..) in ITEMS {
            let item = store.item_by_external_id("zd", external_id).await.expect("read").expect("stored");
            ids.insert(external_id, item.id);
        }
        let index = SearchIndex::open(dir.path().join("index")).expect("open index");
        let projection = IndexProjection::new(index.clone(), Arc::clone(&store), chorus_core::ExchangeRates::default())
            .expect("projection");
        let mut fixture = Fixture { _dir: dir, store, index, projection, ids };
        fixture.catch_up().await;
        fixture
    }

    async fn catch_up(&mut self) {
        self.projection.catch_up().await.expect("catch up");
        self.index.reload().expect("reload");
    }

    fn id(&self, external_id: &str) -> i64 {
        self.ids[external_id]
    }

    async fn request(&self, title: &str, description: &str) -> i64 {
        let new = NewRequest { title: title.into(), description: description.into(), anchor_item_id: None };
        self.store.create_request(&new).await.expect("create request").id
    }

    async fn link(&self, request: i64, external_id: &str) {
        self.store.link_item_request(self.id(external_id), request, LinkProvenance::Manual).await.expect("link");
    }

    async fn suggest(&self, request: i64, include_linked: bool) -> Vec<Suggestion> {
        let options = SuggestOptions { limit: 10, include_linked };
        self.index.suggest_items(self.store.as_ref(), request, options).await.expect("suggestions")
    }

    /// The suggested items' external ids, best first.
    async fn suggested(&self, request: i64) -> Vec<&'static str> {
        self.names(self.suggest(request, false).await.iter().map(|s| s.item_id))
    }

    fn names(&self, ids: impl Iterator<Item = i64>) -> Vec<&'static str> {
        ids.map(|id| *self.ids.iter().find(|(_, v)| **v == id).expect("a corpus item").0).collect()
    }
}

fn org(id: &str, name: &str) -> Record {
    Record::Account(AccountRecord {
        external_id: id.to_owned(),
        name: name.to_owned(),
        domains: Vec::new(),
        arr_minor: Some(10_000_000),
        currency: Some("USD".to_owned()),
        segment: None,
        lifecycle_stage: None,
        csm_owner: None,
        renewal_date: None,
        parent_external_id: None,
        plan: None,
        same_as: Vec::new(),
        raw: serde_json::Value::Null,
    })
}

fn item(id: &str, title: &str, body: &str, org: Option<&str>) -> Record {
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().expect("valid time");
    Record::Item(ItemRecord {
        external_id: id.to_owned(),
        key: None,
        kind: Kind::SupportTicket,
        title: title.to_owned(),
        body: body.to_owned(),
        comments: Vec::new(),
        url: None,
        status: "open".to_owned(),
        priority: None,
        tags: Vec::new(),
        author: Person::default(),
        account_external_id: org.map(str::to_owned),
        account_name: None,
        csat: None,
        created_at: at,
        updated_at: at,
        raw: serde_json::Value::Null,
    })
}

fn is_sso(name: &str) -> bool {
    name.starts_with("sso") || name == "okta"
}

#[tokio::test]
async fn a_request_about_sso_is_suggested_the_sso_items_first_with_their_shared_words() {
    let fixture = Fixture::new().await;
    let sso = fixture.request("Single sign-on with Okta", "Let customers log in through SSO (Okta, SAML)").await;
    let suggestions = fixture.suggest(sso, false).await;
    let names = fixture.names(suggestions.iter().map(|s| s.item_id));
    assert_eq!(names.len(), 4, "{suggestions:#?}");
    assert!(names.iter().all(|name| is_sso(name)), "only the SSO items share words with it: {names:?}");
    assert!(suggestions.windows(2).all(|pair| pair[0].score >= pair[1].score), "ranked by score");
    for suggestion in &suggestions {
        assert!(
            suggestion.shared_terms.iter().any(|word| word == "okta" || word == "sso"),
            "okta or sso is the reason: {suggestion:?}"
        );
        assert!(suggestion.shared_terms.len() <= crate::SHARED_TERMS);
        assert!(!suggestion.shared_terms.iter().any(|word| word == "with" || word == "in"), "no stop words");
    }
    let saml = suggestions.iter().find(|s| s.item_id == fixture.id("sso-2")).expect("the SAML item");
    assert!(saml.shared_terms.iter().any(|word| word == "saml"), "{saml:?}");
    assert_eq!(saml.account_name.as_deref(), Some("Globex"));
    assert_eq!((saml.kind.as_str(), saml.source.as_str()), ("support_ticket", "zendesk"));

    let csv = fixture.request("Export invoices to CSV", "").await;
    let mut names = fixture.suggested(csv).await;
    assert_eq!(names.first(), Some(&"csv-1"), "every word of it in the title: {names:?}");
    names.sort_unstable();
    assert_eq!(names, ["csv-1", "csv-2"], "and nothing about SSO");
}

#[tokio::test]
async fn linked_items_shape_the_profile_and_are_never_suggested() {
    let mut fixture = Fixture::new().await;
    let sso = fixture.request("Okta", "").await;
    let before = fixture.suggested(sso).await;
    assert!(!before.contains(&"typo"), "nothing about logins yet: {before:?}");
    fixture.link(sso, "sso-1").await;
    fixture.catch_up().await;
    let after = fixture.suggested(sso).await;
    assert!(!after.contains(&"sso-1"), "a linked item is not suggested again: {after:?}");
    assert!(after.contains(&"typo"), "`login` joined the profile with the linked item: {after:?}");
    let typo = after.iter().position(|name| *name == "typo").expect("typo");
    assert!(after[..typo].iter().all(|name| is_sso(name)), "the SSO items stay ahead: {after:?}");

    // Linked to another request: left out by default, offered on demand — and the store
    // decides, even before the index has seen the link.
    let other = fixture.request("Login redirect issues", "").await;
    fixture.link(other, "sso-3").await;
    assert!(!fixture.suggested(sso).await.contains(&"sso-3"), "linked elsewhere");
    let with_linked = fixture.names(fixture.suggest(sso, true).await.iter().map(|s| s.item_id));
    assert!(with_linked.contains(&"sso-3"), "{with_linked:?}");
    assert!(!with_linked.contains(&"sso-1"), "never an item linked to this very request");
}

#[tokio::test]
async fn a_rejected_item_is_not_offered_again_even_after_a_merge() {
    let fixture = Fixture::new().await;
    let first = fixture.request("SSO with Okta", "").await;
    assert!(fixture.suggested(first).await.contains(&"sso-2"));
    fixture.store.reject_suggestion(first, fixture.id("sso-2")).await.expect("reject");
    let after = fixture.suggested(first).await;
    assert!(!after.contains(&"sso-2"), "{after:?}");
    assert!(after.contains(&"sso-1"), "the others stay: {after:?}");

    let survivor = fixture.request("Okta SAML single sign-on", "").await;
    assert!(fixture.suggested(survivor).await.contains(&"sso-2"), "not rejected for the survivor yet");
    fixture.store.merge_requests(first, survivor).await.expect("merge");
    let merged = fixture.suggested(survivor).await;
    assert!(!merged.contains(&"sso-2"), "the rejection moved with the merge: {merged:?}");
    assert!(merged.contains(&"sso-3"), "{merged:?}");
    let error = fixture.index.suggest_items(fixture.store.as_ref(), first, SuggestOptions::default()).await;
    assert!(matches!(error, Err(IndexError::Store(StoreError::Conflict(_)))), "{error:?}");
}

#[tokio::test]
async fn an_accepted_suggestion_is_a_suggestion_link_and_leaves_the_list() {
    let fixture = Fixture::new().await;
    let sso = fixture.request("SSO with Okta", "").await;
    let first = fixture.suggest(sso, false).await[0].item_id;
    fixture.store.reject_suggestion(sso, first).await.expect("reject");
    fixture.store.link_item_request(first, sso, LinkProvenance::Suggestion).await.expect("accept");
    let links = fixture.store.request_links(sso).await.expect("links");
    assert_eq!(
        links.iter().map(|l| (l.item_id, l.provenance)).collect::<Vec<_>>(),
        [(first, LinkProvenance::Suggestion)]
    );
    assert!(fixture.store.rejections(Some(sso), None).await.expect("rejections").is_empty(), "accepting forgets it");
    let after = fixture.suggest(sso, false).await;
    assert!(!after.iter().any(|s| s.item_id == first), "{after:?}");
}

#[tokio::test]
async fn an_items_likely_requests_rank_the_matching_one_first_and_skip_closed_ones() {
    let mut fixture = Fixture::new().await;
    let sso = fixture.request("Single sign-on with Okta", "SSO for every customer").await;
    let csv = fixture.request("Export invoices to CSV", "").await;
    let shipped = fixture.request("Okta sign in", "Okta SSO").await;
    fixture.store.set_request_status(shipped, RequestStatus::Shipped).await.expect("ship");
    let declined = fixture.request("Okta sign in again", "").await;
    fixture.store.set_request_status(declined, RequestStatus::Declined).await.expect("decline");
    // No word in common with its title: found through its linked SSO item.
    let identity = fixture.request("Identity provider work", "").await;
    fixture.link(identity, "sso-1").await;
    fixture.catch_up().await;

    let okta = fixture.id("okta");
    let likely = fixture.index.likely_requests(fixture.store.as_ref(), okta, 10).await.expect("likely");
    let ids: Vec<i64> = likely.iter().map(|r| r.request_id).collect();
    assert_eq!(ids.first(), Some(&sso), "{likely:#?}");
    assert!(likely[0].shared_terms.iter().any(|word| word == "okta"), "{likely:?}");
    assert!(likely[0].score > 0.0 && likely[0].score <= 1.0);
    for closed in [shipped, declined, csv] {
        assert!(!ids.contains(&closed), "request {closed} is not offered: {likely:#?}");
    }
    let by_neighbour = likely.iter().find(|r| r.request_id == identity).expect("found through its linked item");
    assert_eq!(by_neighbour.similar_items, vec![fixture.id("sso-1")]);
    assert!(likely.windows(2).all(|pair| pair[0].score >= pair[1].score));

    fixture.store.reject_suggestion(sso, okta).await.expect("reject");
    let after = fixture.index.likely_requests(fixture.store.as_ref(), okta, 10).await.expect("likely");
    assert!(!after.iter().any(|r| r.request_id == sso), "rejected for it: {after:#?}");
    fixture.store.link_item_request(okta, identity, LinkProvenance::Manual).await.expect("link");
    let linked = fixture.index.likely_requests(fixture.store.as_ref(), okta, 10).await.expect("likely");
    assert!(!linked.iter().any(|r| r.request_id == identity), "already linked: {linked:#?}");
}

/// The offered requests are kept between calls while the store has not changed, and
/// read again after any write to a request: a new one, a rename, a status.
#[tokio::test]
async fn likely_requests_follow_every_change_to_the_requests() {
    let mut fixture = Fixture::new().await;
    let csv = fixture.request("Export invoices to CSV", "").await;
    fixture.catch_up().await;
    let okta = fixture.id("okta");
    let likely = |fixture: &Fixture| {
        let (index, store) = (fixture.index.clone(), Arc::clone(&fixture.store));
        async move {
            let found = index.likely_requests(store.as_ref(), okta, 10).await.expect("likely");
            found.into_iter().map(|r| (r.request_id, r.title)).collect::<Vec<_>>()
        }
    };
    assert!(likely(&fixture).await.is_empty(), "nothing about Okta yet");
    assert_eq!(likely(&fixture).await, likely(&fixture).await, "the same answer while nothing changes");

    let sso = fixture.request("Single sign-on with Okta", "").await;
    assert_eq!(likely(&fixture).await.first().map(|r| r.0), Some(sso), "a new request is offered at once");
    fixture.store.rename_request(csv, "Okta groups in the CSV export", None).await.expect("rename");
    let renamed = likely(&fixture).await;
    assert!(renamed.iter().any(|(id, title)| *id == csv && title.contains("Okta")), "renamed: {renamed:?}");
    fixture.store.set_request_status(sso, RequestStatus::Shipped).await.expect("ship");
    assert!(!likely(&fixture).await.iter().any(|(id, _)| *id == sso), "a shipped request is no longer offered");
}

#[tokio::test]
async fn unknown_ids_and_bad_limits_are_errors_not_empty_answers() {
    let fixture = Fixture::new().await;
    let store = fixture.store.as_ref();
    let missing = fixture.index.suggest_items(store, 999_999, SuggestOptions::default()).await;
    assert!(matches!(missing, Err(IndexError::Store(StoreError::NotFound { what: "request", .. }))), "{missing:?}");
    let missing = fixture.index.likely_requests(store, 999_999, 10).await;
    assert!(matches!(missing, Err(IndexError::Store(StoreError::NotFound { what: "item", .. }))), "{missing:?}");
    let request = fixture.request("Okta", "").await;
    for limit in [0, crate::MAX_SUGGESTIONS + 1] {
        let refused =
            fixture.index.suggest_items(store, request, SuggestOptions { limit, include_linked: false }).await;
        assert!(matches!(refused, Err(IndexError::Query(QueryError::Limit { .. }))), "{refused:?}");
    }
    let nothing = fixture.request("The", "").await;
    assert!(fixture.suggest(nothing, false).await.is_empty(), "a profile of stop words matches nothing");
}

#[tokio::test]
async fn a_profile_keeps_the_heaviest_words_and_rare_ones_weigh_more() {
    use crate::profile::{Profile, Words, MAX_QUERY_TERMS};
    let fixture = Fixture::new().await;
    let mut words = Words::default();
    for (_, title, body, _) in ITEMS {
        words.add_titled(title, body);
    }
    words.add("okta saml", 1.0);
    let live = fixture.index.live();
    let searcher = live.reader.searcher();
    let profile = Profile::weigh(&words, &searcher, &live.fields).expect("weigh");
    let kept: std::collections::HashSet<String> =
        ITEMS.iter().flat_map(|(_, title, body, _)| crate::profile::text_words(&[title, body])).collect();
    assert!(kept.len() > MAX_QUERY_TERMS, "the corpus has more words than a query takes");
    let query_words = profile.shared(&kept);
    assert_eq!(query_words.len(), MAX_QUERY_TERMS, "at most {MAX_QUERY_TERMS} words: {query_words:?}");
    // `okta` is counted far more often (11 against 3), but four items hold it and one
    // holds `saml`: the rare word weighs more.
    assert!(profile.weight("saml") > profile.weight("okta"), "{query_words:?}");
    assert_eq!(profile.weight("nowhere"), 0.0);
}

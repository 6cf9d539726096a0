//! Requests: merges that lose nothing, issue-key mentions linked at commit, remembered
//! rejections, manual links that stay, and per-request demand aggregates that always
//! equal a from-scratch recomputation.

use chorus_core::priority::{ArrChange, RequestDemand};
use chorus_core::{
    AccountRecord, Currency, EntityKind, ExchangeRates, ItemRecord, Kind, LinkProvenance, PriorityModel,
    PriorityWeights, Record, RequestStatus,
};

use super::{account_id, deleted, item, item_by, item_for_org, item_id, org, store_suite, Harness};
use crate::{AccountImport, NewRequest, Store};

store_suite!(
    merge_moves_links_and_keeps_the_stronger_provenance,
    key_mention_links_in_the_commit_and_anchor_status_flows,
    rejected_suggestion_is_remembered,
    manual_link_is_never_overwritten_by_a_mention,
    demand_equals_recomputation_after_random_writes,
    arr_at_ask_shows_a_shrunk_account,
    ranking_cache_ranks_again_only_after_a_write_or_with_age,
);

async fn request(harness: &Harness, title: &str) -> i64 {
    let new = NewRequest { title: title.to_owned(), description: String::new(), anchor_item_id: None };
    harness.store.create_request(&new).await.expect("create request").id
}

fn paying(external_id: &str, name: &str, arr_minor: i64) -> AccountRecord {
    AccountRecord { arr_minor: Some(arr_minor), currency: Some("USD".into()), ..org(external_id, name, &[]) }
}

async fn stored_demand(harness: &Harness) -> Vec<RequestDemand> {
    let inputs = harness.store.priority_inputs(Currency::USD, None).await.expect("priority inputs");
    inputs.demands.iter().map(|demand| demand.unpack().expect("stored demand reads")).collect()
}

async fn provenance_of(harness: &Harness, item: i64, request: i64) -> Option<LinkProvenance> {
    let links = harness.store.request_links(request).await.expect("links");
    links.into_iter().find(|link| link.item_id == item).map(|link| link.provenance)
}

async fn merge_moves_links_and_keeps_the_stronger_provenance(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Account(paying("o1", "Acme", 10_000))]).await;
    harness
        .commit(
            &claim,
            vec![
                Record::Item(item_for_org("t1", "o1")),
                Record::Item(item_for_org("t2", "o1")),
                Record::Item(item("t3", "no account")),
            ],
        )
        .await;
    let (t1, t2, t3) = (item_id(harness, "t1").await, item_id(harness, "t2").await, item_id(harness, "t3").await);
    let (from, into) = (request(harness, "SSO").await, request(harness, "Single sign-on").await);
    let store = &harness.store;
    store.link_item_request(t1, from, LinkProvenance::Manual).await.expect("link");
    store.link_item_request(t2, from, LinkProvenance::Suggestion).await.expect("link");
    store.link_item_request(t3, from, LinkProvenance::Manual).await.expect("link");
    store.link_item_request(t1, into, LinkProvenance::KeyMention).await.expect("link");
    store.reject_suggestion(from, t2).await.expect("reject");

    let outcome = store.merge_requests(from, into).await.expect("merge");
    assert_eq!(outcome.moved_links, 3, "t1 upgraded, t2 and t3 moved");
    assert_eq!(outcome.moved_rejections, 1);
    assert!(store.request_links(from).await.expect("links").is_empty());
    assert_eq!(provenance_of(harness, t1, into).await, Some(LinkProvenance::Manual));
    assert_eq!(provenance_of(harness, t2, into).await, Some(LinkProvenance::Suggestion));
    assert_eq!(provenance_of(harness, t3, into).await, Some(LinkProvenance::Manual));
    assert_eq!(store.rejections(Some(into), None).await.expect("rejections"), vec![(into, t2)]);
    let merged = store.request(from).await.expect("read").expect("kept");
    assert_eq!(merged.merged_into, Some(into));
    assert!(store.merge_requests(from, into).await.is_err(), "a merged request cannot merge again");
    assert!(store.link_item_request(t1, from, LinkProvenance::Manual).await.is_err(), "nor take links");
    assert!(store.merge_requests(into, into).await.is_err());

    let demands = stored_demand(harness).await;
    assert_eq!(demands.iter().map(|d| d.request_id).collect::<Vec<_>>(), vec![into], "merged request not ranked");
    assert_eq!(demands[0].accounts.len(), 1);
    assert_eq!(demands[0].accounts[0].items, 2);
    assert_eq!(demands[0].unattributed_items, 1);
    assert_eq!(demands, store.recompute_demand().await.expect("recompute"));
}

fn issue(external_id: &str, key: &str, status: &str) -> ItemRecord {
    ItemRecord {
        key: Some(key.to_owned()),
        kind: Kind::FeatureRequest,
        status: status.to_owned(),
        ..item(external_id, &format!("{key}: export to CSV"))
    }
}

async fn key_mention_links_in_the_commit_and_anchor_status_flows(harness: &Harness) {
    let claim = harness.claim("zd").await;
    let early = ItemRecord { body: "we need PROD-7 badly".into(), ..item("t0", "before the promotion") };
    harness.commit(&claim, vec![Record::Item(issue("i7", "PROD-7", "To Do")), Record::Item(early)]).await;
    let request = harness.store.promote_issue("PROD-7").await.expect("promote");
    assert_eq!(request.status, RequestStatus::Open);
    assert!(harness.store.promote_issue("PROD-7").await.is_err(), "one request per anchor");
    assert!(harness.store.promote_issue("PROD-999").await.is_err(), "unknown key");
    assert!(harness.store.promote_issue("not a key").await.is_err());
    let (anchor, early) = (item_id(harness, "i7").await, item_id(harness, "t0").await);
    assert_eq!(provenance_of(harness, anchor, request.id).await, Some(LinkProvenance::Manual));
    assert_eq!(provenance_of(harness, early, request.id).await, Some(LinkProvenance::KeyMention));

    let mention = ItemRecord { body: "Customer asks about PROD-7 and XPROD-7".into(), ..item("t1", "CSV?") };
    let unrelated = ItemRecord { body: "PROD-8 is not anchored".into(), ..item("t2", "other") };
    harness.commit(&claim, vec![Record::Item(mention), Record::Item(unrelated)]).await;
    let (t1, t2) = (item_id(harness, "t1").await, item_id(harness, "t2").await);
    assert_eq!(provenance_of(harness, t1, request.id).await, Some(LinkProvenance::KeyMention));
    assert_eq!(provenance_of(harness, t2, request.id).await, None);
    let item = harness.store.items_by_id(&[t1], crate::Raw::Omit).await.expect("read").remove(0);
    assert_eq!(item.request_ids, vec![request.id]);
    let demand = stored_demand(harness).await;
    assert_eq!(demand[0].unattributed_items, 3, "anchor, early mention and the new one");

    harness
        .commit(&claim, vec![Record::Item(ItemRecord { updated_at: super::at(5), ..issue("i7", "PROD-7", "Done") })])
        .await;
    let shipped = harness.store.request(request.id).await.expect("read").expect("exists");
    assert_eq!(shipped.status, RequestStatus::Shipped, "the issue's status flows to the request");
}

async fn rejected_suggestion_is_remembered(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Item(item("t1", "one")), Record::Item(item("t2", "two"))]).await;
    let (t1, t2) = (item_id(harness, "t1").await, item_id(harness, "t2").await);
    let r = request(harness, "Dark mode").await;
    harness.store.reject_suggestion(r, t1).await.expect("reject");
    harness.store.reject_suggestion(r, t1).await.expect("rejecting twice is harmless");
    let reopened = harness.reopen().await;
    assert_eq!(reopened.rejections(Some(r), None).await.expect("read"), vec![(r, t1)]);
    assert_eq!(reopened.rejections(None, Some(t1)).await.expect("read"), vec![(r, t1)]);
    assert!(reopened.rejections(None, Some(t2)).await.expect("read").is_empty());
    assert!(harness.store.reject_suggestion(r + 100, t1).await.is_err(), "unknown request");
    // Accepting it after all forgets the rejection.
    harness.store.link_item_request(t1, r, LinkProvenance::Suggestion).await.expect("accept");
    assert!(harness.store.rejections(Some(r), None).await.expect("read").is_empty());
}

async fn manual_link_is_never_overwritten_by_a_mention(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Item(issue("i1", "WEB-1", "Open")), Record::Item(item("t1", "plain"))]).await;
    let request = harness.store.promote_issue("WEB-1").await.expect("promote");
    let t1 = item_id(harness, "t1").await;
    harness.store.link_item_request(t1, request.id, LinkProvenance::Manual).await.expect("link");
    let mention = ItemRecord { body: "see WEB-1".into(), updated_at: super::at(6), ..item("t1", "plain") };
    harness.commit(&claim, vec![Record::Item(mention)]).await;
    assert_eq!(provenance_of(harness, t1, request.id).await, Some(LinkProvenance::Manual));
    // An accepted suggestion is a person's word too.
    harness.store.unlink_item_request(t1, request.id).await.expect("unlink");
    harness.store.link_item_request(t1, request.id, LinkProvenance::Suggestion).await.expect("link");
    let again = ItemRecord { body: "see WEB-1 again".into(), updated_at: super::at(7), ..item("t1", "plain") };
    harness.commit(&claim, vec![Record::Item(again)]).await;
    assert_eq!(provenance_of(harness, t1, request.id).await, Some(LinkProvenance::Suggestion));
}

/// A fixed-seed generator: the same sequence on every run and backend.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

async fn demand_equals_recomputation_after_random_writes(harness: &Harness) {
    let claim = harness.claim("zd").await;
    let orgs = ["o1", "o2", "o3"];
    harness
        .commit(&claim, orgs.iter().enumerate().map(|(n, o)| Record::Account(paying(o, o, 1_000 * n as i64))).collect())
        .await;
    let kinds = Kind::ALL;
    let mut rng = Lcg(7);
    let mut version = 3;
    let item_record = |n: u64, rng: &mut Lcg, version: u32| {
        let base = match rng.below(3) {
            0 => item_for_org(&format!("t{n}"), orgs[rng.below(3) as usize]),
            1 => item_by(&format!("t{n}"), &format!("person{}@example.org", rng.below(4))),
            _ => item(&format!("t{n}"), "stray"),
        };
        ItemRecord {
            kind: kinds[rng.below(kinds.len() as u64) as usize],
            created_at: super::at(rng.below(20) as u32),
            updated_at: super::at(20 + version % 3),
            title: format!("item {n} v{version}"),
            ..base
        }
    };
    harness.commit(&claim, (0..10).map(|n| Record::Item(item_record(n, &mut rng, 0))).collect()).await;
    let mut items = Vec::new();
    for n in 0..10 {
        items.push(item_id(harness, &format!("t{n}")).await);
    }
    let mut requests = vec![request(harness, "r0").await, request(harness, "r1").await, request(harness, "r2").await];
    let provenances = [LinkProvenance::Manual, LinkProvenance::Suggestion, LinkProvenance::KeyMention];
    for step in 0..60 {
        let store = &harness.store;
        let item = items[rng.below(items.len() as u64) as usize];
        let live = requests[rng.below(requests.len() as u64) as usize];
        match rng.below(8) {
            0 | 1 => {
                let provenance = provenances[rng.below(3) as usize];
                store.link_item_request(item, live, provenance).await.expect("link");
            }
            2 => {
                store.unlink_item_request(item, live).await.expect("unlink");
            }
            3 if requests.len() > 1 => {
                let from = requests.remove(rng.below(requests.len() as u64) as usize);
                let into = requests[rng.below(requests.len() as u64) as usize];
                store.merge_requests(from, into).await.expect("merge");
                requests.push(request(harness, &format!("r{step}")).await);
            }
            4 => {
                // Re-sync: the item may move account, change kind or date.
                version += 1;
                let n = rng.below(10);
                harness.commit(&claim, vec![Record::Item(item_record(n, &mut rng, version))]).await;
            }
            5 => {
                let n = rng.below(10);
                harness.commit(&claim, vec![deleted(EntityKind::Item, &format!("t{n}"))]).await;
            }
            6 => {
                let account = account_id(harness, orgs[rng.below(3) as usize]).await;
                store.link_item_account(item, account).await.expect("manual account link");
            }
            _ => {
                let domain: AccountImport = serde_json::from_value(serde_json::json!({
                    "name": format!("Example {step}"),
                    "domains": ["example.org"],
                }))
                .expect("import line");
                store.import_accounts(&[domain]).await.expect("import");
            }
        }
        let recomputed = harness.store.recompute_demand().await.expect("recompute");
        assert_eq!(stored_demand(harness).await, recomputed, "after step {step}");
    }
    let demands = stored_demand(harness).await;
    assert!(demands.iter().any(|d| !d.accounts.is_empty()), "the sequence linked something");
}

async fn arr_at_ask_shows_a_shrunk_account(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Account(paying("o1", "Acme", 100_000))]).await;
    harness.commit(&claim, vec![Record::Item(item_for_org("t1", "o1"))]).await;
    let t1 = item_id(harness, "t1").await;
    let r = request(harness, "Audit log").await;
    harness.store.link_item_request(t1, r, LinkProvenance::Manual).await.expect("link");
    harness.commit(&claim, vec![Record::Account(paying("o1", "Acme", 40_000))]).await;

    let inputs = harness.store.priority_inputs(Currency::USD, Some(&[r])).await.expect("inputs");
    let now = super::at(1) + chrono::Duration::days(1);
    let model = PriorityModel::new(
        PriorityWeights::default(),
        ExchangeRates::new(Currency::USD),
        &inputs.accounts,
        &inputs.opportunities,
        now,
    )
    .expect("model");
    let score = model.score(&inputs.demands[0]).expect("score");
    let member = &score.accounts[0].members[0];
    assert_eq!((member.arr_at_ask_minor, member.arr_minor), (Some(100_000), 40_000));
    assert_eq!(member.arr_change, ArrChange::Shrunk);
    assert_eq!(score.accounts[0].arr_minor, 40_000, "the score uses today's ARR");
}

async fn ranking_cache_ranks_again_only_after_a_write_or_with_age(harness: &Harness) {
    use std::sync::Arc;
    use std::time::Duration;

    let claim = harness.claim("zd").await;
    let accounts = vec![Record::Account(paying("o1", "Acme", 10_000)), Record::Account(paying("o2", "Globex", 50_000))];
    harness.commit(&claim, accounts).await;
    harness.commit(&claim, vec![Record::Item(item_for_org("t1", "o1")), Record::Item(item_for_org("t2", "o2"))]).await;
    let (t1, t2) = (item_id(harness, "t1").await, item_id(harness, "t2").await);
    let (sso, csv) = (request(harness, "SSO").await, request(harness, "CSV export").await);
    let store = harness.store.as_ref();
    store.link_item_request(t1, sso, LinkProvenance::Manual).await.expect("link");
    store.link_item_request(t2, csv, LinkProvenance::Manual).await.expect("link");

    let cache = crate::ranking::RankingCache::new(Duration::from_secs(60));
    let (weights, rates) = (PriorityWeights::default(), ExchangeRates::new(Currency::USD));
    let now = chrono::Utc::now();
    let first = cache.ranking(store, &weights, &rates, now).await.expect("rank");
    assert_eq!(first.ranked[0].request_id, csv, "Globex pays more");
    let again = cache.ranking(store, &weights, &rates, now + chrono::Duration::seconds(1)).await.expect("rank");
    assert!(Arc::ptr_eq(&first, &again), "nothing changed: the same ranking");

    // Acme's ARR grows past Globex's at the source: the next call ranks again and sees it.
    harness.commit(&claim, vec![Record::Account(paying("o1", "Acme", 90_000))]).await;
    let after = cache.ranking(store, &weights, &rates, now + chrono::Duration::seconds(2)).await.expect("rank");
    assert!(!Arc::ptr_eq(&first, &after));
    assert_eq!(after.ranked[0].request_id, sso);

    // No write, but older than the bound: ranked again (decay moves with time).
    let later = cache.ranking(store, &weights, &rates, now + chrono::Duration::seconds(120)).await.expect("rank");
    assert!(!Arc::ptr_eq(&after, &later));
    assert_eq!(later.ranked[0].request_id, sso);
}

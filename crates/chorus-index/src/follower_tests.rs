//! The follower's cheap paths and the reporting currency: reach in one currency, a
//! rebuild when the rates change, adds without deletes for new items, and the bulk path
//! when far behind.

use std::sync::Arc;

use chorus_core::{Currency, ExchangeRates, Rate};
use chorus_store::Store;

use crate::documents::Projector;
use crate::testing::{account, corpus, item, MemStore};
use crate::{IndexProjection, SearchIndex, SearchRequest};

fn dyn_store(store: &Arc<MemStore>) -> Arc<dyn Store> {
    Arc::clone(store) as Arc<dyn Store>
}

fn usd_with_eur(eur: &str) -> ExchangeRates {
    ExchangeRates::new(Currency::USD).with_rate(Currency::EUR, eur.parse::<Rate>().expect("rate"))
}

/// Two accounts of 1 000.00, one in USD and one in EUR, and one item of each.
fn two_currencies() -> Arc<MemStore> {
    let store = MemStore::default();
    store.put_account(account(1, "Dollar Co", 1_000, Some("smb"), None));
    store.put_account(chorus_core::Account { currency: "EUR".into(), ..account(2, "Euro GmbH", 1_000, None, None) });
    store.put_account(chorus_core::Account { currency: "GBP".into(), ..account(3, "Pound Ltd", 1_000, None, None) });
    let fixture = |id, account_id| {
        item((
            id,
            chorus_core::Source::Jira,
            chorus_core::Kind::Bug,
            "export fails",
            "",
            "open",
            account_id,
            &[],
            (1, 1),
            (1, 1),
            &[],
        ))
    };
    store.put_item(fixture(1, Some(1)));
    store.put_item(fixture(2, Some(2)));
    store.put_item(fixture(3, Some(3)));
    Arc::new(store)
}

#[tokio::test]
async fn reach_sums_arr_in_the_reporting_currency_and_follows_new_rates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = two_currencies();
    let index = SearchIndex::open(dir.path()).expect("open");
    let mut projection =
        IndexProjection::new(index.clone(), dyn_store(&store), usd_with_eur("1.25")).expect("projection");
    projection.catch_up().await.expect("catch up");
    let answer = index.search(&SearchRequest::new("export")).expect("search");
    assert_eq!(answer.reach.accounts, 3);
    // 1 000.00 USD + 1 000.00 EUR × 1.25; GBP has no rate and counts as 0, never 1:1.
    assert_eq!(answer.reach.arr_minor, 100_000 + 125_000);
    assert_eq!(answer.reach.currency, Some(Currency::USD));
    let euro = answer.hits.iter().find(|hit| hit.item_id == 2).expect("item 2");
    assert_eq!(euro.arr_minor, 125_000);

    // Same rates: nothing to redo.
    let again = projection.catch_up().await.expect("catch up");
    assert!(!again.rebuilt);

    // The config changes: the index is rebuilt with the new rates.
    drop(projection);
    let mut projection = IndexProjection::new(index.clone(), dyn_store(&store), usd_with_eur("2")).expect("projection");
    let outcome = projection.catch_up().await.expect("catch up");
    assert!(outcome.rebuilt, "new rates rebuild the index");
    let answer = index.search(&SearchRequest::new("export")).expect("search");
    assert_eq!(answer.reach.arr_minor, 100_000 + 200_000);

    // A new reporting currency: sums and hits are in euros.
    drop(projection);
    let eur = ExchangeRates::new(Currency::EUR).with_rate(Currency::USD, "0.5".parse::<Rate>().expect("rate"));
    let mut projection = IndexProjection::new(index.clone(), dyn_store(&store), eur).expect("projection");
    assert!(projection.catch_up().await.expect("catch up").rebuilt);
    let answer = index.search(&SearchRequest::new("export")).expect("search");
    assert_eq!(answer.reach.arr_minor, 50_000 + 100_000);
    assert_eq!(answer.reach.currency, Some(Currency::EUR));
}

#[tokio::test]
async fn new_items_are_added_without_a_delete_and_later_changes_replace_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = corpus();
    let index = SearchIndex::open(dir.path()).expect("open");
    let mut projection = IndexProjection::new(index.clone(), dyn_store(&store), ExchangeRates::default())
        .expect("projection")
        .with_batch(1);
    projection.catch_up().await.expect("catch up");
    let position = projection.position();
    let mut new = item((
        8,
        chorus_core::Source::Slack,
        chorus_core::Kind::Bug,
        "webhook retries",
        "",
        "open",
        None,
        &[],
        (4, 1),
        (4, 1),
        &[],
    ));
    store.put_item(new.clone());
    store.update_item(1, |item| item.title = "SSO login fails with SAML and OIDC".into());

    let projector = Projector::new(index.live().fields, Arc::new(ExchangeRates::default()));
    let (ops, _, _) = crate::writer::changes_to_ops(&dyn_store(&store), &projector, position, 10, 7)
        .await
        .expect("read changes")
        .expect("changes");
    let deletes: Vec<(i64, bool)> = ops.iter().map(|op| (op.item_id, op.delete)).collect();
    assert_eq!(deletes, vec![(1, true), (8, false)], "only items the index may hold are deleted first");

    // Item 8 is added in one batch, then changed twice in later ones: still one document.
    projection.catch_up().await.expect("catch up");
    new.title = "webhook retries forever".into();
    store.put_item(new.clone());
    new.title = "webhook retries forever and ever".into();
    store.put_item(new);
    projection.catch_up().await.expect("catch up");
    let answer = index.search(&SearchRequest::new("webhook")).expect("search");
    assert_eq!(answer.total, 1);
    assert_eq!(answer.hits[0].title, "webhook retries forever and ever");
    assert_eq!(index.num_docs(), 8);
}

#[tokio::test]
async fn far_behind_the_follower_rebuilds_in_bulk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = corpus();
    let index = SearchIndex::open(dir.path()).expect("open");
    let mut projection = IndexProjection::new(index.clone(), dyn_store(&store), ExchangeRates::default())
        .expect("projection")
        .with_bulk_changes(10);
    projection.catch_up().await.expect("catch up");
    // A few changes are replayed...
    store.tombstone(7);
    let outcome = projection.catch_up().await.expect("catch up");
    assert!(!outcome.rebuilt);
    assert_eq!(outcome.changes, 1);
    // ...but a bulk import larger than the index is scanned in bulk.
    for id in 100..120 {
        store.put_item(item((
            id,
            chorus_core::Source::Jira,
            chorus_core::Kind::Bug,
            "imported",
            "",
            "open",
            Some(1),
            &[],
            (4, 1),
            (4, 1),
            &[],
        )));
    }
    let outcome = projection.catch_up().await.expect("catch up");
    assert!(outcome.rebuilt, "far behind: rebuilt in bulk");
    assert_eq!(index.num_docs(), 6 + 20);
    assert_eq!(index.search(&SearchRequest::new("imported")).expect("search").total, 20);
    // And it follows on from there.
    store.tombstone(100);
    let outcome = projection.catch_up().await.expect("catch up");
    assert!(!outcome.rebuilt);
    assert_eq!(index.search(&SearchRequest::new("imported")).expect("search").total, 19);
}

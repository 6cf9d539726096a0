//! Reads: item pages and filters, items by id with links, contacts, requests, counts.

use chorus_core::{LinkProvenance, Record};

use super::{account_id, item, item_for_org, item_id, org, store_suite, user, Harness};
use crate::{IdPage, ItemFilter, NewRequest, Raw, Store, StoreError};

store_suite!(
    items_page_by_id_and_filter_by_connector,
    items_by_id_carry_account_and_requests,
    contacts_and_counts_reflect_the_sync,
    links_to_missing_things_are_not_found,
);

async fn items_page_by_id_and_filter_by_connector(harness: &Harness) {
    let zd = harness.claim("zd").await;
    let records = (1..=5).map(|n| Record::Item(item(&n.to_string(), "t"))).collect();
    harness.commit(&zd, records).await;
    let jira = harness.claim("jira").await;
    harness.commit(&jira, vec![Record::Item(item("PROD-1", "issue"))]).await;

    let first = harness.store.items(&ItemFilter::default(), IdPage::first(4)).await.expect("page");
    assert_eq!(first.len(), 4);
    let after = IdPage { after_id: first[3].id, limit: 4 };
    let second = harness.store.items(&ItemFilter::default(), after).await.expect("page");
    assert_eq!(second.len(), 2);
    assert!(first.iter().chain(&second).map(|i| i.id).collect::<Vec<_>>().windows(2).all(|w| w[0] < w[1]));

    let only_jira = ItemFilter { connector: Some("jira".into()), ..ItemFilter::default() };
    let jira_items = harness.store.items(&only_jira, IdPage::first(10)).await.expect("page");
    assert_eq!(jira_items.iter().map(|i| i.external_id.as_str()).collect::<Vec<_>>(), ["PROD-1"]);
    let stored = &jira_items[0];
    let expected = item("PROD-1", "issue");
    assert_eq!((stored.title.as_str(), stored.body.as_str()), (expected.title.as_str(), expected.body.as_str()));
    assert_eq!((stored.created_at, stored.updated_at), (expected.created_at, expected.updated_at));
    assert_eq!((stored.tags.clone(), stored.url.clone()), (expected.tags, expected.url));
    assert_eq!(stored.raw, expected.raw);
    assert_ne!(stored.raw, serde_json::Value::Null, "the fixture carries a payload");
    let lean = ItemFilter { connector: Some("jira".into()), raw: Raw::Omit, ..ItemFilter::default() };
    let lean = harness.store.items(&lean, IdPage::first(10)).await.expect("page without raw");
    assert_eq!(lean[0].raw, serde_json::Value::Null);
    assert_eq!(lean[0], crate::Item { raw: serde_json::Value::Null, ..stored.clone() }, "all else equal");
    let live = harness.store.live_external_ids("zd").await.expect("live");
    assert_eq!(live, ["1", "2", "3", "4", "5"]);
}

async fn items_by_id_carry_account_and_requests(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Account(org("o1", "Acme", &[]))]).await;
    harness.commit(&claim, vec![Record::Item(item_for_org("t1", "o1")), Record::Item(item("t2", "two"))]).await;
    let (t1, t2) = (item_id(harness, "t1").await, item_id(harness, "t2").await);
    let request = harness
        .store
        .create_request(&NewRequest { title: "Dark mode".into(), description: "d".into(), anchor_item_id: Some(t2) })
        .await
        .expect("request");
    harness.store.link_item_request(t1, request.id, LinkProvenance::KeyMention).await.expect("link");
    harness.store.link_item_request(t1, request.id, LinkProvenance::Manual).await.expect("relink");

    let items = harness.store.items_by_id(&[t2, 999_999, t1, t1], Raw::Include).await.expect("read");
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), [t1, t2]);
    assert_eq!(items[0].account_id, Some(account_id(harness, "o1").await));
    assert_eq!(items[0].request_ids, [request.id]);
    assert!(items[1].request_ids.is_empty());
    let lean = harness.store.items_by_id(&[t1, t2], Raw::Omit).await.expect("read without raw");
    let stripped: Vec<_> =
        items.iter().map(|item| crate::Item { raw: serde_json::Value::Null, ..item.clone() }).collect();
    assert_eq!(lean, stripped, "the same items, raw left null");
    let mut by_external =
        harness.store.items_by_external_ids("zd", &["t2", "nope", "t1"], Raw::Omit).await.expect("read");
    by_external.sort_by_key(|item| item.id);
    assert_eq!(by_external, stripped, "the same items, by external id");
    let other = harness.store.items_by_external_ids("other", &["t1", "t2"], Raw::Omit).await.expect("read");
    assert!(other.is_empty(), "another connector's ids are its own");
    let requests = harness.store.requests(IdPage::first(10)).await.expect("requests");
    assert_eq!(requests, vec![request]);
}

async fn contacts_and_counts_reflect_the_sync(harness: &Harness) {
    let claim = harness.claim("zd").await;
    let outcome = harness
        .commit(
            &claim,
            vec![
                Record::Account(org("o1", "Acme", &["acme.com"])),
                Record::Contact(user("u1", " Ann@Acme.com ", Some("o1"))),
                Record::Contact(user("u2", "not-an-email", None)),
                Record::Item(item("t1", "one")),
            ],
        )
        .await;
    assert_eq!((outcome.upserted, outcome.unchanged), (3, 1));
    let contacts = harness.store.contacts(IdPage::first(10)).await.expect("contacts");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].email, "ann@acme.com");
    assert_eq!(contacts[0].account_id, Some(account_id(harness, "o1").await));
    assert_eq!(contacts[0].external_ids[0].id, "u1");
    let counts = harness.store.counts().await.expect("counts");
    assert_eq!((counts.items, counts.tombstones, counts.accounts, counts.contacts), (1, 0, 1, 1));
    assert_eq!(counts.last_change, harness.store.last_change().await.expect("last"));
}

async fn links_to_missing_things_are_not_found(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Item(item("t1", "one"))]).await;
    let t1 = item_id(harness, "t1").await;
    let missing = harness.store.link_item_account(t1, 4242).await;
    assert!(matches!(missing, Err(StoreError::NotFound { what: "account", id: 4242 })), "{missing:?}");
    let missing = harness.store.link_item_request(4343, 1, LinkProvenance::Manual).await;
    assert!(matches!(missing, Err(StoreError::NotFound { what: "item", .. })), "{missing:?}");
}

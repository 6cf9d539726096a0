//! Opportunity records: pipeline per account, stale copies, moves and tombstones.

use chorus_core::{EntityKind, OpportunityRecord, Record};
use chrono::NaiveDate;

use super::{account_id, at, deleted, org, store_suite, Harness};
use crate::{ChangeEntity, Pipeline, Store};

store_suite!(
    open_pipeline_sums_open_opportunities_per_currency,
    stale_copies_never_overwrite_and_tombstones_revive_only_when_served_again,
    moving_an_opportunity_moves_its_pipeline_and_logs_both_accounts,
    deleting_a_blocking_opportunity_refreshes_its_requests_demand,
);

fn opportunity(external_id: &str, account: &str, amount_minor: i64, probability: f64) -> OpportunityRecord {
    OpportunityRecord {
        external_id: external_id.to_owned(),
        name: format!("deal {external_id}"),
        account_external_id: Some(account.to_owned()),
        amount_minor: Some(amount_minor),
        currency: Some("USD".to_owned()),
        stage: "Negotiation/Review".to_owned(),
        probability: Some(probability),
        close_date: NaiveDate::from_ymd_opt(2025, 3, 31),
        closed: false,
        won: false,
        blocker_external_id: None,
        updated_at: at(2),
    }
}

async fn open_pipeline_sums_open_opportunities_per_currency(harness: &Harness) {
    let claim = harness.claim("zd").await;
    let euro = OpportunityRecord { currency: Some("EUR".to_owned()), ..opportunity("o3", "a1", 4_000_000, 50.0) };
    let won = OpportunityRecord { closed: true, won: true, ..opportunity("o4", "a1", 9_900_000, 100.0) };
    let outcome = harness
        .commit(
            &claim,
            vec![
                Record::Account(org("a1", "Acme", &["acme.com"])),
                Record::Opportunity(opportunity("o1", "a1", 1_000_000, 25.0)),
                Record::Opportunity(opportunity("o2", "a1", 2_000_000, 50.0)),
                Record::Opportunity(euro),
                Record::Opportunity(won),
            ],
        )
        .await;
    assert_eq!(outcome.upserted, 5);
    let account = account_id(harness, "a1").await;
    let all = harness.store.opportunities_of_account(account).await.expect("read opportunities");
    assert_eq!(all.len(), 4, "closed ones are listed too");
    assert!(all.iter().all(|o| o.account_id == Some(account)));
    let pipeline = harness.store.open_pipeline(account).await.expect("pipeline");
    assert_eq!(
        pipeline,
        vec![
            Pipeline { currency: "EUR".into(), open: 1, amount_minor: 4_000_000, weighted_minor: 2_000_000 },
            Pipeline { currency: "USD".into(), open: 2, amount_minor: 3_000_000, weighted_minor: 1_250_000 },
        ]
    );
    // The same page again writes nothing.
    let again = harness.commit(&claim, vec![Record::Opportunity(opportunity("o1", "a1", 1_000_000, 25.0))]).await;
    assert_eq!((again.upserted, again.unchanged), (0, 1));
}

async fn stale_copies_never_overwrite_and_tombstones_revive_only_when_served_again(harness: &Harness) {
    let claim = harness.claim("zd").await;
    let newer = OpportunityRecord { amount_minor: Some(5_00), updated_at: at(5), ..opportunity("o1", "a1", 0, 10.0) };
    harness.commit(&claim, vec![Record::Account(org("a1", "Acme", &[])), Record::Opportunity(newer)]).await;
    let stale = harness.commit(&claim, vec![Record::Opportunity(opportunity("o1", "a1", 7_00, 10.0))]).await;
    assert_eq!((stale.upserted, stale.unchanged), (0, 1));
    let account = account_id(harness, "a1").await;
    let read = harness.store.opportunities_of_account(account).await.expect("read");
    assert_eq!(read[0].amount_minor, Some(5_00), "the older copy left the newer one alone");

    let gone = harness.commit(&claim, vec![deleted(EntityKind::Opportunity, "o1")]).await;
    assert_eq!(gone.deleted, 1);
    assert!(harness.store.opportunities_of_account(account).await.expect("read").is_empty());
    let twice = harness.commit(&claim, vec![deleted(EntityKind::Opportunity, "o1")]).await;
    assert_eq!((twice.deleted, twice.unchanged), (0, 1));

    let restored =
        OpportunityRecord { amount_minor: Some(6_00), updated_at: at(6), ..opportunity("o1", "a1", 0, 10.0) };
    harness.commit(&claim, vec![Record::Opportunity(restored)]).await;
    let read = harness.store.opportunities_of_account(account).await.expect("read");
    assert_eq!(read.len(), 1, "restored from the recycle bin");
    assert_eq!(read[0].amount_minor, Some(6_00));
}

async fn moving_an_opportunity_moves_its_pipeline_and_logs_both_accounts(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness
        .commit(
            &claim,
            vec![
                Record::Account(org("a1", "Acme", &["acme.com"])),
                Record::Account(org("a2", "Globex", &["globex.com"])),
                Record::Opportunity(opportunity("o1", "a1", 10_00, 50.0)),
            ],
        )
        .await;
    let (acme, globex) = (account_id(harness, "a1").await, account_id(harness, "a2").await);
    let before = harness.store.last_change().await.expect("last change");
    let moved = OpportunityRecord { updated_at: at(3), ..opportunity("o1", "a2", 10_00, 50.0) };
    harness.commit(&claim, vec![Record::Opportunity(moved)]).await;
    assert!(harness.store.opportunities_of_account(acme).await.expect("read").is_empty());
    assert_eq!(harness.store.opportunities_of_account(globex).await.expect("read").len(), 1);
    let changes = harness.store.changes_since(before, 10).await.expect("changes");
    let mut touched: Vec<i64> =
        changes.iter().filter(|c| c.entity == ChangeEntity::Account).map(|c| c.entity_id).collect();
    touched.sort_unstable();
    assert_eq!(touched, vec![acme.min(globex), acme.max(globex)]);
}

async fn deleting_a_blocking_opportunity_refreshes_its_requests_demand(harness: &Harness) {
    use chorus_core::{Currency, LinkProvenance};

    let claim = harness.claim("zd").await;
    let blocker = chorus_core::ItemRecord { kind: chorus_core::Kind::SalesBlocker, ..super::item_for_org("t1", "a1") };
    let records = vec![Record::Account(org("a1", "Acme", &["acme.com"])), Record::Item(blocker)];
    harness.commit(&claim, records).await;
    let item = super::item_id(harness, "t1").await;
    let new = crate::NewRequest { title: "SSO".into(), description: String::new(), anchor_item_id: None };
    let request = harness.store.create_request(&new).await.expect("request").id;
    harness.store.link_item_request(item, request, LinkProvenance::Manual).await.expect("link");
    let blocking =
        OpportunityRecord { blocker_external_id: Some("t1".into()), ..opportunity("o1", "a1", 1_000_000, 50.0) };
    harness.commit(&claim, vec![Record::Opportunity(blocking)]).await;
    let stored = |harness: &Harness| {
        let store = std::sync::Arc::clone(&harness.store);
        async move {
            let inputs = store.priority_inputs(Currency::USD, Some(&[request])).await.expect("inputs");
            inputs.demands.iter().map(|demand| demand.unpack().expect("stored demand reads")).collect::<Vec<_>>()
        }
    };
    assert_eq!(stored(harness).await[0].opportunities.len(), 1, "the deal blocks the request");

    // The deal is deleted at the source: the request no longer counts it, as a
    // from-scratch recomputation says.
    harness.commit(&claim, vec![deleted(EntityKind::Opportunity, "o1")]).await;
    let after = stored(harness).await;
    assert!(after[0].opportunities.is_empty(), "{after:?}");
    let recomputed = harness.store.recompute_demand().await.expect("recompute");
    assert_eq!(recomputed.iter().find(|d| d.request_id == request), after.first());
}

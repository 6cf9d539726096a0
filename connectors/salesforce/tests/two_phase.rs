//! The two-phase test: a full sync of the Salesforce simulator over real HTTP (login
//! and instance on two ports) under a heavy fault profile, then edits, deletions to the
//! recycle bin, a restore, a blocker cleared and a case added at exactly the cursor's
//! `SystemModstamp`, then an incremental sync. The store must equal the org's truth —
//! nothing lost, duplicated, stale or left behind, deletions tombstoned — and no
//! request may arrive inside a `Retry-After` window.

mod support;

use std::time::Duration;

use chorus_core::Kind;
use chorus_sim::salesforce::{soql, SalesforceSim, SalesforceSimConfig, SalesforceTruth};
use chorus_sim::{CutBody, CutForm, ErrorBurst, FaultProfile, Latency, RateLimitFault, TokenExpiry, Trigger};
use chorus_store::Store;
use serde_json::{json, Value};

use support::{Snapshot, TestResult};

fn heavy_faults() -> FaultProfile {
    FaultProfile {
        seed: 5,
        scope: None,
        rate_limit: Some(RateLimitFault::new(Trigger::Probability(0.05), Duration::from_secs(1))),
        error_burst: Some(ErrorBurst { after_n: 3, len: 3, status: 503 }),
        latency: Some(Latency { min: Duration::ZERO, max: Duration::from_millis(10), when: Trigger::Probability(0.3) }),
        cut_bodies: vec![
            CutBody::nth("/services/data/v62.0/sobjects/", 2),
            CutBody::nth("/services/data/v62.0/query", 2),
            CutBody {
                path_prefix: "/services/data/v62.0/query/".into(),
                when: Trigger::Nth(3),
                form: CutForm::NotJson,
            },
            CutBody {
                path_prefix: "/services/data/v62.0/queryAll".into(),
                when: Trigger::Nth(1),
                form: CutForm::Empty,
            },
        ],
        wrong_shape: None,
        // Sessions die now and then mid-run, as a 401.
        token_expiry: Some(TokenExpiry { when: Trigger::AnyOf(vec![9, 31]) }),
    }
}

fn text(record: &chorus_sim::salesforce::SimRecord, field: &str) -> Option<String> {
    record.get(field).as_str().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

async fn assert_matches(store: &dyn Store, snapshot: &Snapshot, truth: &SalesforceTruth) -> TestResult {
    let empty = Default::default();
    let live = |object: &str| truth.live.get(object).unwrap_or(&empty);
    let cases = live("Case");
    let opportunities = live("Opportunity");
    let blockers = opportunities.values().filter(|o| text(o, "Product_Gap__c").is_some()).count();
    assert_eq!(snapshot.live_items().count(), cases.len() + blockers, "live items: cases plus blockers");
    for (id, case) in cases {
        let item = snapshot.items.get(id).ok_or_else(|| format!("case {id} is missing"))?;
        assert!(item.deleted_at.is_none(), "case {id} is live");
        assert_eq!(Some(item.title.clone()), text(case, "Subject"), "case {id} title");
        assert_eq!(Some(item.status.clone()), text(case, "Status"), "case {id} status");
        let kind = if text(case, "Type").as_deref() == Some("Feature Request") {
            Kind::FeatureRequest
        } else {
            Kind::SupportTicket
        };
        assert_eq!(item.kind, kind, "case {id} kind");
        let stamp = soql::parse_datetime(&text(case, "SystemModstamp").unwrap_or_default());
        assert_eq!(Some(item.updated_at), stamp, "case {id} is not stale");
        let account = item.account_id.and_then(|a| snapshot.accounts.iter().find(|x| x.id == a));
        let expected = text(case, "AccountId").unwrap_or_default();
        assert!(account.is_some_and(|a| a.external_ids.iter().any(|e| e.id == expected)), "case {id} on its account");
    }
    for id in truth.deleted.get("Case").into_iter().flatten() {
        assert!(snapshot.items.get(id).is_none_or(|i| i.deleted_at.is_some()), "deleted case {id} left behind");
    }
    for (id, account) in live("Account") {
        let stored = snapshot.account_of(id).ok_or_else(|| format!("account {id} is missing"))?;
        let arr = account.get("AnnualRevenue").as_f64().map(|major| (major * 100.0).round() as i64);
        if let Some(arr) = arr {
            assert_eq!(stored.arr_minor, arr, "account {id} ARR");
        }
        assert_eq!(Some(stored.currency.clone()), text(account, "CurrencyIsoCode"), "account {id} currency");
        let mut pipeline: Vec<(String, Option<i64>)> = store
            .opportunities_of_account(stored.id)
            .await?
            .into_iter()
            .filter(|o| o.account_external_id.as_deref() == Some(id.as_str()))
            .map(|o| (o.external_id, o.amount_minor))
            .collect();
        pipeline.sort();
        let mut expected: Vec<(String, Option<i64>)> = opportunities
            .iter()
            .filter(|(_, o)| text(o, "AccountId").as_deref() == Some(id.as_str()))
            .map(|(oid, o)| (oid.clone(), o.get("Amount").as_f64().map(|a| (a * 100.0).round() as i64)))
            .collect();
        expected.sort();
        assert_eq!(pipeline, expected, "account {id} opportunities");
    }
    for (id, opportunity) in opportunities {
        let blocker = snapshot.items.get(&format!("{id}:blocker")).filter(|i| i.deleted_at.is_none());
        match text(opportunity, "Product_Gap__c") {
            Some(gap) => {
                let item = blocker.ok_or_else(|| format!("blocker of {id} is missing"))?;
                assert_eq!(item.kind, Kind::SalesBlocker);
                assert!(item.body.starts_with(&gap), "blocker of {id} body");
            }
            None => assert!(blocker.is_none(), "blocker of {id} left behind"),
        }
    }
    for id in truth.deleted.get("Opportunity").into_iter().flatten() {
        let live = snapshot.items.get(&format!("{id}:blocker")).is_some_and(|i| i.deleted_at.is_none());
        assert!(!live, "blocker of deleted opportunity {id} left behind");
    }
    for contact in live("Contact").values() {
        let email = text(contact, "Email").unwrap_or_default().to_ascii_lowercase();
        assert!(snapshot.contacts.iter().any(|c| c.email == email), "contact {email}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_then_incremental_sync_matches_the_truth_under_faults() -> TestResult {
    let clock = support::clock()?;
    let config = SalesforceSimConfig { batch_size: 7, ..SalesforceSimConfig::default() };
    let org = support::start(config, clock.clone(), FaultProfile::none(), heavy_faults()).await?;
    let sim: &SalesforceSim = &org.sim;
    let store = support::memory_store().await?;
    let engine = support::engine(&store);
    let connector = support::build(&support::settings(&org.login.url(), json!({})), &store, true)?;

    // Phase 1: full sync.
    support::sync(&engine, connector.as_ref()).await?;
    assert_matches(store.as_ref(), &support::snapshot(store.as_ref()).await?, &sim.truth()).await?;
    assert!(org.instance.faults().injected() > 0, "the fault profile fired");

    // Phase 2: the org changes. The boundary: the newest case's second, read in phase 1.
    let last =
        sim.records("Case").values().map(|c| text(c, "SystemModstamp").unwrap_or_default()).max().unwrap_or_default();
    clock.advance(Duration::from_secs(30));
    let cases: Vec<String> = sim.records("Case").keys().cloned().collect();
    let opportunities: Vec<(String, Value)> =
        sim.records("Opportunity").into_iter().map(|(id, o)| (id, o.get("Product_Gap__c"))).collect();
    let accounts: Vec<String> = sim.records("Account").keys().cloned().collect();
    assert!(sim.update(
        "Case",
        &cases[0],
        &[("Subject", json!("Export to CSV times out (edited)")), ("Status", json!("Closed"))]
    ));
    assert!(sim.delete("Case", &cases[1]));
    assert!(sim.update("Account", &accounts[0], &[("AnnualRevenue", json!(1_300_000.75))]));
    let with_gap: Vec<&String> = opportunities.iter().filter(|(_, gap)| !gap.is_null()).map(|(id, _)| id).collect();
    assert!(sim.update("Opportunity", with_gap[0], &[("Product_Gap__c", Value::Null)]), "a blocker is resolved");
    assert!(sim.delete("Opportunity", with_gap[1]), "an opportunity goes to the recycle bin");
    let binned = sim.truth().deleted.get("Opportunity").cloned().unwrap_or_default();
    assert!(sim.undelete("Opportunity", &binned[0]), "one comes back from the recycle bin");
    // A case stamped at exactly the last case's second, ordered after it by Id.
    let added = sim
        .create(
            "Case",
            &[
                ("Subject", json!("Added at the boundary")),
                ("Status", json!("New")),
                ("Type", json!("Feature Request")),
                ("AccountId", json!(accounts[1])),
            ],
        )
        .ok_or("created")?;
    let at = soql::parse_datetime(&last).ok_or("stamp")?;
    sim.stamp_together("Case", &[added.as_str()], at);

    support::sync(&engine, connector.as_ref()).await?;
    let snapshot = support::snapshot(store.as_ref()).await?;
    assert_matches(store.as_ref(), &snapshot, &sim.truth()).await?;
    assert!(snapshot.items.get(&added).is_some_and(|i| i.deleted_at.is_none()), "the boundary case arrived");
    assert!(snapshot.items.get(&cases[1]).is_some_and(|i| i.deleted_at.is_some()), "the deleted case is tombstoned");

    assert_eq!(org.instance.faults().cut_bodies_served(), [1; 4], "every planned cut was served");
    assert_eq!(org.instance.retry_after_violations(), 0, "no request inside a Retry-After window");
    assert_eq!(sim.authority().violations(), 0, "no revoked refresh token was sent again");
    Ok(())
}

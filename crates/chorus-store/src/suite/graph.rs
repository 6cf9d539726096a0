//! The account graph: merges by id claims between sources and by registered domain, hand
//! merges and splits, and that a split stays split through later syncs.

use chorus_core::source_id::salesforce_id18;
use chorus_core::{AccountRecord, LifecycleStage, Record, Source, SourceRef};
use chrono::NaiveDate;

use super::{account_id, account_of, item_by, org, store_suite, Harness};
use crate::{ChangeEntity, IdPage, JoinedBy, RecordKey, Store, StoreError};

store_suite!(
    zendesk_org_naming_a_salesforce_id_is_that_account,
    salesforce_account_arriving_after_its_org_claims_it,
    subdomains_merge_and_match_by_registered_domain,
    free_mail_never_merges_even_as_a_subdomain,
    hand_merge_moves_everything_and_remembers_where,
    split_stays_split_through_resyncs,
    split_gives_each_half_its_own_records_fields,
    split_of_records_stored_before_their_fields_keeps_the_old_values,
    split_refuses_what_it_cannot_do,
);

const SF_15: &str = "001Dn00000ABcdE";

fn sf_account(external_id: &str, name: &str, domains: &[&str]) -> AccountRecord {
    AccountRecord { arr_minor: Some(1_000_000), currency: Some("USD".into()), ..org(external_id, name, domains) }
}

fn claiming(external_id: &str, name: &str, domains: &[&str], salesforce_id: &str) -> AccountRecord {
    AccountRecord {
        same_as: vec![SourceRef { source: Source::Salesforce, id: salesforce_id.to_owned() }],
        ..org(external_id, name, domains)
    }
}

async fn sf_id(harness: &Harness, external_id: &str) -> i64 {
    sqlx::query_scalar("SELECT account_id FROM account_external_ids WHERE connector = 'sf' AND external_id = $1")
        .bind(external_id)
        .fetch_one(&harness.store.reader)
        .await
        .expect("account mapped")
}

fn key(connector: &str, external_id: &str) -> RecordKey {
    RecordKey { connector: connector.to_owned(), external_id: external_id.to_owned() }
}

async fn zendesk_org_naming_a_salesforce_id_is_that_account(harness: &Harness) {
    let id18 = salesforce_id18(SF_15).expect("valid id");
    let sf = harness.claim("sf").await;
    harness
        .commit_as(&sf, Source::Salesforce, vec![Record::Account(sf_account(&id18, "Acme Corp", &["acme-corp.com"]))])
        .await;
    let zd = harness.claim("zd").await;
    // Different names and domains: only the id says they are one. The 15-char form in
    // lower case (a copy that lost its case) still names it, through the 18-char form.
    let records = vec![
        Record::Account(claiming("o1", "Acme Corporation", &["acme.example"], SF_15)),
        Record::Account(claiming("o2", "Acme EMEA", &["acme-emea.example"], &id18.to_ascii_lowercase())),
        Record::Account(claiming("o3", "Not a customer", &["nope.example"], "SF-01000")),
    ];
    harness.commit(&zd, records).await;
    let account = sf_id(harness, &id18).await;
    assert_eq!(account_id(harness, "o1").await, account);
    assert_eq!(account_id(harness, "o2").await, account);
    assert_ne!(account_id(harness, "o3").await, account);

    let detail = harness.store.account_detail(account).await.expect("read").expect("exists");
    assert_eq!(detail.account.name, "Acme Corp", "the first source keeps its name");
    assert_eq!(detail.account.arr_minor, 1_000_000);
    let joined: Vec<(&str, JoinedBy)> = detail.sources.iter().map(|s| (s.external_id.as_str(), s.joined_by)).collect();
    assert!(joined.contains(&(id18.as_str(), JoinedBy::Created)), "{joined:?}");
    assert!(joined.contains(&("o1", JoinedBy::SameAs)), "{joined:?}");
    assert!(joined.contains(&("o2", JoinedBy::SameAs)), "{joined:?}");
    let o1 = detail.sources.iter().find(|s| s.external_id == "o1").expect("o1 listed");
    assert_eq!(o1.name.as_deref(), Some("Acme Corporation"));
    assert_eq!(o1.domains, ["acme.example"]);
    assert_eq!(o1.same_as, [format!("salesforce:{SF_15}")]);
}

async fn salesforce_account_arriving_after_its_org_claims_it(harness: &Harness) {
    let id18 = salesforce_id18(SF_15).expect("valid id");
    let zd = harness.claim("zd").await;
    harness.commit(&zd, vec![Record::Account(claiming("o1", "Acme Corporation", &["acme.example"], &id18))]).await;
    harness.commit(&zd, vec![Record::Item(item_by("t1", "ann@acme.example"))]).await;
    let org_account = account_id(harness, "o1").await;
    assert_eq!(account_of(harness, "t1").await, Some(org_account));

    let sf = harness.claim("sf").await;
    harness
        .commit_as(&sf, Source::Salesforce, vec![Record::Account(sf_account(&id18, "Acme Corp", &["acme-corp.com"]))])
        .await;
    assert_eq!(sf_id(harness, &id18).await, org_account, "the org's claim names this record");
    assert_eq!(harness.store.counts().await.expect("counts").accounts, 1);
    let account = harness.store.accounts_by_id(&[org_account]).await.expect("read").remove(0);
    assert_eq!(account.arr_minor, 1_000_000, "the CRM fills what the org left blank");
}

async fn subdomains_merge_and_match_by_registered_domain(harness: &Harness) {
    let sf = harness.claim("sf").await;
    harness
        .commit_as(&sf, Source::Salesforce, vec![Record::Account(sf_account("a1", "Acme UK", &["acme.co.uk"]))])
        .await;
    let zd = harness.claim("zd").await;
    let records = vec![
        Record::Account(org("o1", "Acme Europe", &["eu.acme.co.uk"])),
        // a bare public suffix matches no one
        Record::Account(org("o2", "Suffix", &["co.uk"])),
        Record::Item(item_by("t1", "Ann@Sales.EU.acme.co.uk")),
        Record::Item(item_by("t2", "bob@other.co.uk")),
    ];
    harness.commit(&zd, records).await;
    let account = sf_id(harness, "a1").await;
    assert_eq!(account_id(harness, "o1").await, account, "eu.acme.co.uk is acme.co.uk");
    assert_ne!(account_id(harness, "o2").await, account);
    assert_eq!(account_of(harness, "t1").await, Some(account));
    assert_eq!(account_of(harness, "t2").await, None);
    let detail = harness.store.account_detail(account).await.expect("read").expect("exists");
    assert_eq!(detail.sources.iter().find(|s| s.external_id == "o1").map(|s| s.joined_by), Some(JoinedBy::Domain));
}

async fn free_mail_never_merges_even_as_a_subdomain(harness: &Harness) {
    let sf = harness.claim("sf").await;
    harness.commit_as(&sf, Source::Salesforce, vec![Record::Account(sf_account("a1", "Solo", &["yahoo.co.uk"]))]).await;
    let zd = harness.claim("zd").await;
    let records = vec![
        Record::Account(org("o1", "Another solo", &["mail.yahoo.co.uk"])),
        Record::Item(item_by("t1", "carol@mail.yahoo.co.uk")),
    ];
    harness.commit(&zd, records).await;
    assert_ne!(account_id(harness, "o1").await, sf_id(harness, "a1").await);
    assert_eq!(account_of(harness, "t1").await, None);
    let queue = harness.store.triage(None, 10).await.expect("triage");
    assert_eq!(queue.iter().map(|item| item.external_id.as_str()).collect::<Vec<_>>(), ["t1"]);
}

async fn hand_merge_moves_everything_and_remembers_where(harness: &Harness) {
    let zd = harness.claim("zd").await;
    let records = vec![
        Record::Account(org("o1", "Acme", &["acme.example"])),
        Record::Account(AccountRecord { parent_external_id: Some("o2".into()), ..org("o3", "Acme Labs", &[]) }),
        Record::Account(org("o2", "ACME Holdings", &["acme-holdings.example"])),
        Record::Contact(super::user("u1", "dan@acme-holdings.example", Some("o2"))),
        Record::Item(item_by("t1", "ann@acme.example")),
        Record::Item(item_by("t2", "dan@acme-holdings.example")),
    ];
    harness.commit(&zd, records).await;
    harness
        .commit(
            &zd,
            vec![Record::Account(AccountRecord {
                parent_external_id: Some("o2".into()),
                ..org("o3", "Acme Labs", &[])
            })],
        )
        .await;
    let (into, from, child) =
        (account_id(harness, "o1").await, account_id(harness, "o2").await, account_id(harness, "o3").await);
    harness.store.merge_accounts(into, from).await.expect("merge");

    assert_eq!(account_id(harness, "o2").await, into, "the record moved");
    assert_eq!(account_of(harness, "t2").await, Some(into), "items follow");
    let contacts = harness.store.contacts(IdPage::first(10)).await.expect("contacts");
    assert_eq!(contacts[0].account_id, Some(into));
    let gone = harness.store.account_detail(from).await.expect("read").expect("kept");
    assert_eq!(gone.account.merged_into, Some(into));
    assert!(gone.deleted);
    let kept = harness.store.account_detail(into).await.expect("read").expect("exists");
    assert_eq!(kept.account.domains, ["acme-holdings.example", "acme.example"]);
    assert_eq!(kept.children, [child], "children follow their parent");
    assert_eq!(kept.sources.iter().find(|s| s.external_id == "o2").map(|s| s.joined_by), Some(JoinedBy::Merge));
    assert!(!harness.store.accounts(IdPage::first(10)).await.expect("accounts").iter().any(|a| a.id == from));

    // Merging away an account twice, or into itself, is refused with the reason.
    let err = harness.store.merge_accounts(into, from).await.expect_err("already merged");
    assert!(matches!(&err, StoreError::Conflict(m) if m.contains(&format!("merged into {into}"))), "{err}");
    assert!(harness.store.merge_accounts(into, into).await.is_err());
    assert!(matches!(harness.store.merge_accounts(into, 9999).await, Err(StoreError::NotFound { .. })));
}

async fn split_stays_split_through_resyncs(harness: &Harness) {
    let id18 = salesforce_id18(SF_15).expect("valid id");
    let sf = harness.claim("sf").await;
    let crm = sf_account(&id18, "Acme Corp", &["acme.com"]);
    harness.commit_as(&sf, Source::Salesforce, vec![Record::Account(crm.clone())]).await;
    let zd = harness.claim("zd").await;
    // Wrongly tied twice over: by a shared domain and by a stale external id.
    let wrong = claiming("o1", "Acme Rockets", &["acme.com", "acme-rockets.example"], SF_15);
    let records = vec![
        Record::Account(wrong.clone()),
        Record::Contact(super::user("u1", "wile@acme-rockets.example", Some("o1"))),
        Record::Item(super::item_for_org("t1", "o1")),
        Record::Item(item_by("t2", "road@acme-rockets.example")),
    ];
    harness.commit(&zd, records).await;
    let account = sf_id(harness, &id18).await;
    assert_eq!(account_id(harness, "o1").await, account);

    let split = harness.store.split_account(account, &[key("zd", "o1")]).await.expect("split");
    assert_ne!(split, account);
    assert_eq!(account_id(harness, "o1").await, split);
    assert_eq!(account_of(harness, "t1").await, Some(split), "the org's tickets go with it");
    assert_eq!(account_of(harness, "t2").await, Some(split), "acme-rockets.example went with the org");
    let contacts = harness.store.contacts(IdPage::first(10)).await.expect("contacts");
    assert_eq!(contacts[0].account_id, Some(split), "its people go with it");
    let stayed = harness.store.account_detail(account).await.expect("read").expect("exists");
    assert_eq!(stayed.account.domains, ["acme.com"]);
    assert_eq!(stayed.kept_apart, [key("zd", "o1")]);

    // Both sources sync again, in both orders: still two accounts.
    harness.commit(&zd, vec![Record::Account(wrong.clone())]).await;
    harness.commit_as(&sf, Source::Salesforce, vec![Record::Account(crm.clone())]).await;
    harness.commit(&zd, vec![Record::Account(AccountRecord { name: "Acme Rockets Inc".into(), ..wrong })]).await;
    assert_eq!(account_id(harness, "o1").await, split);
    assert_eq!(sf_id(harness, &id18).await, account);
    let detail = harness.store.account_detail(split).await.expect("read").expect("exists");
    assert_eq!(detail.account.name, "Acme Rockets Inc", "its own record fills the new account");
    assert_eq!(detail.sources.iter().map(|s| s.joined_by).collect::<Vec<_>>(), [JoinedBy::Split]);

    // A new org at the shared domain may join either, but a person's merge rejoins them.
    harness.store.merge_accounts(account, split).await.expect("merge back");
    assert_eq!(account_id(harness, "o1").await, account);
    assert!(harness.store.account_detail(account).await.expect("read").expect("exists").kept_apart.is_empty());
}

/// The fields an account shows, in one comparable tuple.
type Shown = (i64, String, Option<String>, Option<String>, Option<LifecycleStage>, Option<String>, Option<NaiveDate>);

async fn shown(harness: &Harness, id: i64) -> Shown {
    let detail = harness.store.account_detail(id).await.expect("read").expect("exists");
    let a = detail.account;
    (a.arr_minor, a.currency, a.segment, a.plan, a.lifecycle_stage, a.csm_owner, a.renewal_date)
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

/// A CRM account and a support org that claims it, each with its own fields.
fn crm_and_desk(id18: &str) -> (AccountRecord, AccountRecord) {
    let crm = AccountRecord {
        segment: Some("enterprise".into()),
        plan: Some("enterprise".into()),
        lifecycle_stage: Some(LifecycleStage::Retention),
        csm_owner: Some("dana@vendor.example".into()),
        renewal_date: Some(date("2027-01-31")),
        ..sf_account(id18, "Acme Corp", &["acme.com"])
    };
    let desk = AccountRecord {
        arr_minor: Some(48_000),
        currency: Some("EUR".into()),
        segment: Some("smb".into()),
        plan: Some("pro".into()),
        lifecycle_stage: Some(LifecycleStage::Acquisition),
        ..claiming("o1", "Acme Rockets", &["acme-rockets.example"], SF_15)
    };
    (crm, desk)
}

async fn split_gives_each_half_its_own_records_fields(harness: &Harness) {
    let id18 = salesforce_id18(SF_15).expect("valid id");
    let (crm, desk) = crm_and_desk(&id18);
    let sf = harness.claim("sf").await;
    harness.commit_as(&sf, Source::Salesforce, vec![Record::Account(crm.clone())]).await;
    let zd = harness.claim("zd").await;
    harness.commit(&zd, vec![Record::Account(desk.clone())]).await;
    let account = sf_id(harness, &id18).await;
    assert_eq!(account_id(harness, "o1").await, account, "merged by the id the org names");
    let merged = shown(harness, account).await;
    assert_eq!(merged.3.as_deref(), Some("pro"), "the org applied last wrote its plan over the CRM's");
    assert_eq!((merged.0, merged.1.as_str()), (1_000_000, "USD"), "but not its ARR: that is the CRM's");
    let before = harness.store.changes_since(0, 10_000).await.expect("changes").last().map_or(0, |c| c.seq);

    let split = harness.store.split_account(account, &[key("zd", "o1")]).await.expect("split");
    let crm_fields: Shown = (
        1_000_000,
        "USD".into(),
        Some("enterprise".into()),
        Some("enterprise".into()),
        Some(LifecycleStage::Retention),
        Some("dana@vendor.example".into()),
        Some(date("2027-01-31")),
    );
    let desk_fields: Shown =
        (48_000, "EUR".into(), Some("smb".into()), Some("pro".into()), Some(LifecycleStage::Acquisition), None, None);
    assert_eq!(shown(harness, account).await, crm_fields, "the CRM's account carries its record's fields");
    assert_eq!(shown(harness, split).await, desk_fields, "the org took its own fields along");
    let logged: Vec<i64> = harness
        .store
        .changes_since(before, 10_000)
        .await
        .expect("changes")
        .iter()
        .filter(|c| c.entity == ChangeEntity::Account)
        .map(|c| c.entity_id)
        .collect();
    assert!(logged.contains(&account) && logged.contains(&split), "both ARRs moved: {logged:?}");

    // Both records sync again, in both orders: nothing further changes, and no merge.
    harness.commit(&zd, vec![Record::Account(desk.clone())]).await;
    harness.commit_as(&sf, Source::Salesforce, vec![Record::Account(crm.clone())]).await;
    harness.commit(&zd, vec![Record::Account(desk)]).await;
    assert_eq!((sf_id(harness, &id18).await, account_id(harness, "o1").await), (account, split), "still split");
    assert_eq!(shown(harness, account).await, crm_fields);
    assert_eq!(shown(harness, split).await, desk_fields);
}

async fn split_of_records_stored_before_their_fields_keeps_the_old_values(harness: &Harness) {
    let id18 = salesforce_id18(SF_15).expect("valid id");
    let (crm, desk) = crm_and_desk(&id18);
    let sf = harness.claim("sf").await;
    harness.commit_as(&sf, Source::Salesforce, vec![Record::Account(crm)]).await;
    let zd = harness.claim("zd").await;
    harness.commit(&zd, vec![Record::Account(desk.clone())]).await;
    let account = sf_id(harness, &id18).await;
    let merged = shown(harness, account).await;
    // As a store migrated from before 0008 holds them.
    sqlx::query("UPDATE account_external_ids SET record_fields = NULL")
        .execute(&harness.store.writer)
        .await
        .expect("forget fields");

    let split = harness.store.split_account(account, &[key("zd", "o1")]).await.expect("split");
    assert_eq!(shown(harness, account).await, merged, "the old account keeps its values");
    assert_eq!(shown(harness, split).await.0, 0, "the new one waits for its records' next sync");
    harness.commit(&zd, vec![Record::Account(desk)]).await;
    assert_eq!(shown(harness, split).await.3.as_deref(), Some("pro"), "its record's next sync fills it");
}

async fn split_refuses_what_it_cannot_do(harness: &Harness) {
    let zd = harness.claim("zd").await;
    harness.commit(&zd, vec![Record::Account(org("o1", "Acme", &["acme.example"]))]).await;
    let account = account_id(harness, "o1").await;
    let all = harness.store.split_account(account, &[key("zd", "o1")]).await.expect_err("nothing would stay");
    assert!(all.to_string().contains("at least one"), "{all}");
    let foreign = harness.store.split_account(account, &[key("zd", "nope")]).await.expect_err("not its record");
    assert!(foreign.to_string().contains("zd:nope"), "{foreign}");
    assert!(harness.store.split_account(account, &[]).await.is_err());
}

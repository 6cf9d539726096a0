//! Account resolution: its order, manual links, late organizations, moves, merges.

use chorus_core::{AccountRecord, EntityKind, ItemRecord, Record};

use super::{account_id, account_of, deleted, item, item_by, item_for_org, item_id, org, store_suite, user, Harness};
use crate::{AccountImport, ChangeEntity, IdPage, Store};

store_suite!(
    resolution_prefers_source_then_contact_then_domain,
    free_mail_domains_never_match,
    manual_link_survives_later_syncs,
    manual_link_survives_resync_merge_and_split,
    organization_arriving_after_ticket_links_it,
    ticket_moved_to_another_organization_moves,
    deleted_account_releases_automatic_links,
    new_source_account_merges_by_domain_and_keeps_fields,
    import_matches_by_external_id_domain_then_name,
    merge_takes_the_crm_arr_whichever_side_it_is_on,
);

async fn resolution_prefers_source_then_contact_then_domain(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness
        .commit(
            &claim,
            vec![
                Record::Account(org("o1", "Acme", &["acme.com"])),
                Record::Account(org("o2", "Globex Corp", &["globex.com"])),
                Record::Account(org("o3", "Initech", &["initech.com"])),
                Record::Contact(user("u1", "Pat@Initech.com", Some("o2"))),
            ],
        )
        .await;
    let by_name = ItemRecord { account_name: Some("  globex CORP ".into()), ..item_by("t2", "x@acme.com") };
    harness
        .commit(
            &claim,
            vec![
                // Explicit organization beats the author's domain.
                Record::Item(ItemRecord { account_external_id: Some("o1".into()), ..item_by("t1", "x@initech.com") }),
                // An account named in free text, case-insensitively.
                Record::Item(by_name),
                // A known contact beats their email domain.
                Record::Item(item_by("t3", "pat@initech.com")),
                Record::Item(item_by("t4", "someone@initech.com")),
                Record::Item(item("t5", "nobody")),
            ],
        )
        .await;
    let (o1, o2, o3) =
        (account_id(harness, "o1").await, account_id(harness, "o2").await, account_id(harness, "o3").await);
    let expected = [
        ("t1", Some(o1), Some("source_field")),
        ("t2", Some(o2), Some("source_field")),
        ("t3", Some(o2), Some("contact_email")),
        ("t4", Some(o3), Some("email_domain")),
        ("t5", None, None),
    ];
    for (ticket, account, provenance) in expected {
        assert_eq!(account_of(harness, ticket).await, account, "{ticket}");
        let id = item_id(harness, ticket).await;
        assert_eq!(harness.provenance(id).await.as_deref(), provenance, "{ticket}");
    }
    assert_eq!(harness.store.item_ids_for_account(o2).await.expect("ids").len(), 2);
    // One batched read for several accounts: ascending, each item once, repeats ignored.
    let mut expected = vec![item_id(harness, "t2").await, item_id(harness, "t3").await, item_id(harness, "t4").await];
    expected.sort_unstable();
    let batched = harness.store.item_ids_for_accounts(&[o3, o2, o3]).await.expect("ids");
    assert_eq!(batched, expected);
    assert_eq!(harness.store.item_ids_for_accounts(&[]).await.expect("ids"), Vec::<i64>::new());
}

async fn free_mail_domains_never_match(harness: &Harness) {
    let import = AccountImport { domains: vec!["gmail.com".into()], ..import("Mistaken Inc") };
    harness.store.import_accounts(&[import]).await.expect("import");
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Item(item_by("t1", "someone@gmail.com"))]).await;
    assert_eq!(account_of(harness, "t1").await, None);
}

async fn manual_link_survives_later_syncs(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness
        .commit(&claim, vec![Record::Account(org("o1", "Acme", &[])), Record::Account(org("o2", "Other", &[]))])
        .await;
    harness.commit(&claim, vec![Record::Item(item_for_org("t1", "o1"))]).await;
    let (o1, o2) = (account_id(harness, "o1").await, account_id(harness, "o2").await);
    let id = item_id(harness, "t1").await;
    let before = harness.store.last_change().await.expect("last");
    harness.store.link_item_account(id, o2).await.expect("manual link");
    let changes = harness.store.changes_since(before, 10).await.expect("changes");
    assert_eq!(changes.iter().map(|c| (c.entity, c.entity_id)).collect::<Vec<_>>(), [(ChangeEntity::Item, id)]);

    // The ticket changes, its organization changes, accounts change: the link stays.
    let edited = ItemRecord { title: "edited".into(), ..item_for_org("t1", "o1") };
    harness.commit(&claim, vec![Record::Item(edited)]).await;
    harness.commit(&claim, vec![Record::Account(org("o1", "Acme Renamed", &["acme.com"]))]).await;
    assert_eq!(account_of(harness, "t1").await, Some(o2));
    assert_eq!(harness.provenance(id).await.as_deref(), Some("manual"));
    assert_ne!(o1, o2);
}

async fn organization_arriving_after_ticket_links_it(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness
        .commit(
            &claim,
            vec![
                Record::Item(item_for_org("t1", "o9")),
                Record::Item(item_by("t2", "kim@late.io")),
                Record::Item(item_by("t3", "lee@gmail.com")),
            ],
        )
        .await;
    assert_eq!(account_of(harness, "t1").await, None);
    let before = harness.store.last_change().await.expect("last");

    harness
        .commit(
            &claim,
            vec![
                Record::Account(org("o9", "Late Org", &["late.io"])),
                Record::Account(org("o8", "Lee's Shop", &[])),
                Record::Contact(user("u3", "lee@gmail.com", Some("o8"))),
            ],
        )
        .await;
    let (o9, o8) = (account_id(harness, "o9").await, account_id(harness, "o8").await);
    assert_eq!(account_of(harness, "t1").await, Some(o9));
    assert_eq!(account_of(harness, "t2").await, Some(o9));
    assert_eq!(account_of(harness, "t3").await, Some(o8));
    let changed: Vec<i64> = harness
        .store
        .changes_since(before, 100)
        .await
        .expect("changes")
        .iter()
        .filter(|change| change.entity == ChangeEntity::Item)
        .map(|change| change.entity_id)
        .collect();
    for ticket in ["t1", "t2", "t3"] {
        assert!(changed.contains(&item_id(harness, ticket).await), "{ticket} re-indexed");
    }
}

async fn ticket_moved_to_another_organization_moves(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Account(org("o1", "One", &[])), Record::Account(org("o2", "Two", &[]))]).await;
    harness.commit(&claim, vec![Record::Item(item_for_org("t1", "o1"))]).await;
    assert_eq!(account_of(harness, "t1").await, Some(account_id(harness, "o1").await));
    let moved = ItemRecord { updated_at: super::at(9), ..item_for_org("t1", "o2") };
    harness.commit(&claim, vec![Record::Item(moved)]).await;
    assert_eq!(account_of(harness, "t1").await, Some(account_id(harness, "o2").await));
    let orphaned = ItemRecord { updated_at: super::at(10), ..item_for_org("t1", "unknown") };
    harness.commit(&claim, vec![Record::Item(orphaned)]).await;
    assert_eq!(account_of(harness, "t1").await, None, "a stale automatic link is dropped");
}

async fn deleted_account_releases_automatic_links(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Account(org("o1", "One", &["one.com"]))]).await;
    harness.commit(&claim, vec![Record::Item(item_by("t1", "a@one.com"))]).await;
    let o1 = account_id(harness, "o1").await;
    assert_eq!(account_of(harness, "t1").await, Some(o1));
    let outcome = harness.commit(&claim, vec![deleted(EntityKind::Account, "o1")]).await;
    assert_eq!(outcome.deleted, 1);
    assert_eq!(account_of(harness, "t1").await, None);
    assert!(harness.store.accounts(IdPage::first(10)).await.expect("accounts").is_empty());
    let changes = harness.store.changes_since(0, 100).await.expect("changes");
    assert!(changes.iter().any(|c| c.entity == ChangeEntity::Account && c.entity_id == o1 && c.deleted));
}

async fn new_source_account_merges_by_domain_and_keeps_fields(harness: &Harness) {
    let crm = harness.store.claim_run("sf", &super::holder("sf", std::process::id(), 60)).await;
    let crm = crm.expect("claim").expect("claimed");
    let rich = AccountRecord {
        arr_minor: Some(1_200_000),
        currency: Some("EUR".into()),
        segment: Some("enterprise".into()),
        ..org("001A", "Acme Corporation", &["www.Acme.com"])
    };
    harness.commit(&crm, vec![Record::Account(rich)]).await;
    let zd = harness.claim("zd").await;
    harness.commit(&zd, vec![Record::Account(org("o1", "acme", &["acme.com", "acme.io"]))]).await;

    let accounts = harness.store.accounts(IdPage::first(10)).await.expect("accounts");
    assert_eq!(accounts.len(), 1, "merged by the shared domain");
    let account = &accounts[0];
    assert_eq!(account.name, "Acme Corporation");
    assert_eq!((account.arr_minor, account.currency.as_str()), (1_200_000, "EUR"));
    assert_eq!(account.segment.as_deref(), Some("enterprise"));
    assert_eq!(account.domains, vec!["acme.com".to_owned(), "acme.io".to_owned()]);
    let ids: Vec<(&str, &str)> = account.external_ids.iter().map(|x| (x.connector.as_str(), x.id.as_str())).collect();
    assert_eq!(ids, vec![("sf", "001A"), ("zd", "o1")]);
}

fn import(name: &str) -> AccountImport {
    serde_json::from_value(serde_json::json!({ "name": name })).expect("minimal import")
}

async fn import_matches_by_external_id_domain_then_name(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Account(org("o1", "Acme", &["acme.com"]))]).await;
    let o1 = account_id(harness, "o1").await;
    let by_external: AccountImport = serde_json::from_value(serde_json::json!({
        "name": "Acme (CRM)", "arr_minor": 500, "external_ids": [{ "connector": "zd", "source": "zendesk", "id": "o1" }]
    }))
    .expect("import");
    let by_domain = AccountImport { domains: vec!["acme.com".into()], arr_minor: Some(700), ..import("Acme (CRM)") };
    let by_name = AccountImport { arr_minor: Some(900), ..import("ACME (crm)") };
    let fresh = import("Brand New");
    let ids = harness.store.import_accounts(&[by_external, by_domain, by_name, fresh]).await.expect("import");
    assert_eq!(&ids[..3], &[o1, o1, o1]);
    assert_ne!(ids[3], o1);
    let accounts = harness.store.accounts_by_id(&[o1]).await.expect("read");
    assert_eq!(accounts[0].arr_minor, 900);
    assert_eq!(accounts[0].name, "ACME (crm)");
    assert_eq!(harness.store.counts().await.expect("counts").accounts, 2);
}

async fn manual_link_survives_resync_merge_and_split(harness: &Harness) {
    let zd = harness.claim("zd").await;
    let records = vec![
        Record::Account(org("o1", "Acme", &["acme.example"])),
        Record::Account(org("o2", "Globex", &["globex.example"])),
        Record::Item(item_by("t1", "ann@acme.example")),
    ];
    harness.commit(&zd, records).await;
    let (acme, globex) = (account_id(harness, "o1").await, account_id(harness, "o2").await);
    let id = item_id(harness, "t1").await;
    assert_eq!(account_of(harness, "t1").await, Some(acme));
    // A person says the ticket is Globex's, against its author's domain.
    harness.store.link_item_account(id, globex).await.expect("manual link");

    // Re-sync: the ticket and both organizations change.
    let edited = ItemRecord { title: "edited".into(), ..item_by("t1", "ann@acme.example") };
    harness.commit(&zd, vec![Record::Item(edited), Record::Account(org("o1", "Acme Inc", &["acme.example"]))]).await;
    assert_eq!(account_of(harness, "t1").await, Some(globex));
    assert_eq!(harness.provenance(id).await.as_deref(), Some("manual"));

    // Globex's records merge by a later source, then by hand into another account: the
    // link follows the company it names and stays manual.
    let sf = harness.claim("sf").await;
    harness.commit(&sf, vec![Record::Account(org("a1", "Globex Corp", &["globex.example"]))]).await;
    let crm: i64 = sqlx::query_scalar("SELECT account_id FROM account_external_ids WHERE external_id = 'a1'")
        .fetch_one(&harness.store.reader)
        .await
        .expect("mapped");
    assert_eq!(crm, globex, "joined by domain");
    harness.commit(&zd, vec![Record::Account(org("o3", "Initech", &["initech.example"]))]).await;
    let initech = account_id(harness, "o3").await;
    harness.store.merge_accounts(initech, globex).await.expect("merge");
    assert_eq!(account_of(harness, "t1").await, Some(initech));
    assert_eq!(harness.provenance(id).await.as_deref(), Some("manual"));
    // The merged-away account takes no new link: the store says which account it became.
    let refused = harness.store.link_item_account(id, globex).await;
    assert!(
        matches!(&refused, Err(crate::StoreError::Conflict(message)) if message.contains(&initech.to_string())),
        "{refused:?}"
    );
    assert_eq!(account_of(harness, "t1").await, Some(initech));

    // A split takes Globex's org away again; the hand-made link stays where it is.
    let split = harness
        .store
        .split_account(initech, &[crate::RecordKey { connector: "zd".into(), external_id: "o2".into() }])
        .await
        .expect("split");
    assert_ne!(split, initech);
    harness.commit(&zd, vec![Record::Item(item_by("t1", "ann@acme.example"))]).await;
    harness.commit(&zd, vec![Record::Account(org("o2", "Globex", &["globex.example"]))]).await;
    assert_eq!(account_of(harness, "t1").await, Some(initech));
    assert_eq!(harness.provenance(id).await.as_deref(), Some("manual"));
}

async fn merge_takes_the_crm_arr_whichever_side_it_is_on(harness: &Harness) {
    let zd = harness.claim("zd").await;
    let desk = AccountRecord { arr_minor: Some(10_000), currency: Some("USD".into()), ..org("o1", "Globex", &[]) };
    harness.commit(&zd, vec![Record::Account(desk)]).await;
    let sf = harness.claim("sf").await;
    let crm = AccountRecord { arr_minor: Some(48_000_000), currency: Some("EUR".into()), ..org("a1", "Globex", &[]) };
    harness.commit_as(&sf, chorus_core::Source::Salesforce, vec![Record::Account(crm)]).await;
    let desk = account_id(harness, "o1").await;
    let crm: i64 = sqlx::query_scalar("SELECT account_id FROM account_external_ids WHERE external_id = 'a1'")
        .fetch_one(&harness.store.reader)
        .await
        .expect("mapped");
    assert_ne!(desk, crm, "no shared domain: two accounts until a person merges them");
    // The support desk's account survives the merge; the amount is the CRM's.
    harness.store.merge_accounts(desk, crm).await.expect("merge");
    let merged = harness.store.accounts_by_id(&[desk]).await.expect("read").pop().expect("account");
    assert_eq!((merged.arr_minor, merged.currency.as_str()), (48_000_000, "EUR"));
}

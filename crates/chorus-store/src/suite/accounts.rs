//! Account and contact records and imports: domain matching, shared accounts, partial
//! imports, and records that arrive before what they reference.

use chorus_core::{Account, AccountRecord, EntityKind, ExternalId, Record, Source};

use super::{account_id, deleted, org, store_suite, user, Harness};
use serde_json::json;

use crate::{AccountImport, ChangeEntity, IdPage, Store, StoreError};

store_suite!(
    free_mail_and_same_connector_domains_never_merge,
    deleting_a_shared_account_drops_only_that_connectors_id,
    partial_import_keeps_stored_arr_and_currency,
    import_matches_by_name_only_without_domains_or_external_ids,
    import_refuses_external_ids_of_different_accounts,
    records_before_their_parent_or_org_link_once_it_arrives,
    contact_without_org_is_unlinked,
    live_account_external_ids_leave_out_deleted_detached_and_other_connectors,
    find_accounts_ranks_exact_then_prefix_then_substring_and_escapes_wildcards,
    accounts_for_domains_resolve_registered_domains_in_one_call,
);

async fn account(harness: &Harness, id: i64) -> Account {
    harness.store.accounts_by_id(&[id]).await.expect("read account").remove(0)
}

fn ext(connector: &str, id: &str) -> ExternalId {
    ExternalId { connector: connector.to_owned(), source: Source::Zendesk, id: id.to_owned() }
}

fn import(value: serde_json::Value) -> AccountImport {
    serde_json::from_value(value).expect("import line")
}

async fn sf_account_id(harness: &Harness, external_id: &str) -> i64 {
    sqlx::query_scalar("SELECT account_id FROM account_external_ids WHERE connector = 'sf' AND external_id = $1")
        .bind(external_id)
        .fetch_one(&harness.store.reader)
        .await
        .expect("account mapped")
}

async fn free_mail_and_same_connector_domains_never_merge(harness: &Harness) {
    let zd = harness.claim("zd").await;
    let records = vec![
        Record::Account(org("o1", "Freelancer One", &["gmail.com"])),
        Record::Account(org("o2", "Freelancer Two", &["gmail.com"])),
        Record::Account(org("o3", "Acme EU", &["acme.com"])),
        Record::Account(org("o4", "Acme US", &["acme.com"])),
    ];
    harness.commit(&zd, records).await;
    let ids = [
        account_id(harness, "o1").await,
        account_id(harness, "o2").await,
        account_id(harness, "o3").await,
        account_id(harness, "o4").await,
    ];
    assert_ne!(ids[0], ids[1], "free-mail domain merged two companies");
    assert_ne!(ids[2], ids[3], "two orgs of one connector merged");

    // Another connector still merges on a real domain, never on a free-mail one.
    let sf = harness.claim("sf").await;
    let records = vec![
        Record::Account(AccountRecord { arr_minor: Some(100), ..org("a1", "Acme", &["acme.com"]) }),
        Record::Account(org("a2", "Gmail user", &["gmail.com"])),
    ];
    harness.commit(&sf, records).await;
    assert_eq!(sf_account_id(harness, "a1").await, ids[2]);
    assert!(!ids.contains(&sf_account_id(harness, "a2").await));
    assert_eq!(harness.store.counts().await.expect("counts").accounts, 5);
}

async fn deleting_a_shared_account_drops_only_that_connectors_id(harness: &Harness) {
    let zd = harness.claim("zd").await;
    harness.commit(&zd, vec![Record::Account(org("o1", "Acme", &["acme.com"]))]).await;
    let sf = harness.claim("sf").await;
    harness.commit(&sf, vec![Record::Account(org("a1", "Acme Inc", &["acme.com"]))]).await;
    let id = account_id(harness, "o1").await;
    assert_eq!(sf_account_id(harness, "a1").await, id);

    let outcome = harness.commit(&sf, vec![deleted(EntityKind::Account, "a1")]).await;
    assert_eq!(outcome.deleted, 1);
    let shared = account(harness, id).await;
    let ids: Vec<(&str, &str)> = shared.external_ids.iter().map(|x| (x.connector.as_str(), x.id.as_str())).collect();
    assert_eq!(ids, vec![("zd", "o1")]);
    assert_eq!(harness.store.counts().await.expect("counts").accounts, 1, "account still live");
    let last = harness.store.changes_since(0, 100).await.expect("changes").pop().expect("a change");
    assert_eq!((last.entity, last.entity_id, last.deleted), (ChangeEntity::Account, id, false));

    // The last source deleting it deletes the account.
    harness.commit(&zd, vec![deleted(EntityKind::Account, "o1")]).await;
    assert_eq!(harness.store.counts().await.expect("counts").accounts, 0);
    let last = harness.store.changes_since(0, 100).await.expect("changes").pop().expect("a change");
    assert_eq!((last.entity, last.entity_id, last.deleted), (ChangeEntity::Account, id, true));
    // ... and the record coming back revives the same account.
    harness.commit(&zd, vec![Record::Account(org("o1", "Acme", &["acme.com"]))]).await;
    assert_eq!(account_id(harness, "o1").await, id);
    assert_eq!(harness.store.counts().await.expect("counts").accounts, 1);
}

async fn partial_import_keeps_stored_arr_and_currency(harness: &Harness) {
    let full = import(serde_json::json!({
        "name": "Acme", "domains": ["acme.com"], "arr_minor": 500_000, "currency": "EUR"
    }));
    let id = harness.store.import_accounts(&[full]).await.expect("import")[0];
    let partial = import(serde_json::json!({ "name": "Acme GmbH", "domains": ["acme.com"] }));
    assert_eq!(harness.store.import_accounts(&[partial]).await.expect("import"), [id]);
    let stored = account(harness, id).await;
    assert_eq!(stored.name, "Acme GmbH");
    assert_eq!((stored.arr_minor, stored.currency.as_str()), (500_000, "EUR"));

    // A new account gets the defaults.
    let fresh = import(serde_json::json!({ "name": "Fresh", "domains": ["fresh.io"] }));
    let fresh_id = harness.store.import_accounts(&[fresh]).await.expect("import")[0];
    let fresh = account(harness, fresh_id).await;
    assert_eq!((fresh.arr_minor, fresh.currency.as_str()), (0, "USD"));

    // An exported account is an importable line that carries both fields.
    let line: AccountImport =
        serde_json::from_value(serde_json::to_value(&stored).expect("export")).expect("re-import");
    assert_eq!((line.arr_minor, line.currency.as_deref()), (Some(500_000), Some("EUR")));
    assert_eq!(harness.store.import_accounts(&[line]).await.expect("import"), [id]);
}

async fn import_matches_by_name_only_without_domains_or_external_ids(harness: &Harness) {
    let acme = import(serde_json::json!({ "name": "Acme", "domains": ["acme.com"] }));
    let id = harness.store.import_accounts(&[acme]).await.expect("import")[0];
    let namesake = import(serde_json::json!({ "name": "ACME", "domains": ["acme.de"] }));
    let with_external = import(serde_json::json!({
        "name": "Acme", "external_ids": [{ "connector": "sf", "source": "zendesk", "id": "001" }]
    }));
    let by_name = import(serde_json::json!({ "name": "acme" }));
    let ids = harness.store.import_accounts(&[namesake, with_external, by_name]).await.expect("import");
    assert_ne!(ids[0], id, "different domains, different company");
    assert_ne!(ids[1], id, "an external id is not matched by name");
    assert_eq!(ids[2], id);
}

async fn import_refuses_external_ids_of_different_accounts(harness: &Harness) {
    let zd = harness.claim("zd").await;
    harness.commit(&zd, vec![Record::Account(org("o1", "One", &[])), Record::Account(org("o2", "Two", &[]))]).await;
    let (o1, o2) = (account_id(harness, "o1").await, account_id(harness, "o2").await);
    let line = AccountImport {
        external_ids: vec![ext("zd", "o1"), ext("zd", "o2")],
        ..import(serde_json::json!({ "name": "Both" }))
    };
    let refused = harness.store.import_accounts(&[line]).await;
    let Err(StoreError::Conflict(message)) = refused else { panic!("expected a conflict: {refused:?}") };
    assert!(message.contains("zd:o1") && message.contains("zd:o2"), "{message}");
    assert_eq!((account_id(harness, "o1").await, account_id(harness, "o2").await), (o1, o2));
    assert_eq!(account(harness, o1).await.name, "One");
}

async fn records_before_their_parent_or_org_link_once_it_arrives(harness: &Harness) {
    let zd = harness.claim("zd").await;
    let child = AccountRecord { parent_external_id: Some("p".into()), ..org("c", "Child", &[]) };
    let early_user = user("u1", "ann@child.example", Some("late"));
    harness.commit(&zd, vec![Record::Account(child.clone()), Record::Contact(early_user.clone())]).await;
    assert_eq!(account(harness, account_id(harness, "c").await).await.parent_id, None);

    let records = vec![
        Record::Account(org("p", "Parent", &[])),
        Record::Account(org("late", "Late Org", &[])),
        Record::Account(child),
        Record::Contact(early_user),
    ];
    harness.commit(&zd, records).await;
    let parent = account_id(harness, "p").await;
    assert_eq!(account(harness, account_id(harness, "c").await).await.parent_id, Some(parent));
    let contacts = harness.store.contacts(IdPage::first(10)).await.expect("contacts");
    assert_eq!(contacts[0].account_id, Some(account_id(harness, "late").await));
}

async fn contact_without_org_is_unlinked(harness: &Harness) {
    let zd = harness.claim("zd").await;
    let records =
        vec![Record::Account(org("o1", "Acme", &[])), Record::Contact(user("u1", "ann@acme.example", Some("o1")))];
    harness.commit(&zd, records).await;
    let contacts = harness.store.contacts(IdPage::first(10)).await.expect("contacts");
    assert_eq!(contacts[0].account_id, Some(account_id(harness, "o1").await));

    harness.commit(&zd, vec![Record::Contact(user("u1", "ann@acme.example", None))]).await;
    let contacts = harness.store.contacts(IdPage::first(10)).await.expect("contacts");
    assert_eq!(contacts[0].account_id, None);
}

async fn live_account_external_ids_leave_out_deleted_detached_and_other_connectors(harness: &Harness) {
    let zd = harness.claim("zd").await;
    let records = vec![
        Record::Account(org("o3", "Three", &["three.io"])),
        Record::Account(org("o1", "One", &["one.io"])),
        Record::Account(org("o2", "Two", &["two.io"])),
        Record::Account(org("o4", "Shared", &["shared.io"])),
    ];
    harness.commit(&zd, records).await;
    let sf = harness.claim("sf").await;
    harness.commit(&sf, vec![Record::Account(org("a1", "Shared Inc", &["shared.io"]))]).await;
    assert_eq!(harness.store.live_account_external_ids("zd").await.expect("live"), ["o1", "o2", "o3", "o4"]);

    // o2 soft-deleted (its last id); a1 detached from the account it shared with o4.
    harness.commit(&zd, vec![deleted(EntityKind::Account, "o2")]).await;
    harness.commit(&sf, vec![deleted(EntityKind::Account, "a1")]).await;
    assert_eq!(harness.store.live_account_external_ids("zd").await.expect("live"), ["o1", "o3", "o4"]);
    assert!(harness.store.live_account_external_ids("sf").await.expect("live").is_empty());
    assert!(harness.store.live_account_external_ids("nobody").await.expect("live").is_empty());

    // The record coming back revives it.
    harness.commit(&zd, vec![Record::Account(org("o2", "Two", &["two.io"]))]).await;
    assert_eq!(harness.store.live_account_external_ids("zd").await.expect("live"), ["o1", "o2", "o3", "o4"]);
}

async fn find_accounts_ranks_exact_then_prefix_then_substring_and_escapes_wildcards(harness: &Harness) {
    let lines = [
        json!({ "name": "Acme Zeta Labs" }),
        json!({ "name": "Zeta Corp" }),
        json!({ "name": "zeta" }),
        json!({ "name": "Other Co", "domains": ["zetamail.io"] }),
        json!({ "name": "Zeta Merged" }),
        json!({ "name": "100% Real" }),
        json!({ "name": "Under_score Inc" }),
        json!({ "name": "Back\\slash" }),
        json!({ "name": "Plain" }),
    ];
    let imports: Vec<AccountImport> = lines.into_iter().map(import).collect();
    let ids = harness.store.import_accounts(&imports).await.expect("import");
    harness.store.merge_accounts(ids[1], ids[4]).await.expect("merge");
    let names = |found: &crate::AccountMatches| found.accounts.iter().map(|a| a.name.clone()).collect::<Vec<_>>();

    let found = harness.store.find_accounts("  ZETA ", 50).await.expect("find");
    assert_eq!(names(&found), ["zeta", "Other Co", "Zeta Corp", "Acme Zeta Labs"], "exact, prefix, substring");
    assert_eq!(found.total, 4, "the merged-away account is not found");
    let cut = harness.store.find_accounts("zeta", 2).await.expect("find");
    assert_eq!((names(&cut), cut.total), (vec!["zeta".to_owned(), "Other Co".to_owned()], 4));
    let by_domain = harness.store.find_accounts("zetamail.io", 50).await.expect("find");
    assert_eq!(names(&by_domain), ["Other Co"], "an exact domain");

    for (text, expected) in [("%", vec!["100% Real"]), ("_", vec!["Under_score Inc"]), ("\\", vec!["Back\\slash"])] {
        let found = harness.store.find_accounts(text, 50).await.expect("find");
        assert_eq!(names(&found), expected, "{text} is literal");
    }
    for text in ["", "   ", "'; DROP TABLE accounts; --"] {
        let found = harness.store.find_accounts(text, 50).await.expect("find");
        assert_eq!((found.accounts.len(), found.total), (0, 0), "{text:?} finds nothing");
    }
    assert_eq!(harness.store.accounts(IdPage::first(50)).await.expect("read").len(), 8);
}

async fn accounts_for_domains_resolve_registered_domains_in_one_call(harness: &Harness) {
    let lines =
        [json!({ "name": "Acme", "domains": ["acme.co.uk"] }), json!({ "name": "Solo", "domains": ["gmail.com"] })];
    let imports: Vec<AccountImport> = lines.into_iter().map(import).collect();
    let ids = harness.store.import_accounts(&imports).await.expect("import");
    let asked: Vec<String> =
        ["acme.co.uk", "eu.acme.co.uk", "gmail.com", "nowhere.example"].into_iter().map(str::to_owned).collect();
    let found = harness.store.accounts_for_domains(&asked).await.expect("resolve");
    let expected: std::collections::HashMap<String, i64> =
        [("acme.co.uk".to_owned(), ids[0]), ("eu.acme.co.uk".to_owned(), ids[0])].into_iter().collect();
    assert_eq!(found, expected, "a subdomain finds its registered domain; free mail never matches");
}

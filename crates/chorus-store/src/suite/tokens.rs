//! API tokens: only hashes are stored, a revoked token stops resolving at once, and
//! last use only moves forward.

use super::{at, store_suite, Harness};
use crate::{NewApiToken, Role, Store, StoreError};

store_suite!(
    tokens_resolve_by_hash_until_revoked,
    token_listing_keeps_revoked_tokens_and_never_the_hash,
    last_use_only_moves_forward,
    duplicate_hashes_are_refused,
);

fn new_token(name: &str, role: Role, hash: &str) -> NewApiToken {
    NewApiToken { name: name.to_owned(), role, prefix: format!("chorus_{}", &hash[..4]), hash: hash.to_owned() }
}

async fn tokens_resolve_by_hash_until_revoked(harness: &Harness) {
    let store = &harness.store;
    let created = store.create_api_token(&new_token("ci", Role::Pm, "aaaa1111")).await.expect("create");
    assert_eq!((created.name.as_str(), created.role), ("ci", Role::Pm));
    assert!(created.revoked_at.is_none() && created.last_used_at.is_none());
    let found = store.api_token_by_hash("aaaa1111").await.expect("look up").expect("live token found");
    assert_eq!(found.id, created.id);
    assert!(store.api_token_by_hash("aaaa1112").await.expect("look up").is_none());

    let revoked = store.revoke_api_token(created.id).await.expect("revoke");
    assert!(revoked.revoked_at.is_some());
    assert!(store.api_token_by_hash("aaaa1111").await.expect("look up").is_none(), "revoked tokens stop at once");
    let again = store.revoke_api_token(created.id).await.expect("revoke twice");
    assert_eq!(again.revoked_at, revoked.revoked_at, "the first revocation time is kept");
    assert!(matches!(store.revoke_api_token(created.id + 100).await, Err(StoreError::NotFound { .. })));
}

async fn token_listing_keeps_revoked_tokens_and_never_the_hash(harness: &Harness) {
    let store = &harness.store;
    let first = store.create_api_token(&new_token("admin", Role::Admin, "bbbb2222")).await.expect("create");
    store.create_api_token(&new_token("viewer", Role::Viewer, "cccc3333")).await.expect("create");
    store.revoke_api_token(first.id).await.expect("revoke");
    let listed = store.api_tokens().await.expect("list");
    assert_eq!(listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["admin", "viewer"]);
    assert!(listed[0].revoked_at.is_some() && listed[1].revoked_at.is_none());
    let json = serde_json::to_string(&listed).expect("json");
    assert!(!json.contains("bbbb2222") && !json.contains("cccc3333"), "no hash leaves the store: {json}");
    assert!(matches!(
        store.create_api_token(&new_token("  ", Role::Viewer, "dddd4444")).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn last_use_only_moves_forward(harness: &Harness) {
    let store = &harness.store;
    let token = store.create_api_token(&new_token("ci", Role::Csm, "eeee5555")).await.expect("create");
    store.touch_api_token(token.id, at(5)).await.expect("touch");
    store.touch_api_token(token.id, at(3)).await.expect("touch earlier");
    let found = store.api_token_by_hash("eeee5555").await.expect("look up").expect("found");
    assert_eq!(found.last_used_at, Some(at(5)));
}

async fn duplicate_hashes_are_refused(harness: &Harness) {
    let store = &harness.store;
    store.create_api_token(&new_token("one", Role::Viewer, "ffff6666")).await.expect("create");
    let second = store.create_api_token(&new_token("two", Role::Viewer, "ffff6666")).await;
    assert!(second.is_err(), "two tokens never share a hash");
    assert_eq!(store.api_tokens().await.expect("list").len(), 1);
}

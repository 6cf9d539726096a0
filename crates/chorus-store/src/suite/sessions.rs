//! Web sessions: found by hash until they expire, are deleted, or their token is
//! revoked; a revoked token opens none.

use chrono::{Duration, Utc};

use super::{store_suite, Harness};
use crate::{NewApiToken, NewWebSession, Role, Store, StoreError};

store_suite!(
    sessions_resolve_with_their_tokens_role_until_they_expire,
    revoking_the_token_ends_its_sessions_and_opens_no_new_one,
    logout_deletes_the_session_once,
);

async fn token(store: &dyn Store, role: Role, hash: &str) -> i64 {
    let token = NewApiToken { name: "web".into(), role, prefix: "chorus_web".into(), hash: hash.into() };
    store.create_api_token(&token).await.expect("token").id
}

fn session(token_id: i64, hash: &str, lasts: Duration) -> NewWebSession {
    NewWebSession { hash: hash.into(), token_id, expires_at: Utc::now() + lasts }
}

async fn sessions_resolve_with_their_tokens_role_until_they_expire(harness: &Harness) {
    let store = harness.store.as_ref();
    let token_id = token(store, Role::Csm, "tok1").await;
    let created = store.create_web_session(&session(token_id, "s1", Duration::hours(1))).await.expect("create");
    assert_eq!((created.token_id, created.role), (token_id, Role::Csm));
    let now = Utc::now();
    let found = store.web_session_by_hash("s1", now).await.expect("look up").expect("live session");
    assert_eq!(found.id, created.id);
    assert!(store.web_session_by_hash("s2", now).await.expect("look up").is_none());
    let later = now + Duration::hours(2);
    assert!(store.web_session_by_hash("s1", later).await.expect("look up").is_none(), "expired");

    store.create_web_session(&session(token_id, "old", Duration::seconds(-1))).await.expect("create expired");
    store.create_web_session(&session(token_id, "s3", Duration::hours(1))).await.expect("create");
    assert!(!store.delete_web_session("old").await.expect("delete"), "a new session forgets expired ones");
}

async fn revoking_the_token_ends_its_sessions_and_opens_no_new_one(harness: &Harness) {
    let store = harness.store.as_ref();
    let token_id = token(store, Role::Viewer, "tok2").await;
    store.create_web_session(&session(token_id, "s4", Duration::hours(1))).await.expect("create");
    store.revoke_api_token(token_id).await.expect("revoke");
    assert!(store.web_session_by_hash("s4", Utc::now()).await.expect("look up").is_none(), "ended with its token");
    assert!(matches!(
        store.create_web_session(&session(token_id, "s5", Duration::hours(1))).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn logout_deletes_the_session_once(harness: &Harness) {
    let store = harness.store.as_ref();
    let token_id = token(store, Role::Pm, "tok3").await;
    store.create_web_session(&session(token_id, "s6", Duration::hours(1))).await.expect("create");
    assert!(store.delete_web_session("s6").await.expect("delete"));
    assert!(!store.delete_web_session("s6").await.expect("delete again"));
    assert!(store.web_session_by_hash("s6", Utc::now()).await.expect("look up").is_none());
}

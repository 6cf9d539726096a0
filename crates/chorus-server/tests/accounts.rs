//! `/api/v1/accounts` and `/api/v1/triage` over a real SQLite store: lists page by
//! cursor, an account answers with its health and provenance, a merged one says where
//! it went, and bad ids and cursors are `{ "code", "message" }` errors.

mod support;

use axum::http::{Method, StatusCode};
use chorus_store::Role;
use serde_json::{json, Value};
use support::TestApp;

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

/// The id of the seeded account named `name`.
async fn account_id(app: &TestApp, name: &str) -> i64 {
    let (status, page) = app.get("/api/v1/accounts", Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let accounts = page["accounts"].as_array().expect("accounts");
    accounts.iter().find(|a| a["name"] == name).and_then(|a| a["id"].as_i64()).expect("seeded account")
}

#[tokio::test]
async fn accounts_page_by_cursor_until_the_last_page() {
    let app = TestApp::new().await;
    let (status, first) = app.get("/api/v1/accounts?limit=1", Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["accounts"].as_array().map(Vec::len), Some(1));
    assert_eq!(first["accounts"][0]["name"], "Acme Corp");
    assert_eq!(first["accounts"][0]["arr_minor"], 125_000_000);
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let (_, second) = app.get(&format!("/api/v1/accounts?limit=1&cursor={cursor}"), Role::Viewer).await;
    assert_eq!(second["accounts"][0]["name"], "Globex");
    assert!(second["next_cursor"].is_null(), "Globex is the last account: {second}");
}

#[tokio::test]
async fn bad_account_paging_is_a_400() {
    let app = TestApp::new().await;
    for uri in [
        "/api/v1/accounts?cursor=abc",
        "/api/v1/accounts?cursor=-4",
        "/api/v1/accounts?limit=0",
        "/api/v1/accounts?limit=501",
    ] {
        let (status, body) = app.get(uri, Role::Viewer).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(code(&body), "bad_request", "{uri}");
    }
}

#[tokio::test]
async fn an_account_answers_with_health_and_provenance() {
    let app = TestApp::new().await;
    let id = account_id(&app, "Acme Corp").await;
    let (status, detail) = app.get(&format!("/api/v1/accounts/{id}"), Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["account"]["name"], "Acme Corp");
    assert!(detail["merged_into"].is_null());
    let sources = detail["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 1, "{detail}");
    assert_eq!((sources[0]["connector"].as_str(), sources[0]["external_id"].as_str()), (Some("zd"), Some("org-1")));
    assert_eq!(sources[0]["joined_by"], "created");
    let health = &detail["health"];
    assert_eq!(health["account_id"], id);
    assert_eq!(health["open_bugs"], 1, "the seeded export bug is open: {health}");
    assert!(health["risks"].is_array() && health["upsell"].is_array(), "{health}");
}

#[tokio::test]
async fn a_merged_account_says_where_it_went() {
    let app = TestApp::new().await;
    let acme = account_id(&app, "Acme Corp").await;
    let globex = account_id(&app, "Globex").await;
    app.store.merge_accounts(acme, globex).await.expect("merge");
    let (status, detail) = app.get(&format!("/api/v1/accounts/{globex}"), Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["merged_into"], acme);
    assert!(detail["health"].is_null(), "a merged account's health is the survivor's");
}

#[tokio::test]
async fn unknown_and_malformed_account_ids_are_404_and_400() {
    let app = TestApp::new().await;
    let (status, body) = app.get("/api/v1/accounts/999999", Role::Viewer).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
    let (status, body) = app.get("/api/v1/accounts/acme", Role::Viewer).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"), "{body}");
}

#[tokio::test]
async fn triage_lists_the_unlinked_items_and_pages() {
    let app = TestApp::new().await;
    let (status, page) = app.get("/api/v1/triage", Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "only the login ticket has no account: {page}");
    assert_eq!(items[0]["title"], "Login loop");
    assert!(items[0]["source_url"].as_str().is_some_and(|url| url.starts_with("https://")));
    assert!(page["next_cursor"].is_null());
    let (status, page) = app.get("/api/v1/triage?limit=1", Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page["next_cursor"].is_null(), "one item fills no second page");
    for uri in ["/api/v1/triage?cursor=1.2", "/api/v1/triage?cursor=a.b.c", "/api/v1/triage?limit=0"] {
        let (status, body) = app.get(uri, Role::Viewer).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"), "{uri}: {body}");
    }
}

#[tokio::test]
async fn a_csm_merges_accounts_and_a_merged_one_cannot_merge_again() {
    let app = TestApp::new().await;
    let acme = account_id(&app, "Acme Corp").await;
    let globex = account_id(&app, "Globex").await;
    let uri = format!("/api/v1/accounts/{acme}/merge");
    let (status, detail) = app.send_json(Method::POST, &uri, Role::Csm, &json!({ "from": globex })).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["account"]["id"], acme);
    assert_eq!(detail["sources"].as_array().map(Vec::len), Some(2), "Globex's record moved: {detail}");
    let (status, body) = app.send_json(Method::POST, &uri, Role::Csm, &json!({ "from": globex })).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("merged into")), "{body}");
    let (status, body) = app.send_json(Method::POST, &uri, Role::Csm, &json!({ "from": 999_999 })).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
    for bad in [json!({}), json!({ "from": "x" }), json!({ "from": 1, "extra": true })] {
        let (status, body) = app.send_json(Method::POST, &uri, Role::Csm, &bad).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"), "{bad}: {body}");
    }
}

#[tokio::test]
async fn a_csm_splits_records_off_an_account() {
    let app = TestApp::new().await;
    let acme = account_id(&app, "Acme Corp").await;
    let globex = account_id(&app, "Globex").await;
    app.store.merge_accounts(acme, globex).await.expect("merge");
    let uri = format!("/api/v1/accounts/{acme}/split");
    let records = json!({ "records": [{ "connector": "zd", "external_id": "org-2" }] });
    let (status, outcome) = app.send_json(Method::POST, &uri, Role::Csm, &records).await;
    assert_eq!(status, StatusCode::CREATED, "{outcome}");
    let created = outcome["created"].as_i64().expect("new account");
    let (_, detail) = app.get(&format!("/api/v1/accounts/{created}"), Role::Viewer).await;
    assert_eq!(detail["sources"][0]["external_id"], "org-2", "{detail}");
    let (_, kept) = app.get(&format!("/api/v1/accounts/{acme}"), Role::Viewer).await;
    assert_eq!(kept["kept_apart"][0]["external_id"], "org-2", "{kept}");
    let unknown = json!({ "records": [{ "connector": "zd", "external_id": "org-9" }] });
    let (status, body) = app.send_json(Method::POST, &uri, Role::Csm, &unknown).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"), "{body}");
    let (status, body) = app.send_json(Method::POST, &uri, Role::Csm, &json!({ "records": [] })).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"), "{body}");
    let (status, body) = app.send_json(Method::POST, "/api/v1/accounts/999999/split", Role::Csm, &records).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
}

#[tokio::test]
async fn a_csm_links_a_triage_item_to_an_account() {
    let app = TestApp::new().await;
    let acme = account_id(&app, "Acme Corp").await;
    let globex = account_id(&app, "Globex").await;
    let (_, page) = app.get("/api/v1/triage", Role::Viewer).await;
    let item = page["items"][0]["id"].as_i64().expect("an item to triage");
    let uri = format!("/api/v1/items/{item}/account");
    let (status, link) = app.send_json(Method::POST, &uri, Role::Csm, &json!({ "account": acme })).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert_eq!((link["account"].as_i64(), link["provenance"].as_str()), (Some(acme), Some("manual")));
    let (_, page) = app.get("/api/v1/triage", Role::Viewer).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0), "the item left the queue: {page}");
    let (_, shown) = app.get(&format!("/api/v1/items/{item}"), Role::Viewer).await;
    assert_eq!(shown["account"]["id"], acme);

    app.store.merge_accounts(acme, globex).await.expect("merge");
    let (status, body) = app.send_json(Method::POST, &uri, Role::Csm, &json!({ "account": globex })).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"), "{body}");
    let (status, body) = app.send_json(Method::POST, &uri, Role::Csm, &json!({ "account": 999_999 })).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
    let (status, body) =
        app.send_json(Method::POST, "/api/v1/items/999999/account", Role::Csm, &json!({ "account": acme })).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
    let (status, body) = app.send_json(Method::POST, &uri, Role::Csm, &json!({ "acct": acme })).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"), "{body}");
}

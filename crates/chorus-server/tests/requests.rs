//! `/api/v1/requests` over a real SQLite store: the ranking with its top factors, one
//! request's breakdown and links, and the PM's writes with their errors.

mod support;

use axum::http::{Method, StatusCode};
use chorus_store::Role;
use serde_json::{json, Value};
use support::TestApp;

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

/// The id of the seeded item titled `title`.
async fn item_id(app: &TestApp, title: &str) -> i64 {
    for id in 1..=20 {
        let (status, item) = app.get(&format!("/api/v1/items/{id}"), Role::Viewer).await;
        if status == StatusCode::OK && item["title"] == title {
            return id;
        }
    }
    panic!("no item titled {title}");
}

async fn create(app: &TestApp, title: &str) -> i64 {
    let (status, request) = app
        .send_json(Method::POST, "/api/v1/requests", Role::Pm, &json!({ "title": title, "description": "why" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    assert_eq!(request["status"], "open");
    request["id"].as_i64().expect("id")
}

async fn link(app: &TestApp, request: i64, items: &[i64]) -> (StatusCode, Value) {
    app.send_json(Method::POST, &format!("/api/v1/requests/{request}/items"), Role::Pm, &json!({ "items": items }))
        .await
}

#[tokio::test]
async fn requests_rank_by_revenue_with_top_factors_and_page() {
    let app = TestApp::new().await;
    let export = create(&app, "Better export").await;
    let nightly = create(&app, "Nightly export").await;
    let bug = item_id(&app, "Export to CSV fails").await;
    let scheduled = item_id(&app, "Scheduled export").await;
    assert_eq!(link(&app, export, &[bug]).await.0, StatusCode::OK);
    assert_eq!(link(&app, nightly, &[scheduled]).await.0, StatusCode::OK);

    let (status, page) = app.get("/api/v1/requests", Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let rows = page["requests"].as_array().expect("requests");
    assert_eq!(rows.len(), 2, "{page}");
    assert_eq!(rows[0]["request"]["id"], export, "Acme's ARR outweighs Globex's: {page}");
    assert_eq!(rows[0]["rank"], 1);
    assert!(rows[0]["score"].as_f64().unwrap_or(0.0) > rows[1]["score"].as_f64().unwrap_or(0.0));
    assert_eq!(rows[0]["top_factors"][0]["name"], "Acme Corp");
    assert_eq!(rows[0]["counts"]["items"], 1);

    let (_, first) = app.get("/api/v1/requests?limit=1", Role::Viewer).await;
    let cursor = first["next_cursor"].as_str().expect("a second page").to_owned();
    let (_, second) = app.get(&format!("/api/v1/requests?limit=1&cursor={cursor}"), Role::Viewer).await;
    assert_eq!(second["requests"][0]["request"]["id"], nightly, "{second}");
    assert_eq!(second["requests"][0]["rank"], 2);
    assert!(second["next_cursor"].is_null());

    let (_, shipped) = app.get("/api/v1/requests?status=shipped", Role::Viewer).await;
    assert_eq!(shipped["requests"].as_array().map(Vec::len), Some(0));
    for uri in ["/api/v1/requests?status=nonsense", "/api/v1/requests?cursor=x", "/api/v1/requests?limit=0"] {
        let (status, body) = app.get(uri, Role::Viewer).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"), "{uri}: {body}");
    }
}

#[tokio::test]
async fn a_request_answers_with_its_breakdown_and_links() {
    let app = TestApp::new().await;
    let id = create(&app, "Better export").await;
    let bug = item_id(&app, "Export to CSV fails").await;
    link(&app, id, &[bug]).await;
    let (status, detail) = app.get(&format!("/api/v1/requests/{id}"), Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["rank"], 1);
    let factor = &detail["score"]["accounts"][0];
    assert_eq!(factor["kind"], "bug", "{detail}");
    assert!(factor["contribution"].as_f64().is_some_and(|c| c > 0.0), "{detail}");
    let account = factor["account_id"].as_i64().expect("account");
    assert_eq!(detail["account_names"][account.to_string()], "Acme Corp");
    assert_eq!(detail["links"][0]["item_id"], bug);
    assert_eq!(detail["links"][0]["provenance"], "manual");

    let (status, body) = app.get("/api/v1/requests/999999", Role::Viewer).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
    let (status, body) = app.get("/api/v1/requests/x", Role::Viewer).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"), "{body}");
}

#[tokio::test]
async fn creating_and_updating_requests_checks_the_body() {
    let app = TestApp::new().await;
    for bad in
        [json!({}), json!({ "title": "  " }), json!({ "title": "x".repeat(501) }), json!({ "title": "a", "x": 1 })]
    {
        let (status, body) = app.send_json(Method::POST, "/api/v1/requests", Role::Pm, &bad).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"), "{bad}: {body}");
    }
    let id = create(&app, "Export").await;
    let uri = format!("/api/v1/requests/{id}");
    let (status, renamed) =
        app.send_json(Method::PATCH, &uri, Role::Pm, &json!({ "title": " CSV export ", "status": "planned" })).await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!((renamed["title"].as_str(), renamed["status"].as_str()), (Some("CSV export"), Some("planned")));
    for bad in [json!({}), json!({ "description": "only" }), json!({ "status": "done-ish" }), json!({ "title": "" })] {
        let (status, body) = app.send_json(Method::PATCH, &uri, Role::Pm, &bad).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"), "{bad}: {body}");
    }
    let (_, unchanged) = app.get(&uri, Role::Viewer).await;
    assert_eq!(unchanged["request"]["title"], "CSV export", "a refused update wrote nothing");
    let (status, body) =
        app.send_json(Method::PATCH, "/api/v1/requests/999999", Role::Pm, &json!({ "status": "open" })).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");

    let (status, shipped) = app.send(Method::POST, &format!("{uri}/ship"), Some(app.token(Role::Pm)), None).await;
    assert_eq!(status, StatusCode::OK, "{shipped}");
    assert!(shipped.contains("\"status\":\"shipped\""), "{shipped}");
    let (status, _) = app.send(Method::POST, "/api/v1/requests/999999/ship", Some(app.token(Role::Pm)), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn merging_moves_links_and_a_merged_request_refuses_writes() {
    let app = TestApp::new().await;
    let into = create(&app, "Export").await;
    let from = create(&app, "CSV export").await;
    let bug = item_id(&app, "Export to CSV fails").await;
    link(&app, from, &[bug]).await;
    let uri = format!("/api/v1/requests/{into}/merge");
    let (status, merged) = app.send_json(Method::POST, &uri, Role::Pm, &json!({ "from": from })).await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["moved_links"], 1);
    let (_, detail) = app.get(&format!("/api/v1/requests/{into}"), Role::Viewer).await;
    assert_eq!(detail["links"][0]["item_id"], bug, "{detail}");
    let (_, gone) = app.get(&format!("/api/v1/requests/{from}"), Role::Viewer).await;
    assert_eq!(gone["request"]["merged_into"], into);

    let (status, body) = app.send_json(Method::POST, &uri, Role::Pm, &json!({ "from": from })).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"), "{body}");
    let (status, body) = link(&app, from, &[bug]).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"), "linking to a merged request: {body}");
    let (status, body) = app.send_json(Method::POST, &uri, Role::Pm, &json!({ "from": into })).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"), "into itself: {body}");
    let (status, body) = app.send_json(Method::POST, &uri, Role::Pm, &json!({ "from": 999_999 })).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
    let (status, body) = app.send_json(Method::POST, &uri, Role::Pm, &json!({ "into": from })).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"), "{body}");
}

#[tokio::test]
async fn linking_and_unlinking_items() {
    let app = TestApp::new().await;
    let id = create(&app, "Export").await;
    let bug = item_id(&app, "Export to CSV fails").await;
    let scheduled = item_id(&app, "Scheduled export").await;
    let (status, links) = link(&app, id, &[bug, scheduled, bug]).await;
    assert_eq!(status, StatusCode::OK, "{links}");
    assert_eq!(links["links"].as_array().map(Vec::len), Some(2), "{links}");
    let (status, body) = link(&app, id, &[bug, 999_999]).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
    let (status, body) = link(&app, id, &[]).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"), "{body}");
    let (status, body) = link(&app, 999_999, &[bug]).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");

    let uri = format!("/api/v1/requests/{id}/items/{bug}");
    let (status, after) = app.send(Method::DELETE, &uri, Some(app.token(Role::Pm)), None).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    let after: Value = serde_json::from_str(&after).expect("json");
    assert_eq!(after["links"].as_array().map(Vec::len), Some(1));
    let (status, body) = app.send(Method::DELETE, &uri, Some(app.token(Role::Pm)), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not linked any more: {body}");
}

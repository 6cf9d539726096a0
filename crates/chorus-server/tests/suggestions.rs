//! Suggested links over HTTP, on a real SQLite store and index: a request about SSO is
//! suggested the SSO tickets with their shared words, a PM accepts or rejects one, an
//! item's likely requests skip closed ones, and unknown ids are 404s.

mod support;

use axum::http::{Method, StatusCode};
use chorus_store::Role;
use serde_json::{json, Value};
use support::TestApp;

/// Tickets about SSO through Okta and about CSV exports of invoices, beside the seed's
/// "Login loop" (SSO) and two export items.
const EXTRA: [(&str, &str, &str); 4] = [
    ("sso-a", "Okta SSO login fails", "Users cannot sign in with Okta single sign-on"),
    ("sso-b", "SAML SSO through Okta", "We need Okta SAML for the whole team"),
    ("inv-a", "CSV export of invoices", "Finance wants every invoice as CSV"),
    ("inv-b", "Invoices export times out", "The invoices CSV never downloads"),
];

async fn app() -> TestApp {
    TestApp::with_items(&EXTRA).await
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

/// The id of the item titled `title`.
async fn item_id(app: &TestApp, title: &str) -> i64 {
    for id in 1..=30 {
        let (status, item) = app.get(&format!("/api/v1/items/{id}"), Role::Viewer).await;
        if status == StatusCode::OK && item["title"] == title {
            return id;
        }
    }
    panic!("no item titled {title}");
}

async fn create(app: &TestApp, title: &str, description: &str) -> i64 {
    let body = json!({ "title": title, "description": description });
    let (status, request) = app.send_json(Method::POST, "/api/v1/requests", Role::Pm, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    request["id"].as_i64().expect("id")
}

async fn suggested(app: &TestApp, request: i64) -> Vec<i64> {
    let (status, list) = app.get(&format!("/api/v1/requests/{request}/suggestions"), Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["request_id"], request);
    list["suggestions"].as_array().expect("suggestions").iter().filter_map(|s| s["item_id"].as_i64()).collect()
}

async fn post(app: &TestApp, uri: &str, role: Role) -> (StatusCode, Value) {
    let (status, body) = app.send(Method::POST, uri, Some(app.token(role)), None).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

#[tokio::test]
async fn a_request_about_sso_is_suggested_the_sso_tickets_with_their_shared_words() {
    let app = app().await;
    let sso = create(&app, "Single sign-on with Okta", "SSO and SAML for customers").await;
    let (status, list) = app.get(&format!("/api/v1/requests/{sso}/suggestions?limit=5"), Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let suggestions = list["suggestions"].as_array().expect("suggestions");
    let ids: Vec<i64> = suggestions.iter().filter_map(|s| s["item_id"].as_i64()).collect();
    let sso_items = [item_id(&app, "Okta SSO login fails").await, item_id(&app, "SAML SSO through Okta").await];
    let loop_item = item_id(&app, "Login loop").await;
    assert_eq!(ids.len(), 3, "{list}");
    assert!(sso_items.contains(&ids[0]) && sso_items.contains(&ids[1]), "Okta tickets first: {list}");
    assert_eq!(ids[2], loop_item, "SSO alone ranks below SSO and Okta: {list}");
    let first = &suggestions[0];
    let shared: Vec<&str> = first["shared_terms"].as_array().expect("terms").iter().filter_map(Value::as_str).collect();
    assert!(shared.contains(&"okta") && shared.contains(&"sso"), "{first}");
    assert_eq!((first["kind"].as_str(), first["source"].as_str()), (Some("support_ticket"), Some("zendesk")));
    assert!(first["score"].as_f64().unwrap_or(0.0) >= suggestions[1]["score"].as_f64().unwrap_or(0.0));

    let invoices = create(&app, "Export invoices to CSV", "").await;
    let csv = suggested(&app, invoices).await;
    assert!(!csv.iter().any(|id| sso_items.contains(id) || *id == loop_item), "{csv:?}");
    assert!(csv.contains(&item_id(&app, "CSV export of invoices").await), "{csv:?}");
}

#[tokio::test]
async fn accepting_links_with_provenance_suggestion_and_rejecting_remembers() {
    let app = app().await;
    let sso = create(&app, "Okta SSO", "").await;
    let before = suggested(&app, sso).await;
    let (accepted, rejected) = (before[0], before[1]);

    let (status, links) = post(&app, &format!("/api/v1/requests/{sso}/suggestions/{accepted}/accept"), Role::Pm).await;
    assert_eq!(status, StatusCode::OK, "{links}");
    assert_eq!(
        links["links"],
        json!([{
            "item_id": accepted, "provenance": "suggestion",
            "linked_at": links["links"][0]["linked_at"], "arr_at_ask_minor": null, "arr_currency": null
        }])
    );
    let (status, body) = post(&app, &format!("/api/v1/requests/{sso}/suggestions/{rejected}/reject"), Role::Pm).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "request_id": sso, "item_id": rejected }));

    let after = suggested(&app, sso).await;
    assert!(!after.contains(&accepted) && !after.contains(&rejected), "answered once: {after:?}");
    assert!(before[2..].iter().all(|id| after.contains(id)), "the rest stay: {before:?} {after:?}");

    let (status, body) =
        post(&app, &format!("/api/v1/requests/{sso}/suggestions/{accepted}/accept"), Role::Viewer).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "a viewer only reads");
}

#[tokio::test]
async fn an_items_likely_requests_put_the_matching_one_first_and_skip_closed_ones() {
    let app = app().await;
    let sso = create(&app, "Single sign-on with Okta", "").await;
    let invoices = create(&app, "Export invoices to CSV", "").await;
    let shipped = create(&app, "Okta SSO", "Okta single sign-on").await;
    let (status, _) = post(&app, &format!("/api/v1/requests/{shipped}/ship"), Role::Pm).await;
    assert_eq!(status, StatusCode::OK);

    let okta = item_id(&app, "Okta SSO login fails").await;
    let (status, likely) = app.get(&format!("/api/v1/items/{okta}/likely-requests"), Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{likely}");
    assert_eq!(likely["item_id"], okta);
    let requests = likely["requests"].as_array().expect("requests");
    assert_eq!(requests[0]["request_id"], sso, "{likely}");
    assert_eq!(requests[0]["status"], "open");
    assert!(requests[0]["shared_terms"].as_array().expect("terms").contains(&json!("okta")), "{likely}");
    let ids: Vec<i64> = requests.iter().filter_map(|r| r["request_id"].as_i64()).collect();
    assert!(!ids.contains(&shipped) && !ids.contains(&invoices), "{likely}");
}

#[tokio::test]
async fn unknown_ids_are_404s_and_bad_input_400s() {
    let app = app().await;
    let sso = create(&app, "Okta SSO", "").await;
    let item = item_id(&app, "Okta SSO login fails").await;
    let cases = [
        (Method::GET, "/api/v1/requests/999999/suggestions".to_owned(), Role::Viewer, StatusCode::NOT_FOUND),
        (Method::GET, "/api/v1/items/999999/likely-requests".to_owned(), Role::Viewer, StatusCode::NOT_FOUND),
        (Method::POST, format!("/api/v1/requests/999999/suggestions/{item}/accept"), Role::Pm, StatusCode::NOT_FOUND),
        (Method::POST, format!("/api/v1/requests/{sso}/suggestions/999999/accept"), Role::Pm, StatusCode::NOT_FOUND),
        (Method::POST, format!("/api/v1/requests/999999/suggestions/{item}/reject"), Role::Pm, StatusCode::NOT_FOUND),
        (Method::POST, format!("/api/v1/requests/{sso}/suggestions/999999/reject"), Role::Pm, StatusCode::NOT_FOUND),
        (Method::GET, format!("/api/v1/requests/{sso}/suggestions?limit=0"), Role::Viewer, StatusCode::BAD_REQUEST),
        (Method::GET, format!("/api/v1/requests/{sso}/suggestions?limit=101"), Role::Viewer, StatusCode::BAD_REQUEST),
        (Method::GET, format!("/api/v1/requests/{sso}/suggestions?nope=1"), Role::Viewer, StatusCode::BAD_REQUEST),
        (Method::GET, format!("/api/v1/items/{item}/likely-requests?limit=x"), Role::Viewer, StatusCode::BAD_REQUEST),
        (Method::GET, "/api/v1/requests/abc/suggestions".to_owned(), Role::Viewer, StatusCode::BAD_REQUEST),
    ];
    for (method, uri, role, expected) in cases {
        let (status, body) = app.send(method.clone(), &uri, Some(app.token(role)), None).await;
        assert_eq!(status, expected, "{method} {uri}: {body}");
        let body: Value = serde_json::from_str(&body).expect("a JSON error");
        assert!(body["code"].is_string() && body["message"].is_string(), "{body}");
        assert!(!body["message"].as_str().unwrap_or("").contains("SELECT"), "no internals: {body}");
    }

    let survivor = create(&app, "Single sign-on", "").await;
    let merge = json!({ "from": sso });
    let (status, _) =
        app.send_json(Method::POST, &format!("/api/v1/requests/{survivor}/merge"), Role::Pm, &merge).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get(&format!("/api/v1/requests/{sso}/suggestions"), Role::Viewer).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"), "merged away: {body}");
}

#[tokio::test]
async fn without_an_index_suggestions_are_unavailable() {
    let app = TestApp::without_index().await;
    let sso = create(&app, "Okta SSO", "").await;
    let (status, body) = app.get(&format!("/api/v1/requests/{sso}/suggestions"), Role::Viewer).await;
    assert_eq!((status, code(&body)), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"), "{body}");
    let (status, body) = app.get("/api/v1/items/1/likely-requests", Role::Viewer).await;
    assert_eq!((status, code(&body)), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"), "{body}");
}

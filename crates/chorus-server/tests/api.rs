//! `/api/v1` over a real SQLite store and index: every route's happy path and its main
//! errors, each answered with the `{ "code", "message" }` body.

mod support;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chorus_store::Role;
use serde_json::Value;
use support::TestApp;

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn search_returns_the_full_answer() {
    let app = TestApp::new().await;
    let (status, answer) = app.get("/api/v1/search?q=export", Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["total"], 2);
    assert_eq!(answer["reach"]["accounts"], 2);
    assert_eq!(answer["reach"]["arr_minor"], 173_000_000);
    let hits = answer["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|hit| hit["snippet"]["html"].as_str().is_some_and(|html| html.contains("<b>"))));
    assert!(hits.iter().all(|hit| !hit["snippet"]["highlights"].as_array().expect("ranges").is_empty()));
    let (_, by_revenue) = app.get("/api/v1/search?q=export&sort=revenue", Role::Viewer).await;
    assert_eq!(by_revenue["hits"][0]["account_name"], "Acme Corp", "the larger account first");
    let kinds = answer["facets"]["kind"].as_array().expect("kind facet");
    assert_eq!(kinds.len(), 2);
}

#[tokio::test]
async fn search_applies_every_filter_kind() {
    let app = TestApp::new().await;
    let (_, answer) = app.get("/api/v1/search?q=export&kind=bug", Role::Viewer).await;
    assert_eq!(answer["total"], 1);
    assert_eq!(answer["hits"][0]["kind"], "bug");
    let (_, answer) = app.get("/api/v1/search?kind=bug,feature_request&source=zendesk&status=open", Role::Viewer).await;
    assert_eq!(answer["total"], 2);
    let (_, answer) = app.get("/api/v1/search?segment=enterprise&linked=false&connector=zd", Role::Viewer).await;
    assert_eq!(answer["total"], 2, "the unlinked-account ticket has no segment");
    let (_, answer) =
        app.get("/api/v1/search?updated_from=2025-03-02T00:00:00Z&updated_to=2025-03-03T00:00:00Z", Role::Viewer).await;
    assert_eq!(answer["total"], 3);
    let (_, answer) = app.get("/api/v1/search?created_from=2025-04-01T00:00:00Z", Role::Viewer).await;
    assert_eq!(answer["total"], 0);
    let (_, answer) = app.get("/api/v1/search?sort=recency&limit=1&offset=1", Role::Viewer).await;
    assert_eq!((answer["total"].as_u64(), answer["hits"].as_array().map(Vec::len)), (Some(3), Some(1)));
}

#[tokio::test]
async fn bad_searches_are_400s_with_a_message() {
    let app = TestApp::new().await;
    for uri in [
        "/api/v1/search?q=%22unclosed",
        "/api/v1/search?q=(a",
        "/api/v1/search?kind=nonsense",
        "/api/v1/search?account=abc",
        "/api/v1/search?limit=0",
        "/api/v1/search?sort=sideways",
        "/api/v1/search?unknown=1",
        "/api/v1/search?created_from=yesterday",
        "/api/v1/search?created_from=2025-05-01T00:00:00Z&created_to=2025-04-01T00:00:00Z",
    ] {
        let (status, body) = app.get(uri, Role::Viewer).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(code(&body), "bad_request", "{uri}");
        assert!(!body["message"].as_str().unwrap_or("").is_empty(), "{uri}");
    }
}

#[tokio::test]
async fn search_without_an_index_is_unavailable() {
    let app = TestApp::without_index().await;
    let (status, body) = app.get("/api/v1/search?q=export", Role::Viewer).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, serde_json::json!({ "code": "unavailable", "message": "service unavailable" }));
}

#[tokio::test]
async fn an_item_comes_with_its_links_and_source_url() {
    let app = TestApp::new().await;
    let id = app.store.item_by_external_id("zd", "1").await.expect("read").expect("seeded").id;
    let (status, item) = app.get(&format!("/api/v1/items/{id}"), Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["title"], "Export to CSV fails");
    assert_eq!(item["source_url"], "https://acme.zendesk.example/tickets/1");
    assert_eq!(item["account"]["name"], "Acme Corp");
    assert_eq!(item["account"]["arr_minor"], 125_000_000);
    assert_eq!(item["requests"], serde_json::json!([]));
    assert!(!item.to_string().contains("secret_field"), "the raw payload stays in the store");

    let request = app
        .store
        .create_request(&chorus_store::NewRequest {
            title: "CSV export".into(),
            description: String::new(),
            anchor_item_id: None,
        })
        .await
        .expect("request");
    app.store.link_item_request(id, request.id, chorus_core::LinkProvenance::Manual).await.expect("link");
    let (_, item) = app.get(&format!("/api/v1/items/{id}"), Role::Viewer).await;
    assert_eq!(item["requests"][0]["title"], "CSV export");

    let (status, body) = app.get("/api/v1/items/424242", Role::Viewer).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = app.get("/api/v1/items/abc", Role::Viewer).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"));
}

#[tokio::test]
async fn connectors_list_status_and_paged_history() {
    let app = TestApp::new().await;
    app.finished_runs("gated", 3).await;
    let (status, list) = app.get("/api/v1/connectors", Role::Viewer).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let gated = &list["connectors"][0];
    assert_eq!(
        (gated["id"].as_str(), gated["kind"].as_str(), gated["source"].as_str()),
        (Some("gated"), Some("gated"), Some("zendesk"))
    );
    assert_eq!(gated["schedule"], "*/5 * * * *");
    assert_eq!(gated["running"], false);
    assert_eq!(gated["last_run"]["status"], "succeeded");
    assert!(gated["last_run"].get("holder").is_none(), "the host and pid stay internal");

    let (status, one) = app.get("/api/v1/connectors/gated", Role::Viewer).await;
    assert_eq!((status, one["id"].as_str()), (StatusCode::OK, Some("gated")));
    let (status, body) = app.get("/api/v1/connectors/nope", Role::Viewer).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));

    let (_, first) = app.get("/api/v1/connectors/gated/runs?limit=2", Role::Viewer).await;
    assert_eq!(first["runs"].as_array().map(Vec::len), Some(2));
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let (_, second) = app.get(&format!("/api/v1/connectors/gated/runs?limit=2&cursor={cursor}"), Role::Viewer).await;
    assert_eq!(second["runs"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["next_cursor"], Value::Null);
    assert!(second["runs"][0]["id"].as_i64() < first["runs"][1]["id"].as_i64());
    let (status, body) = app.get("/api/v1/connectors/gated/runs?cursor=-4", Role::Viewer).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"));
    let (status, _) = app.get("/api/v1/connectors/gated/runs?limit=501", Role::Viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn run_history_across_connectors_pages_by_cursor() {
    let app = TestApp::new().await;
    app.finished_runs("gated", 2).await;
    let (status, page) = app.get("/api/v1/runs?limit=2", Role::Viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["runs"][0]["connector"], "gated");
    let cursor = page["next_cursor"].as_str().expect("more").to_owned();
    let (_, rest) = app.get(&format!("/api/v1/runs?limit=2&cursor={cursor}"), Role::Viewer).await;
    assert_eq!(rest["runs"][0]["connector"], "zd");
    let (_, zd) = app.get("/api/v1/runs?connector=zd", Role::Viewer).await;
    assert_eq!(zd["runs"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_triggered_sync_starts_and_a_second_one_conflicts() {
    let app = TestApp::new().await;
    let admin = Some(app.token(Role::Admin).to_owned());
    let (status, body) = app.send(Method::POST, "/api/v1/connectors/gated/sync", admin.as_deref(), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let started: Value = serde_json::from_str(&body).expect("json");
    let run_id = started["run_id"].as_i64().expect("run id");
    let (_, status_now) = app.get("/api/v1/connectors/gated", Role::Viewer).await;
    assert_eq!(status_now["running"], true);

    let (status, body) =
        app.send(Method::POST, "/api/v1/connectors/gated/sync", admin.as_deref(), Some(r#"{"full":true}"#)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("already being synced"), "{body}");

    app.gate.add_permits(1);
    let mut finished = false;
    for _ in 0..100 {
        let runs = app.store.runs(Some("gated"), 1).await.expect("runs");
        if runs.first().is_some_and(|run| run.id == run_id && run.finished_at.is_some()) {
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(finished, "the triggered run finishes once its page is let through");

    let (status, body) = app.send(Method::POST, "/api/v1/connectors/nope/sync", admin.as_deref(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) =
        app.send(Method::POST, "/api/v1/connectors/gated/sync", admin.as_deref(), Some(r#"{"full":"yes"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = app.send(Method::POST, "/api/v1/connectors/gated/sync", admin.as_deref(), Some("{")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tokens_are_created_listed_and_revoked_by_an_admin() {
    let app = TestApp::new().await;
    let admin = Some(app.token(Role::Admin).to_owned());
    let (status, body) =
        app.send(Method::POST, "/api/v1/tokens", admin.as_deref(), Some(r#"{"name":"ci","role":"pm"}"#)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created: Value = serde_json::from_str(&body).expect("json");
    let token = created["token"].as_str().expect("token text").to_owned();
    assert!(token.starts_with("chorus_") && created["role"] == "pm");
    let (status, _) = app.send(Method::GET, "/api/v1/runs", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "the new token works at once");

    let (_, list) = app.get("/api/v1/tokens", Role::Admin).await;
    let listed = list["tokens"].as_array().expect("tokens");
    assert_eq!(listed.len(), 5);
    assert!(!list.to_string().contains(&token), "a listing never carries a token");
    assert!(!list.to_string().contains(&chorus_server::token::hash(&token)), "nor its hash");

    let id = created["id"].as_i64().expect("id");
    let (status, body) = app.send(Method::DELETE, &format!("/api/v1/tokens/{id}"), admin.as_deref(), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("revoked_at"));
    let (status, _) = app.send(Method::GET, "/api/v1/runs", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.send(Method::DELETE, "/api/v1/tokens/424242", admin.as_deref(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for bad in [
        r#"{"name":"x","role":"root"}"#,
        r#"{"name":"","role":"pm"}"#,
        r#"{"name":"x"}"#,
        r#"{"name":"x","role":"pm","extra":1}"#,
    ] {
        let (status, body) = app.send(Method::POST, "/api/v1/tokens", admin.as_deref(), Some(bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (status, _) = app.send(Method::POST, "/api/v1/tokens", admin.as_deref(), Some("not json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn oversized_bodies_and_queries_are_refused() {
    let app = TestApp::new().await;
    let admin = Some(app.token(Role::Admin).to_owned());
    let huge = format!(r#"{{"name":"{}","role":"pm"}}"#, "x".repeat(1024 * 1024 + 1));
    let (status, body) = app.send(Method::POST, "/api/v1/tokens", admin.as_deref(), Some(&huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("payload_too_large"));
    let long = format!("/api/v1/search?q={}", "a".repeat(9 * 1024));
    let (status, body) = app.get(&long, Role::Viewer).await;
    assert_eq!((status, code(&body)), (StatusCode::URI_TOO_LONG, "uri_too_long"));
}

#[tokio::test]
async fn the_openapi_document_covers_every_token_route_with_its_role() {
    let app = TestApp::new().await;
    let (status, doc) = app.get("/api/v1/openapi.json", Role::Viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    // The web UI's pages, forms and assets are not the API.
    let documented_route = |route: &chorus_server::access::Route| {
        route.access != chorus_server::access::Access::Signed
            && (route.path.starts_with("/api/") || ["/healthz", "/readyz", "/metrics"].contains(&route.path))
    };
    for route in chorus_server::access::ROUTES {
        if !documented_route(route) {
            continue;
        }
        let method = route.method.as_str().to_ascii_lowercase();
        let operation = &doc["paths"][route.path][&method];
        assert!(operation.is_object(), "{} {} is missing from the document", route.method, route.path);
        if let chorus_server::access::Access::Token(role) = route.access {
            assert_eq!(operation["x-required-role"], role.as_str(), "{}", route.path);
        }
    }
    let documented: usize =
        doc["paths"].as_object().expect("paths").values().map(|item| item.as_object().map_or(0, |ops| ops.len())).sum();
    let declared = chorus_server::access::ROUTES.iter().filter(|r| documented_route(r)).count();
    assert_eq!(documented, declared, "the document lists exactly the declared routes");
}

//! Health, readiness and the error shape, driven in-process with `oneshot`.

mod support;

use axum::http::{Method, StatusCode};
use support::TestApp;

#[tokio::test]
async fn health_and_readiness_answer_without_a_token() {
    let app = TestApp::new().await;
    assert_eq!(app.send(Method::GET, "/healthz", None, None).await, (StatusCode::OK, "ok".to_owned()));
    let (status, body) = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let ready: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["backend"], "sqlite");
}

#[tokio::test]
async fn errors_have_a_stable_json_shape() {
    let app = TestApp::new().await;
    let (status, body) = app.send(Method::GET, "/api/v1/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let error: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(error["code"], "not_found");
    assert!(error["message"].is_string());
    let (status, body) = app.get("/api/v1/runs?limit=notanumber", chorus_store::Role::Viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "bad_request");
}

#[tokio::test]
async fn readiness_fails_while_the_index_is_further_behind_than_the_bound() {
    use std::sync::Arc;
    use tower::ServiceExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = chorus_store::open(&format!("sqlite://{}", dir.path().join("c.db").display())).await.expect("store");
    let index = chorus_index::SearchIndex::open(dir.path().join("index")).expect("index");
    let request =
        chorus_store::NewRequest { title: "a change".into(), description: String::new(), anchor_item_id: None };
    store.create_request(&request).await.expect("one change the index has not applied");
    let ready = |max_lag: u64| {
        let state =
            chorus_server::AppState::new(Arc::clone(&store)).with_index(index.clone()).with_max_index_lag(max_lag);
        let app = chorus_server::router(state);
        async move {
            let request = axum::http::Request::get("/readyz").body(axum::body::Body::empty()).expect("request");
            let response = app.oneshot(request).await.expect("infallible");
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
            (status, serde_json::from_slice::<serde_json::Value>(&body).expect("json"))
        }
    };
    let (status, body) = ready(0).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "unavailable");
    let (status, body) = ready(5).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["index_lag"], 1);
}

#[tokio::test]
async fn metrics_need_a_token_and_carry_latency_histograms() {
    let app = TestApp::new().await;
    app.send(Method::GET, "/api/v1/items/1", Some(app.token(chorus_store::Role::Viewer)), None).await;
    let (status, _) = app.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, text) = app.send(Method::GET, "/metrics", Some(app.token(chorus_store::Role::Viewer)), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("# TYPE chorus_api_request_duration_seconds histogram"), "{text}");
    assert!(text.contains("route=\"/api/v1/items/{id}\""), "route patterns, not paths: {text}");
    assert!(
        text.contains("chorus_sync_runs_total{connector=\"zd\"}") || text.contains("chorus_index_lag_changes_now"),
        "{text}"
    );
    assert!(!text.contains(app.token(chorus_store::Role::Viewer)), "never a token in metrics");
}

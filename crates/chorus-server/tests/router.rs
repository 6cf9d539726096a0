//! The HTTP surface driven in-process with `oneshot`, over a real SQLite store.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chorus_server::{router, AppState};
use tower::ServiceExt;

async fn app() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("chorus.db").display());
    let store = chorus_store::open(&url).await.expect("open store");
    (router(AppState { store }), dir)
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let response =
        app.clone().oneshot(Request::get(uri).body(Body::empty()).expect("request")).await.expect("response");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let (app, _dir) = app().await;
    assert_eq!(get(&app, "/healthz").await, (StatusCode::OK, "ok".to_owned()));
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    let ready: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["backend"], "sqlite");
}

#[tokio::test]
async fn errors_have_a_stable_json_shape() {
    let (app, _dir) = app().await;
    let (status, body) = get(&app, "/api/v1/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let error: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(error["code"], "not_found");
    assert!(error["message"].is_string());
    let (status, _) = get(&app, "/api/v1/runs?limit=notanumber").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn run_history_is_served() {
    let (app, _dir) = app().await;
    let (status, body) = get(&app, "/api/v1/runs?limit=5").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "[]");
}

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

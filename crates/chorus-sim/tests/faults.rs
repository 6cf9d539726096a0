//! The fault layer and the request log, over real loopback HTTP.

mod common;

use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use chorus_sim::{
    AuthSeen, CutBody, CutForm, ErrorBurst, FaultProfile, Latency, RateLimitFault, SimServer, TokenExpiry, Trigger,
    WrongShape,
};

fn hello() -> Router {
    Router::new().route("/hello", get(|| async { axum::Json(serde_json::json!({"hello": "world", "n": 12345})) }))
}

async fn status_of(url: &str) -> u16 {
    common::client().get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

#[tokio::test]
async fn error_burst_hits_exactly_its_window() {
    let profile =
        FaultProfile { error_burst: Some(ErrorBurst { after_n: 1, len: 2, status: 503 }), ..FaultProfile::none() };
    let server = SimServer::start(hello(), profile).await.expect("server starts");
    let url = format!("{}/hello?x=1", server.url());
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(status_of(&url).await);
    }
    assert_eq!(statuses, [200, 503, 503, 200]);
    let log = server.requests();
    assert_eq!(log.iter().map(|r| r.status).collect::<Vec<_>>(), [Some(200), Some(503), Some(503), Some(200)]);
    assert_eq!(log[0].path, "/hello");
    assert_eq!(log[0].query.as_deref(), Some("x=1"));
    assert_eq!(log[0].auth, AuthSeen::None);
}

#[tokio::test]
async fn rate_limit_sends_retry_after_and_flags_early_requests() {
    let mut limit = RateLimitFault::new(Trigger::FirstN(1), Duration::from_secs(1));
    limit.use_http_date = true;
    let profile = FaultProfile { rate_limit: Some(limit), ..FaultProfile::none() };
    let server = SimServer::start(hello(), profile).await.expect("server starts");
    let url = format!("{}/hello", server.url());
    let first = common::client().get(&url).send().await.expect("sent");
    assert_eq!(first.status(), 429);
    let retry_after = first.headers().get("retry-after").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(retry_after.ends_with(" GMT"), "http-date form: {retry_after}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status_of(&url).await, 429, "still inside the window");
    assert_eq!(server.retry_after_violations(), 1, "the impatient request is flagged");
    let wait = chorus_sim::fault::parse_retry_after(&retry_after).expect("parses");
    tokio::time::sleep(wait + Duration::from_millis(1100)).await;
    assert_eq!(status_of(&url).await, 200);
    assert_eq!(server.retry_after_violations(), 1, "a patient request is not flagged");
}

#[tokio::test]
async fn latency_cut_bodies_and_wrong_shapes() {
    let profile = FaultProfile {
        latency: Some(Latency {
            min: Duration::from_millis(300),
            max: Duration::from_millis(300),
            when: Trigger::FirstN(1),
        }),
        cut_bodies: vec![
            CutBody::nth("/hello", 2),
            CutBody { path_prefix: "/hello".into(), when: Trigger::Nth(3), form: CutForm::Empty },
            CutBody { path_prefix: "/hello".into(), when: Trigger::Nth(4), form: CutForm::NotJson },
        ],
        wrong_shape: Some(WrongShape { path_prefix: "/hello".into(), nth: 5 }),
        ..FaultProfile::none()
    };
    let server = SimServer::start(hello(), profile).await.expect("server starts");
    let url = format!("{}/hello", server.url());
    let started = Instant::now();
    assert_eq!(status_of(&url).await, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let fetch = || async { common::client().get(&url).send().await.expect("sent").text().await.expect("text") };
    let body = fetch().await;
    assert!(serde_json::from_str::<serde_json::Value>(&body).is_err(), "truncated: {body}");
    assert_eq!(fetch().await, "", "empty");
    assert!(fetch().await.starts_with("<html>"), "not json");
    let wrong: serde_json::Value = serde_json::from_str(&fetch().await).expect("wrong shape is well-formed json");
    assert_eq!(wrong, serde_json::json!({"unexpected": "shape"}));
    let body = fetch().await;
    assert!(serde_json::from_str::<serde_json::Value>(&body).is_ok(), "each only once: {body}");
    assert_eq!(server.faults().cut_bodies_served(), [1, 1, 1]);
}

#[tokio::test]
async fn token_expiry_fault_only_hits_bearer_requests_and_profiles_swap_at_runtime() {
    let profile = FaultProfile { token_expiry: Some(TokenExpiry { when: Trigger::Always }), ..FaultProfile::none() };
    let server = SimServer::start(hello(), profile).await.expect("server starts");
    let url = format!("{}/hello", server.url());
    assert_eq!(status_of(&url).await, 200);
    let with_token = common::client().get(&url).bearer_auth("t").send().await.expect("sent");
    assert_eq!(with_token.status(), 401);
    assert!(with_token.headers().get("www-authenticate").is_some());
    server.set_faults(FaultProfile::none());
    let with_token = common::client().get(&url).bearer_auth("t").send().await.expect("sent");
    assert_eq!(with_token.status(), 200);
    assert_eq!(server.requests()[2].auth, AuthSeen::Bearer);
}

#[test]
fn server_runs_in_its_own_thread() {
    let sim = SimServer::start_in_thread(hello(), FaultProfile::none()).expect("thread server starts");
    let url = format!("{}/hello", sim.url());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    assert_eq!(runtime.block_on(status_of(&url)), 200);
    assert_eq!(sim.requests().len(), 1);
    sim.shutdown();
}

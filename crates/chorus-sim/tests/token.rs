//! The token authority: rotation, violations, expiry.

mod common;

use std::time::Duration;

use chorus_sim::{AuthorityConfig, FaultProfile, SimServer, TokenAuthority, TokenRejection};
use serde_json::Value;

async fn refresh(base: &str, refresh_token: &str) -> (u16, Value) {
    let response = common::client()
        .post(format!("{base}/oauth/token"))
        .basic_auth("sim-client", Some("sim-client-secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_is_a_violation() {
    let authority = TokenAuthority::new(AuthorityConfig::default());
    let server = SimServer::start(authority.router(), FaultProfile::none()).await.expect("server starts");
    let (status, first) = refresh(&server.url(), "sim-refresh-0").await;
    assert_eq!(status, 200, "{first}");
    let rotated = first["refresh_token"].as_str().expect("a new refresh token").to_owned();
    assert_ne!(rotated, "sim-refresh-0");
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["expires_in"], 3600);

    let (status, reused) = refresh(&server.url(), "sim-refresh-0").await;
    assert_eq!((status, reused), (400, serde_json::json!({"error": "invalid_grant"})));
    assert_eq!(authority.violations(), 1);

    let (status, _) = refresh(&server.url(), &rotated).await;
    assert_eq!(status, 200);
    assert_eq!(authority.refreshes(), 2);
    assert_eq!(authority.token_requests(), 3);
    assert_eq!(authority.live_refresh_tokens().len(), 1);
}

#[tokio::test]
async fn wrong_client_and_client_credentials_grant() {
    let authority = TokenAuthority::new(AuthorityConfig::default());
    let server = SimServer::start(authority.router(), FaultProfile::none()).await.expect("server starts");
    let wrong = common::client()
        .post(format!("{}/oauth/token", server.url()))
        .form(&[("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "nope")])
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong.status(), 401);
    let granted: Value = common::client()
        .post(format!("{}/oauth/token", server.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-client"),
            ("client_secret", "sim-client-secret"),
        ])
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert!(granted.get("refresh_token").is_none());
    let token = granted["access_token"].as_str().expect("access token");
    assert_eq!(authority.check_bearer(token), Ok(()));
    assert_eq!(authority.client_credential_grants(), 1);
}

#[tokio::test]
async fn access_tokens_expire_by_uses_and_by_ttl() {
    let authority = TokenAuthority::new(AuthorityConfig {
        max_uses: Some(2),
        access_ttl: Duration::from_millis(300),
        ..Default::default()
    });
    let server = SimServer::start(authority.router(), FaultProfile::none()).await.expect("server starts");
    let (_, grant) = refresh(&server.url(), "sim-refresh-0").await;
    let token = grant["access_token"].as_str().expect("access token").to_owned();
    assert_eq!(authority.check_bearer(&token), Ok(()));
    assert_eq!(authority.check_bearer(&token), Ok(()));
    assert_eq!(authority.check_bearer(&token), Err(TokenRejection::Expired));
    let (_, grant) = refresh(&server.url(), grant["refresh_token"].as_str().expect("rotated")).await;
    let token = grant["access_token"].as_str().expect("access token").to_owned();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(authority.check_bearer(&token), Err(TokenRejection::Expired));
    assert_eq!(authority.check_bearer("made-up"), Err(TokenRejection::Unknown));
}

#[test]
fn basic_check_accepts_only_the_right_pair() {
    use axum::http::{header, HeaderMap, HeaderValue};
    let mut headers = HeaderMap::new();
    // "agent@acme.example:tok" in base64
    headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic YWdlbnRAYWNtZS5leGFtcGxlOnRvaw=="));
    assert!(chorus_sim::token::check_basic(&headers, "agent@acme.example", "tok"));
    assert!(!chorus_sim::token::check_basic(&headers, "agent@acme.example", "other"));
    assert!(!chorus_sim::token::check_basic(&HeaderMap::new(), "a", "b"));
    assert_eq!(chorus_sim::token::basic_challenge().status(), 401);
}

//! Signed webhooks for all three sources: valid, tampered, wrong-secret, stale and
//! replayed requests; Slack's url_verification; a debounced sync per burst; and a Jira
//! deletion tombstoned at once.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::{TestApp, JIRA_SECRET, SLACK_SECRET, ZENDESK_SECRET};

fn hmac(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn slack_headers(secret: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let ts = ts.to_string();
    let signature = format!("v0={}", hex(&hmac(secret, &[b"v0:", ts.as_bytes(), b":", body])));
    vec![("x-slack-request-timestamp", ts), ("x-slack-signature", signature)]
}

fn zendesk_headers(secret: &str, at: chrono::DateTime<chrono::Utc>, body: &[u8]) -> Vec<(&'static str, String)> {
    let ts = at.to_rfc3339();
    let signature = base64::engine::general_purpose::STANDARD.encode(hmac(secret, &[ts.as_bytes(), body]));
    vec![("x-zendesk-webhook-signature-timestamp", ts), ("x-zendesk-webhook-signature", signature)]
}

fn jira_headers(secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![("x-hub-signature", format!("sha256={}", hex(&hmac(secret, &[body]))))]
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

async fn runs(app: &TestApp, connector: &str) -> usize {
    app.store.runs(Some(connector), 100).await.expect("runs").len()
}

/// Waits until `connector` has `n` runs; fails after 5 s.
async fn wait_for_runs(app: &TestApp, connector: &str, n: usize) {
    for _ in 0..250 {
        if runs(app, connector).await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{connector} never reached {n} runs");
}

#[tokio::test]
async fn slack_requests_are_verified_before_anything_happens() {
    let app = TestApp::with_webhooks().await;
    let uri = "/webhooks/slack/slack";
    let body = br#"{"type":"event_callback","event":{"type":"message","subtype":"message_changed","channel":"C1"}}"#;
    let ts = now().timestamp();

    let (status, answer) = app.post_raw(uri, &slack_headers(SLACK_SECRET, ts, body), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer.contains("scheduled"), "{answer}");

    let (status, answer) = app.post_raw(uri, &slack_headers(SLACK_SECRET, ts, body), body).await;
    assert_eq!(status, StatusCode::CONFLICT, "replayed: {answer}");

    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    let (status, _) = app.post_raw(uri, &slack_headers(SLACK_SECRET, ts + 1, body), &tampered).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "tampered");
    let (status, _) = app.post_raw(uri, &slack_headers("not-the-secret", ts + 2, body), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong secret");
    let (status, answer) = app.post_raw(uri, &slack_headers(SLACK_SECRET, ts - 301, body), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "stale");
    assert!(answer.contains("5-minute window"), "{answer}");
    let (status, _) = app.post_raw(uri, &[], body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "unsigned");

    let challenge =
        br#"{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#;
    let (status, answer) = app.post_raw(uri, &slack_headers(SLACK_SECRET, ts + 3, challenge), challenge).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, r#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#);

    wait_for_runs(&app, "slack", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs(&app, "slack").await, 1, "only the verified event started a run");
}

#[tokio::test]
async fn a_burst_of_events_becomes_one_run() {
    let app = TestApp::with_webhooks().await;
    let ts = now().timestamp();
    for n in 0..5 {
        let body = format!(r#"{{"type":"event_callback","event":{{"type":"message","ts":"{n}"}}}}"#);
        let (status, _) = app
            .post_raw("/webhooks/slack/slack", &slack_headers(SLACK_SECRET, ts, body.as_bytes()), body.as_bytes())
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    wait_for_runs(&app, "slack", 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(runs(&app, "slack").await, 1, "debounced into one run");
}

#[tokio::test]
async fn zendesk_requests_are_verified_before_anything_happens() {
    let app = TestApp::with_webhooks().await;
    let uri = "/webhooks/zendesk/zendesk";
    let body = br#"{"type":"zen:event-type:ticket.comment_added","detail":{"id":"35436"}}"#;
    let at = now();
    let (status, answer) = app.post_raw(uri, &zendesk_headers(ZENDESK_SECRET, at, body), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, _) = app.post_raw(uri, &zendesk_headers(ZENDESK_SECRET, at, body), body).await;
    assert_eq!(status, StatusCode::CONFLICT, "replayed");
    let (status, _) = app.post_raw(uri, &zendesk_headers(ZENDESK_SECRET, at, body), br#"{"detail":{"id":"1"}}"#).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "tampered");
    let (status, _) = app.post_raw(uri, &zendesk_headers("wrong", at, body), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong secret");
    let stale = at - chrono::Duration::minutes(6);
    let (status, _) = app.post_raw(uri, &zendesk_headers(ZENDESK_SECRET, stale, body), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "stale");
    wait_for_runs(&app, "zendesk", 1).await;
}

#[tokio::test]
async fn jira_requests_are_verified_and_a_deleted_issue_is_tombstoned_at_once() {
    let app = TestApp::with_webhooks().await;
    let uri = "/webhooks/jira/jira";
    let ms = now().timestamp_millis();
    let updated = format!(r#"{{"timestamp":{ms},"webhookEvent":"jira:issue_updated","issue":{{"id":"10001"}}}}"#);
    let updated = updated.as_bytes();
    let (status, answer) = app.post_raw(uri, &jira_headers(JIRA_SECRET, updated), updated).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, _) = app.post_raw(uri, &jira_headers(JIRA_SECRET, updated), updated).await;
    assert_eq!(status, StatusCode::CONFLICT, "replayed");
    let (status, _) = app.post_raw(uri, &jira_headers(JIRA_SECRET, updated), b"{\"timestamp\":1}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "tampered");
    let (status, _) = app.post_raw(uri, &jira_headers("wrong", updated), updated).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong secret");
    let old = format!(r#"{{"timestamp":{},"webhookEvent":"jira:issue_updated"}}"#, ms - 600_000);
    let (status, _) = app.post_raw(uri, &jira_headers(JIRA_SECRET, old.as_bytes()), old.as_bytes()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "stale");
    wait_for_runs(&app, "jira", 2).await;

    let live = app.store.item_by_external_id("jira", "10001").await.expect("read").expect("seeded");
    assert!(live.deleted_at.is_none());
    let cursor_before = app.store.cursor("jira").await.expect("cursor");
    let deleted = format!(
        r#"{{"timestamp":{},"webhookEvent":"jira:issue_deleted","issue":{{"id":"10001","key":"PROD-1"}}}}"#,
        ms + 1
    );
    let (status, answer) = app.post_raw(uri, &jira_headers(JIRA_SECRET, deleted.as_bytes()), deleted.as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer.contains(r#""tombstones":1"#), "{answer}");
    let gone = app.store.item_by_external_id("jira", "10001").await.expect("read").expect("kept as a tombstone");
    assert!(gone.deleted_at.is_some(), "tombstoned before the response");
    let cursor_after = app.store.cursor("jira").await.expect("cursor");
    assert_eq!(cursor_after.value, cursor_before.value, "the cursor is left as it was");
}

#[tokio::test]
async fn webhooks_for_unknown_or_mismatched_connectors_are_not_found() {
    let app = TestApp::with_webhooks().await;
    let body = b"{}";
    let (status, _) =
        app.post_raw("/webhooks/slack/nope", &slack_headers(SLACK_SECRET, now().timestamp(), body), body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.post_raw("/webhooks/jira/slack", &jira_headers(SLACK_SECRET, body), body).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a slack connector has no jira webhook");
    let (status, _) =
        app.post_raw("/webhooks/zendesk/gated", &zendesk_headers(ZENDESK_SECRET, now(), body), body).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no secret configured, no endpoint");
}

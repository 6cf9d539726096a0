//! Signed webhooks from Slack, Zendesk and Jira: `POST /webhooks/{source}/{connector}`.
//!
//! Each request is verified against the connector's webhook secret over the raw body
//! (constant-time, before any parsing), refused when stale or replayed, and then
//! turned into work: a debounced incremental sync of the connector, or — for
//! `jira:issue_deleted` — a tombstone written at once. A request for a connector with
//! no webhook secret configured is a 404: no secret, no endpoint.

pub mod verify;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use chorus_core::{Secret, Source};
use serde_json::{json, Value};

use crate::extract::{ApiBytes, ApiPath};
use crate::syncs::TriggerError;
use crate::{ApiError, AppState};
use verify::{Refused, ReplayGuard};

/// Webhook secrets by connector id, and the replay memory they share.
#[derive(Default)]
pub struct Webhooks {
    secrets: HashMap<String, Secret>,
    replays: ReplayGuard,
}

impl Webhooks {
    pub fn new(secrets: HashMap<String, Secret>) -> Self {
        Self { secrets, replays: ReplayGuard::default() }
    }
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Replayed => ApiError::Conflict(refused.to_string()),
            other => ApiError::Unauthorized(other.to_string()),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The connector's secret, when it is a connector of `source` with a webhook.
fn secret<'a>(state: &'a AppState, source: Source, connector: &str) -> Result<&'a Secret, ApiError> {
    let not_found = || ApiError::NotFound(format!("no {source} webhook for connector `{connector}`"));
    let entry = state.syncs.get(connector).ok_or_else(not_found)?;
    if entry.connector.source() != source {
        return Err(not_found());
    }
    state.webhooks.secrets.get(connector).ok_or_else(not_found)
}

fn parse(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|_| ApiError::BadRequest("the webhook body is not JSON".into()))
}

fn accepted(state: &AppState, connector: &str) -> Json<Value> {
    let scheduled = state.syncs.request_sync(connector);
    Json(json!({ "status": "accepted", "sync": if scheduled { "scheduled" } else { "pending" } }))
}

/// Slack Events API: `url_verification`, and `message` events (edits and deletions
/// included) that ask for a sync.
pub async fn slack(
    State(state): State<AppState>,
    ApiPath(connector): ApiPath<String>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Json<Value>, ApiError> {
    let secret = secret(&state, Source::Slack, &connector)?;
    let now = chrono::Utc::now();
    let key = verify::slack(
        secret.expose(),
        header(&headers, "x-slack-request-timestamp"),
        header(&headers, "x-slack-signature"),
        &body,
        now,
    )?;
    state.webhooks.replays.admit(&key, now)?;
    let event = parse(&body)?;
    match event["type"].as_str() {
        Some("url_verification") => Ok(Json(json!({ "challenge": event["challenge"].as_str().unwrap_or("") }))),
        Some("event_callback") if event["event"]["type"] == "message" => Ok(accepted(&state, &connector)),
        _ => Ok(Json(json!({ "status": "ignored" }))),
    }
}

/// Zendesk webhooks: any signed event asks for a sync.
pub async fn zendesk(
    State(state): State<AppState>,
    ApiPath(connector): ApiPath<String>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Json<Value>, ApiError> {
    let secret = secret(&state, Source::Zendesk, &connector)?;
    let now = chrono::Utc::now();
    let key = verify::zendesk(
        secret.expose(),
        header(&headers, "x-zendesk-webhook-signature-timestamp"),
        header(&headers, "x-zendesk-webhook-signature"),
        &body,
        now,
    )?;
    state.webhooks.replays.admit(&key, now)?;
    parse(&body)?;
    Ok(accepted(&state, &connector))
}

/// Jira webhooks: `jira:issue_deleted` tombstones the issue at once; other events ask
/// for a sync.
pub async fn jira(
    State(state): State<AppState>,
    ApiPath(connector): ApiPath<String>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Json<Value>, ApiError> {
    let secret = secret(&state, Source::Jira, &connector)?;
    let key = verify::jira(secret.expose(), header(&headers, "x-hub-signature"), &body)?;
    let event = parse(&body)?;
    let now = chrono::Utc::now();
    verify::jira_timestamp(event["timestamp"].as_i64(), now)?;
    state.webhooks.replays.admit(&key, now)?;
    if event["webhookEvent"] != "jira:issue_deleted" {
        return Ok(accepted(&state, &connector));
    }
    let issue_id = match &event["issue"]["id"] {
        Value::String(id) if !id.is_empty() => id.clone(),
        Value::Number(id) => id.to_string(),
        _ => return Err(ApiError::Unprocessable("jira:issue_deleted without an issue id".into())),
    };
    match state.syncs.tombstone(&connector, std::slice::from_ref(&issue_id)).await {
        Ok(deleted) => Ok(Json(json!({ "status": "deleted", "tombstones": deleted }))),
        Err(TriggerError::AlreadyRunning(_)) => {
            retry_tombstone(Arc::clone(&state.syncs), connector, issue_id);
            Ok(Json(json!({ "status": "accepted", "tombstones": "pending" })))
        }
        Err(error) => Err(ApiError::Unavailable(error.to_string())),
    }
}

/// Retries a tombstone until the run that holds the connector ends (bounded).
fn retry_tombstone(syncs: Arc<crate::Syncs>, connector: String, issue_id: String) {
    tokio::spawn(async move {
        for attempt in 1..=60u32 {
            tokio::time::sleep(Duration::from_secs(u64::from(attempt.min(10)))).await;
            match syncs.tombstone(&connector, std::slice::from_ref(&issue_id)).await {
                Ok(_) => return,
                Err(TriggerError::AlreadyRunning(_)) => continue,
                Err(error) => {
                    tracing::warn!(%connector, %error, "tombstone from a jira webhook failed");
                    return;
                }
            }
        }
        tracing::warn!(%connector, "tombstone from a jira webhook gave up: the connector stayed busy");
    });
}

//! The HTTP surface of Chorus.
//!
//! `router(state)` builds the whole axum application, so tests drive it with
//! `tower::ServiceExt::oneshot`; `serve` (serve.rs) runs it on a listener with
//! deadlines on every client. Errors leave through one
//! `ApiError` with a stable `{ "code", "message" }` body; internals are logged, never
//! sent to clients.

mod error;
mod serve;

pub use error::ApiError;
pub use serve::{serve, Timeouts};

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chorus_store::{Store, SyncRun};
use serde::Deserialize;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
}

/// The application: health, readiness, metrics and `/api/v1`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/runs", get(runs))
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .with_state(state)
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// The process can serve: the store answers.
async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let last_change = state.store.last_change().await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(serde_json::json!({ "status": "ready", "backend": state.store.backend(), "last_change": last_change })))
}

/// Counters in the Prometheus text format.
async fn metrics() -> impl IntoResponse {
    let mut body = String::new();
    let mut last_name = String::new();
    for ((name, connector), value) in chorus_sync::telemetry::counters() {
        if name != last_name {
            body.push_str(&format!("# TYPE {name} counter\n"));
            last_name.clone_from(&name);
        }
        let connector = connector.replace('\\', "\\\\").replace('"', "\\\"");
        body.push_str(&format!("{name}{{connector=\"{connector}\"}} {value}\n"));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    connector: Option<String>,
    limit: Option<u32>,
}

/// The sync run history, newest first.
async fn runs(
    State(state): State<AppState>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<Vec<SyncRun>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    Ok(Json(state.store.runs(query.connector.as_deref(), limit).await?))
}

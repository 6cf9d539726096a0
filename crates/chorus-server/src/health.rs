//! `/healthz` (the process is up), `/readyz` (it can serve) and `/metrics`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ApiError, AppState, ErrorBody};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "`ok`", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the store answers and the index is caught up within the bound.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    pub status: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The store's latest change-log position.
    pub last_change: i64,
    /// Change-log entries the search index has not applied yet (absent without an index).
    pub index_lag: Option<u64>,
}

/// The process can serve: the store answers and the search index is no more than
/// `server.max_index_lag` changes behind.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: store down or index too far behind", body = ErrorBody),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    let last_change = state.store.last_change().await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let index_lag = index_lag(&state, last_change)?;
    if let Some(lag) = index_lag.filter(|lag| *lag > state.max_index_lag) {
        return Err(ApiError::Unavailable(format!(
            "the search index is {lag} changes behind the store (bound {})",
            state.max_index_lag
        )));
    }
    Ok(Json(Readiness {
        status: "ready".into(),
        backend: match state.store.backend() {
            chorus_store::Backend::Sqlite => "sqlite".into(),
            chorus_store::Backend::Postgres => "postgres".into(),
        },
        last_change,
        index_lag,
    }))
}

/// How far the index is behind `last_change`, sampled into the metrics.
fn index_lag(state: &AppState, last_change: i64) -> Result<Option<u64>, ApiError> {
    let Some(index) = &state.index else { return Ok(None) };
    let position = index.position().map_err(|e| ApiError::Unavailable(format!("index position: {e}")))?;
    let lag = u64::try_from(last_change.saturating_sub(position)).unwrap_or(0);
    chorus_sync::telemetry::IndexLagObserved { lag }.emit();
    Ok(Some(lag))
}

/// Counters and histograms in the OpenMetrics text format.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text format", body = String, content_type = "application/openmetrics-text")),
    security(("bearer" = []))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Ok(last_change) = state.store.last_change().await {
        // A failed sample only leaves the lag metrics at their previous value.
        let _ = index_lag(&state, last_change);
    }
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        chorus_sync::telemetry::render(),
    )
}

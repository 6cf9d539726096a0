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

/// Readiness: the store answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    pub status: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The store's latest change-log position.
    pub last_change: i64,
}

/// The process can serve: the store answers.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready", body = ErrorBody),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    let last_change = state.store.last_change().await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(Readiness {
        status: "ready".into(),
        backend: match state.store.backend() {
            chorus_store::Backend::Sqlite => "sqlite".into(),
            chorus_store::Backend::Postgres => "postgres".into(),
        },
        last_change,
    }))
}

/// Counters in the Prometheus text format.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")),
    security(("bearer" = []))
)]
pub async fn metrics() -> impl IntoResponse {
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

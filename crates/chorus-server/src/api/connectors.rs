//! `/api/v1/connectors`: the configured connectors, each one's status and run history,
//! and starting a sync (`409` while another run holds the connector's claim).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chorus_sync::SyncMode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::runs::{RunPage, RunStatusView, RunView};
use crate::extract::{json_or_default, ApiBytes, ApiPath, ApiQuery};
use crate::syncs::{ConnectorEntry, TriggerError};
use crate::{ApiError, AppState, ErrorBody};

/// A connector and how its syncs are going.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectorView {
    pub id: String,
    pub kind: String,
    pub source: String,
    pub enabled: bool,
    /// Cron expression of its scheduled syncs, if any.
    pub schedule: Option<String>,
    /// Whether its latest run is still going.
    pub running: bool,
    pub last_run: Option<RunView>,
    /// The latest run that succeeded.
    pub last_success: Option<RunView>,
}

/// Every configured connector.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectorList {
    pub connectors: Vec<ConnectorView>,
}

/// How far back a status looks for the latest success.
const SUCCESS_LOOKBACK: u32 = 50;

async fn view(state: &AppState, entry: &ConnectorEntry) -> Result<ConnectorView, ApiError> {
    let recent = state.store.runs_before(Some(&entry.id), None, SUCCESS_LOOKBACK).await?;
    let last_run = recent.first().cloned().map(RunView::from);
    let last_success =
        recent.into_iter().find(|run| run.status == chorus_store::RunStatus::Succeeded).map(RunView::from);
    Ok(ConnectorView {
        id: entry.id.clone(),
        kind: entry.kind.clone(),
        source: entry.connector.source().to_string(),
        enabled: entry.enabled,
        schedule: entry.schedule.clone(),
        running: last_run.as_ref().is_some_and(|run| run.status == RunStatusView::Running),
        last_run,
        last_success,
    })
}

fn entry<'a>(state: &'a AppState, id: &str) -> Result<&'a ConnectorEntry, ApiError> {
    state.syncs.get(id).ok_or_else(|| ApiError::NotFound(format!("no connector `{id}` is configured")))
}

/// The configured connectors and their status.
#[utoipa::path(
    get, path = "/api/v1/connectors", tag = "connectors",
    responses((status = 200, description = "Every connector", body = ConnectorList)),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<ConnectorList>, ApiError> {
    let mut connectors = Vec::with_capacity(state.syncs.connectors().len());
    for entry in state.syncs.connectors() {
        connectors.push(view(&state, entry).await?);
    }
    Ok(Json(ConnectorList { connectors }))
}

/// One connector's status.
#[utoipa::path(
    get, path = "/api/v1/connectors/{id}", tag = "connectors",
    params(("id" = String, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The connector", body = ConnectorView),
        (status = 404, description = "No such connector", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn status(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConnectorView>, ApiError> {
    let entry = entry(&state, &id)?;
    Ok(Json(view(&state, entry).await?))
}

/// Paging parameters of a run history.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Runs per page, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

/// One connector's run history, newest first.
#[utoipa::path(
    get, path = "/api/v1/connectors/{id}/runs", tag = "connectors",
    params(("id" = String, Path, description = "The connector's id"), HistoryParams),
    responses(
        (status = 200, description = "A page of runs", body = RunPage),
        (status = 400, description = "Bad cursor or limit", body = ErrorBody),
        (status = 404, description = "No such connector", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn runs(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Json<RunPage>, ApiError> {
    entry(&state, &id)?;
    Ok(Json(super::runs::page(&state, Some(&id), params.cursor.as_deref(), params.limit).await?))
}

/// What to sync.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    /// From the beginning instead of the stored cursor (default `false`).
    #[serde(default)]
    pub full: bool,
}

/// A run that started.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SyncStarted {
    pub connector: String,
    pub run_id: i64,
}

/// Starts a sync of one connector; answers once the run holds the connector's claim.
#[utoipa::path(
    post, path = "/api/v1/connectors/{id}/sync", tag = "connectors",
    params(("id" = String, Path, description = "The connector's id")),
    request_body(content = SyncBody, description = "Optional; `{}` syncs incrementally"),
    responses(
        (status = 202, description = "The run started", body = SyncStarted),
        (status = 404, description = "No such connector", body = ErrorBody),
        (status = 409, description = "Another run holds the connector", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "Body does not match the schema", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn trigger(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiBytes(body): ApiBytes,
) -> Result<(StatusCode, Json<SyncStarted>), ApiError> {
    entry(&state, &id)?;
    let body: SyncBody = json_or_default(&body)?;
    let mode = if body.full { SyncMode::Full } else { SyncMode::Incremental };
    match state.syncs.trigger(&id, mode).await {
        Ok(run_id) => Ok((StatusCode::ACCEPTED, Json(SyncStarted { connector: id, run_id }))),
        Err(error @ TriggerError::Unknown(_)) => Err(ApiError::NotFound(error.to_string())),
        Err(error @ TriggerError::AlreadyRunning(_)) => Err(ApiError::Conflict(error.to_string())),
        Err(TriggerError::Disabled) => Err(ApiError::Unavailable("syncs are not run by this server".into())),
        Err(TriggerError::Failed(detail)) => Err(ApiError::Unavailable(detail)),
    }
}

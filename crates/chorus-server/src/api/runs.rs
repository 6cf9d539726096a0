//! `GET /api/v1/runs`: sync run history across connectors, newest first, with a
//! cursor (the id of the last run seen) for the next page.

use axum::extract::State;
use axum::Json;
use chorus_store::SyncRun;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::ApiQuery;
use crate::{ApiError, AppState, ErrorBody};

/// How a run ended (or `running`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatusView {
    Running,
    Succeeded,
    Failed,
    /// Stopped by the source's quota at its last committed page; the next run resumes.
    RateLimited,
    /// The process died or lost its claim.
    Abandoned,
}

/// One sync run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    pub id: i64,
    pub connector: String,
    pub status: RunStatusView,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub pages: u64,
    pub upserted: u64,
    pub unchanged: u64,
    pub deleted: u64,
    /// Records the connector could not map, and a few of their external ids.
    pub unmapped: u64,
    pub unmapped_examples: Vec<String>,
    pub error: Option<String>,
}

impl From<SyncRun> for RunView {
    fn from(run: SyncRun) -> Self {
        let SyncRun {
            id,
            connector,
            // `host:pid` of the process that ran it: an internal detail.
            holder: _,
            status,
            started_at,
            finished_at,
            pages,
            upserted,
            unchanged,
            deleted,
            unmapped,
            unmapped_examples,
            error,
        } = run;
        let status = match status {
            chorus_store::RunStatus::Running => RunStatusView::Running,
            chorus_store::RunStatus::Succeeded => RunStatusView::Succeeded,
            chorus_store::RunStatus::Failed => RunStatusView::Failed,
            chorus_store::RunStatus::RateLimited => RunStatusView::RateLimited,
            chorus_store::RunStatus::Abandoned => RunStatusView::Abandoned,
        };
        Self {
            id,
            connector,
            status,
            started_at,
            finished_at,
            pages,
            upserted,
            unchanged,
            deleted,
            unmapped,
            unmapped_examples,
            error,
        }
    }
}

/// A page of runs and the cursor of the next one (`null` on the last page).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunPage {
    pub runs: Vec<RunView>,
    pub next_cursor: Option<String>,
}

/// Paging parameters, and an optional connector filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsParams {
    /// Only this connector's runs.
    pub connector: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Runs per page, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

/// Sync run history, newest first.
#[utoipa::path(
    get, path = "/api/v1/runs", tag = "connectors", params(RunsParams),
    responses(
        (status = 200, description = "A page of runs", body = RunPage),
        (status = 400, description = "Bad cursor or limit", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<RunsParams>,
) -> Result<Json<RunPage>, ApiError> {
    Ok(Json(page(&state, params.connector.as_deref(), params.cursor.as_deref(), params.limit).await?))
}

/// One page of run history for `connector` (all when `None`).
pub(crate) async fn page(
    state: &AppState,
    connector: Option<&str>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<RunPage, ApiError> {
    let limit = super::page_size(limit)?;
    // Runs page newest first, so the cursor is the id the next page starts before.
    let before = super::id_cursor(cursor)?;
    // One more than asked tells whether a next page exists.
    let mut runs = state.store.runs_before(connector, before, limit + 1).await?;
    let more = runs.len() > limit as usize;
    runs.truncate(limit as usize);
    let next_cursor = if more { runs.last().map(|run| run.id.to_string()) } else { None };
    Ok(RunPage { runs: runs.into_iter().map(RunView::from).collect(), next_cursor })
}

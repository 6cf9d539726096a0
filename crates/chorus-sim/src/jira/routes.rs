//! The simulator's HTTP glue: axum handlers that turn requests into `JiraSim` calls
//! and answers into responses, and the Basic-auth gate. Invariant: no behaviour lives
//! here that the `JiraSim` functions (which the tests call directly) do not have; a
//! handler only parses, delegates and renders.

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::{api_error, ApiError, BulkFetchBody, JiraSim, SearchBody};
use crate::token::{basic_challenge, check_basic};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SearchParams {
    jql: Option<String>,
    fields: Option<String>,
    max_results: Option<u32>,
    next_page_token: Option<String>,
}

fn answer(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err((status, body)) => (status, Json(body)).into_response(),
    }
}

pub(super) async fn search_post(State(sim): State<JiraSim>, body: Option<Json<SearchBody>>) -> Response {
    let Some(Json(body)) = body else {
        return answer(Err(api_error(
            StatusCode::BAD_REQUEST,
            "Invalid request payload. Refer to the REST API documentation and try again.",
        )));
    };
    answer(sim.search(&body))
}

pub(super) async fn bulk_fetch(State(sim): State<JiraSim>, body: axum::body::Bytes) -> Response {
    // Parsed by hand: Jira answers a payload it cannot read with 400, not 415/422.
    let Ok(body) = serde_json::from_slice::<BulkFetchBody>(&body) else {
        return answer(Err(api_error(
            StatusCode::BAD_REQUEST,
            "Invalid request payload. Refer to the REST API documentation and try again.",
        )));
    };
    answer(sim.bulk_fetch(&body))
}

pub(super) async fn search_get(State(sim): State<JiraSim>, Query(params): Query<SearchParams>) -> Response {
    let fields = params.fields.map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
    let body = SearchBody {
        jql: params.jql,
        fields,
        max_results: params.max_results,
        next_page_token: params.next_page_token,
    };
    answer(sim.search(&body))
}

pub(super) async fn retired(State(sim): State<JiraSim>) -> Response {
    sim.lock().retired_search_calls += 1;
    tracing::warn!("retired /rest/api/3/search called");
    answer(Err(api_error(
        StatusCode::GONE,
        "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046",
    )))
}

pub(super) async fn myself(State(sim): State<JiraSim>) -> Json<Value> {
    Json(sim.myself())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CommentParams {
    start_at: Option<usize>,
    max_results: Option<usize>,
    /// `created`, `+created` or `-created`; anything else keeps the default order.
    order_by: Option<String>,
}

pub(super) async fn comments(
    State(sim): State<JiraSim>,
    Path(key): Path<String>,
    Query(params): Query<CommentParams>,
) -> Response {
    let newest_first = params.order_by.as_deref().is_some_and(|order| order.trim() == "-created");
    answer(sim.comments_ordered(&key, params.start_at.unwrap_or(0), params.max_results.unwrap_or(5000), newest_first))
}

pub(super) async fn resources(State(sim): State<JiraSim>) -> Json<Value> {
    Json(sim.resources())
}

pub(super) async fn require_basic(
    State((email, token)): State<(String, String)>,
    request: Request,
    next: Next,
) -> Response {
    if !check_basic(request.headers(), &email, &token) {
        return basic_challenge();
    }
    next.run(request).await
}

//! Suggested links: `GET /api/v1/requests/{id}/suggestions` (the items most like a
//! request that nobody has linked yet, with the words they share), a PM's answer to one
//! (`…/suggestions/{item}/accept` links it with provenance `suggestion`, `…/reject`
//! remembers it is not about the request), and `GET /api/v1/items/{id}/likely-requests`.
//! The matching is `chorus_index`'s (the one the CLI uses); links and rejections are
//! the store's, so an answer takes effect in the next list at once, index lag or not.

use axum::extract::State;
use axum::Json;
use chorus_core::LinkProvenance;
use chorus_index::{LikelyRequest, SuggestOptions, Suggestion, DEFAULT_SUGGESTIONS};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::requests::{links_of, RequestLinks};
use crate::extract::{ApiPath, ApiQuery};
use crate::{ApiError, AppState, ErrorBody};

/// An item suggested for a request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SuggestionView {
    pub item_id: i64,
    /// Relevance (BM25) of the item to the request's words; higher is closer.
    pub score: f32,
    /// The words the request (its title, description and linked items) and the item
    /// share, heaviest first: why it is suggested.
    pub shared_terms: Vec<String>,
    pub title: String,
    pub kind: String,
    pub source: String,
    pub account_id: Option<i64>,
    pub account_name: Option<String>,
}

impl From<Suggestion> for SuggestionView {
    fn from(s: Suggestion) -> Self {
        let Suggestion { item_id, score, shared_terms, title, kind, source, account_id, account_name } = s;
        Self { item_id, score, shared_terms, title, kind, source, account_id, account_name }
    }
}

/// A request's suggestions, best first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SuggestionList {
    pub request_id: i64,
    pub suggestions: Vec<SuggestionView>,
}

/// What to suggest.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SuggestionsParams {
    /// Suggestions to return, 1 to 100 (default 10).
    pub limit: Option<usize>,
    /// `true`: also items already linked to other requests (never to this one).
    pub include_linked: Option<bool>,
}

/// The items most like a request that are linked to no request and were not rejected
/// for it, each with the words they share.
#[utoipa::path(
    get, path = "/api/v1/requests/{id}/suggestions", tag = "requests", params(
        ("id" = i64, Path, description = "The request's id"),
        SuggestionsParams,
    ),
    responses(
        (status = 200, description = "The suggestions, best first", body = SuggestionList),
        (status = 400, description = "A bad limit or id", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "The request was merged away", body = ErrorBody),
        (status = 503, description = "No search index on this server", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<SuggestionsParams>,
) -> Result<Json<SuggestionList>, ApiError> {
    let options = SuggestOptions {
        limit: params.limit.unwrap_or(DEFAULT_SUGGESTIONS),
        include_linked: params.include_linked.unwrap_or(false),
    };
    let suggestions = state.search_index()?.suggest_items(state.store.as_ref(), id, options).await?;
    Ok(Json(SuggestionList { request_id: id, suggestions: suggestions.into_iter().map(Into::into).collect() }))
}

/// Accepts a suggestion: links the item to the request with provenance `suggestion`
/// (a person's word: no sync undoes it) and forgets a rejection of it.
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/suggestions/{item}/accept", tag = "requests",
    params(("id" = i64, Path, description = "The request's id"), ("item" = i64, Path, description = "The item's id")),
    responses(
        (status = 200, description = "The request's links", body = RequestLinks),
        (status = 404, description = "No such request or item", body = ErrorBody),
        (status = 409, description = "The request was merged away", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn accept(
    State(state): State<AppState>,
    ApiPath((id, item)): ApiPath<(i64, i64)>,
) -> Result<Json<RequestLinks>, ApiError> {
    state.store.link_item_request(item, id, LinkProvenance::Suggestion).await?;
    links_of(&state, id).await.map(Json)
}

/// A rejected suggestion.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RejectedSuggestion {
    pub request_id: i64,
    /// Never suggested for the request again, nor for a request it is merged into.
    pub item_id: i64,
}

/// Rejects a suggestion: the item is not about the request and is not offered for it
/// again (the rejection moves along when the request is merged).
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/suggestions/{item}/reject", tag = "requests",
    params(("id" = i64, Path, description = "The request's id"), ("item" = i64, Path, description = "The item's id")),
    responses(
        (status = 200, description = "The rejection", body = RejectedSuggestion),
        (status = 404, description = "No such request or item", body = ErrorBody),
        (status = 409, description = "The request was merged away", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn reject(
    State(state): State<AppState>,
    ApiPath((id, item)): ApiPath<(i64, i64)>,
) -> Result<Json<RejectedSuggestion>, ApiError> {
    state.store.reject_suggestion(id, item).await?;
    Ok(Json(RejectedSuggestion { request_id: id, item_id: item }))
}

/// A request an item likely belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LikelyRequestView {
    pub request_id: i64,
    pub title: String,
    /// `open`, `planned` or `in_progress` (shipped, declined and merged requests are not offered).
    pub status: String,
    /// The share, 0 to 1, of the item's word weight the request has (a word of its own
    /// title or description counts fully, one only its linked items have counts half).
    pub score: f32,
    /// The words the item and the request share, heaviest first.
    pub shared_terms: Vec<String>,
    /// Items linked to the request among those most like this one, closest first.
    pub similar_items: Vec<i64>,
}

impl From<LikelyRequest> for LikelyRequestView {
    fn from(r: LikelyRequest) -> Self {
        let LikelyRequest { request_id, title, status, score, shared_terms, similar_items } = r;
        Self { request_id, title, status: status.as_str().to_owned(), score, shared_terms, similar_items }
    }
}

/// An item's likely requests, best first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LikelyRequestList {
    pub item_id: i64,
    pub requests: Vec<LikelyRequestView>,
}

/// How many likely requests.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LikelyParams {
    /// Requests to return, 1 to 100 (default 10).
    pub limit: Option<usize>,
}

/// The open requests an item most likely belongs to, excluding those it is linked to
/// or was rejected for, each with the words they share.
#[utoipa::path(
    get, path = "/api/v1/items/{id}/likely-requests", tag = "items", params(
        ("id" = i64, Path, description = "The item's id"),
        LikelyParams,
    ),
    responses(
        (status = 200, description = "The likely requests, best first", body = LikelyRequestList),
        (status = 400, description = "A bad limit or id", body = ErrorBody),
        (status = 404, description = "No such item, or it was deleted at its source", body = ErrorBody),
        (status = 503, description = "No search index on this server", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn likely_requests(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<LikelyParams>,
) -> Result<Json<LikelyRequestList>, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_SUGGESTIONS);
    let likely = state.search_index()?.likely_requests(state.store.as_ref(), id, limit).await?;
    Ok(Json(LikelyRequestList { item_id: id, requests: likely.into_iter().map(Into::into).collect() }))
}

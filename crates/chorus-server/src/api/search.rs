//! `GET /api/v1/search`: the full answer of a search — total, reach, facets and one
//! page of highlighted hits — with every filter `chorus search` has.
//!
//! List filters take comma-separated values (`kind=bug,feature_request`); values in
//! one filter are alternatives, filters combine with AND. Bad query syntax or a bad
//! filter is a 400 with the parser's message, never a 500.

use axum::extract::State;
use axum::Json;
use chorus_index::{DateRange, Filters, SearchAnswer, SearchRequest, Sort};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::ApiQuery;
use crate::{ApiError, AppState, ErrorBody};

/// How hits are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortParam {
    /// Relevance × the revenue factor of the item's account.
    #[default]
    Weighted,
    Relevance,
    Recency,
    Revenue,
}

/// Search parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Query: words (AND), `"phrases"`, `-exclusions`, `OR`, `( )`, `title:`/`body:`
    /// prefixes. Empty matches everything.
    #[serde(default)]
    pub q: String,
    /// Kinds, comma-separated: bug, feature_request, support_ticket, sales_blocker.
    pub kind: Option<String>,
    /// Sources, comma-separated: jira, zendesk, salesforce, slack, feed, import.
    pub source: Option<String>,
    /// Statuses, comma-separated (compared trimmed and lowercased).
    pub status: Option<String>,
    /// Connector ids, comma-separated.
    pub connector: Option<String>,
    /// Account segments, comma-separated.
    pub segment: Option<String>,
    /// Lifecycle stages, comma-separated.
    pub stage: Option<String>,
    /// Account ids, comma-separated.
    pub account: Option<String>,
    /// Request ids, comma-separated: only items linked to one of them.
    pub request: Option<String>,
    /// `true`: only items linked to a request; `false`: only unlinked ones.
    pub linked: Option<bool>,
    /// Created at or after (RFC 3339).
    pub created_from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub created_to: Option<DateTime<Utc>>,
    /// Updated at or after (RFC 3339).
    pub updated_from: Option<DateTime<Utc>>,
    /// Updated before (RFC 3339).
    pub updated_to: Option<DateTime<Utc>>,
    pub sort: Option<SortParam>,
    /// Hits per page, 1 to 1000 (default 20).
    pub limit: Option<usize>,
    /// Hits to skip, at most 10000.
    pub offset: Option<usize>,
}

/// The distinct accounts among all matches and their ARR, each account once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReachView {
    pub accounts: u64,
    /// Sum of the distinct accounts' ARR, in minor units.
    pub arr_minor: i64,
}

/// One facet value and how many matches carry it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FacetCountView {
    pub value: String,
    pub count: u64,
}

/// Facet counts over all matches, each by descending count.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FacetsView {
    pub source: Vec<FacetCountView>,
    pub kind: Vec<FacetCountView>,
    pub status: Vec<FacetCountView>,
    pub segment: Vec<FacetCountView>,
    pub lifecycle_stage: Vec<FacetCountView>,
}

/// A highlighted excerpt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SnippetView {
    pub text: String,
    /// Byte ranges `[start, end)` into `text`.
    pub highlights: Vec<[usize; 2]>,
    /// `text` HTML-escaped with the highlights wrapped in `<b>…</b>`.
    pub html: String,
}

/// One matching item.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HitView {
    pub item_id: i64,
    /// Text relevance (BM25); 0 for a query without words.
    pub score: f32,
    /// The value hits are ordered by (depends on the sort).
    pub rank: f64,
    pub title: String,
    pub snippet: SnippetView,
    pub account_id: Option<i64>,
    pub account_name: Option<String>,
    pub arr_minor: i64,
    pub kind: String,
    pub source: String,
    pub status: String,
    /// The item at its source.
    pub url: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Everything a search page shows. `total`, `reach` and `facets` cover all matches.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    pub total: u64,
    pub reach: ReachView,
    pub facets: FacetsView,
    pub hits: Vec<HitView>,
}

/// Search every item.
#[utoipa::path(
    get, path = "/api/v1/search", tag = "search", params(SearchParams),
    responses(
        (status = 200, description = "The answer", body = SearchResponse),
        (status = 400, description = "Bad query syntax or filter", body = ErrorBody),
        (status = 503, description = "No search index on this server", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn search(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchResponse>, ApiError> {
    let request = request(params)?;
    let index = state.search_index()?.clone();
    let answer = tokio::task::spawn_blocking(move || index.search(&request))
        .await
        .map_err(|e| ApiError::Internal(format!("search task: {e}")))??;
    Ok(Json(answer.into()))
}

/// The index's request for the parameters (the HTTP bench builds its in-process
/// requests with it, so both sides run the same search).
pub fn request(params: SearchParams) -> Result<SearchRequest, ApiError> {
    let filters = Filters {
        kind: list("kind", params.kind.as_deref())?,
        source: list("source", params.source.as_deref())?,
        status: list("status", params.status.as_deref())?,
        connector: list("connector", params.connector.as_deref())?,
        account_id: list("account", params.account.as_deref())?,
        segment: list("segment", params.segment.as_deref())?,
        lifecycle_stage: list("stage", params.stage.as_deref())?,
        created: DateRange { from: params.created_from, to: params.created_to },
        updated: DateRange { from: params.updated_from, to: params.updated_to },
        linked: params.linked,
        request_id: list("request", params.request.as_deref())?,
    };
    let sort = match params.sort.unwrap_or_default() {
        SortParam::Weighted => Sort::Weighted,
        SortParam::Relevance => Sort::Relevance,
        SortParam::Recency => Sort::Recency,
        SortParam::Revenue => Sort::Revenue,
    };
    let defaults = SearchRequest::default();
    Ok(SearchRequest {
        query: params.q,
        filters,
        sort,
        limit: params.limit.unwrap_or(defaults.limit),
        offset: params.offset.unwrap_or(defaults.offset),
    })
}

/// Comma-separated values of one filter, each parsed.
fn list<T: std::str::FromStr>(name: &str, text: Option<&str>) -> Result<Vec<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    let Some(text) = text else { return Ok(Vec::new()) };
    text.split(',')
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(|value| value.parse().map_err(|e: T::Err| ApiError::BadRequest(format!("{name}: {e}"))))
        .collect()
}

impl From<SearchAnswer> for SearchResponse {
    fn from(answer: SearchAnswer) -> Self {
        let SearchAnswer { total, reach, facets, hits } = answer;
        let counts = |list: Vec<chorus_index::FacetCount>| {
            list.into_iter().map(|facet| FacetCountView { value: facet.value, count: facet.count }).collect()
        };
        let chorus_index::Facets { source, kind, status, segment, lifecycle_stage } = facets;
        Self {
            total,
            reach: ReachView { accounts: reach.accounts, arr_minor: reach.arr_minor },
            facets: FacetsView {
                source: counts(source),
                kind: counts(kind),
                status: counts(status),
                segment: counts(segment),
                lifecycle_stage: counts(lifecycle_stage),
            },
            hits: hits.into_iter().map(HitView::from).collect(),
        }
    }
}

impl From<chorus_index::Hit> for HitView {
    fn from(hit: chorus_index::Hit) -> Self {
        let chorus_index::Hit {
            item_id,
            score,
            rank,
            title,
            snippet,
            account_id,
            account_name,
            arr_minor,
            kind,
            source,
            status,
            url,
            updated_at,
        } = hit;
        let chorus_index::Snippet { text, highlights, html } = snippet;
        Self {
            item_id,
            score,
            rank,
            title,
            snippet: SnippetView { text, highlights, html },
            account_id,
            account_name,
            arr_minor,
            kind,
            source,
            status,
            url,
            updated_at,
        }
    }
}

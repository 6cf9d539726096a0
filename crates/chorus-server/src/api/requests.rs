//! `/api/v1/requests`: requests ranked by revenue with their top factors, one request
//! with its full score breakdown and links, and the PM's writes (create, rename or set
//! status, merge, link and unlink items, ship). Ranking goes through
//! `chorus_store::ranking`, the path the CLI ranks by. Amounts and scores are minor
//! units of the reporting currency.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chorus_core::priority::{Counts, Ranked, Score};
use chorus_core::{LinkProvenance, Request, RequestStatus};
use chorus_store::ranking::{RankError, Ranking};
use chorus_store::{IdPage, NewRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, AppState, ErrorBody};

/// A request's own fields.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    pub id: i64,
    pub title: String,
    pub description: String,
    /// `open`, `planned`, `in_progress`, `shipped` or `declined`.
    pub status: String,
    /// The item (typically a Jira issue) that anchors it.
    pub anchor_item_id: Option<i64>,
    /// Set when it was merged away: the request that holds its links now.
    pub merged_into: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Request> for RequestView {
    fn from(request: Request) -> Self {
        let Request { id, title, description, status, anchor_item_id, merged_into, created_at, updated_at } = request;
        Self {
            id,
            title,
            description,
            status: status.as_str().to_owned(),
            anchor_item_id,
            merged_into,
            created_at,
            updated_at,
        }
    }
}

/// How much stands behind a request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct CountsView {
    pub items: u32,
    pub people: u32,
    /// Accounts counted (a rolled-up family once).
    pub accounts: u32,
    pub opportunities: u32,
}

impl From<Counts> for CountsView {
    fn from(c: Counts) -> Self {
        Self { items: c.items, people: c.people, accounts: c.accounts, opportunities: c.opportunities }
    }
}

/// An account among the largest contributions to a score.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TopFactor {
    pub account_id: i64,
    pub name: Option<String>,
    pub contribution: f64,
}

/// One row of the ranking.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RankedRequest {
    /// 1 for the highest score, among all live requests.
    pub rank: usize,
    pub request: RequestView,
    pub score: f64,
    pub accounts_total: f64,
    pub pipeline_total: f64,
    pub counts: CountsView,
    /// The three accounts that contribute most.
    pub top_factors: Vec<TopFactor>,
}

/// A page of the ranking and the cursor of the next one (`null` on the last page).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestPage {
    pub requests: Vec<RankedRequest>,
    /// Live requests ranked (before the status filter).
    pub ranked: usize,
    pub next_cursor: Option<String>,
}

/// Filter and paging of the ranking.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RequestsParams {
    /// Only these statuses, comma-separated (`open,planned`).
    pub status: Option<String>,
    /// `next_cursor` of the previous page: the rank the page continues after. A page
    /// reflects the ranking as it is when it is read.
    pub cursor: Option<String>,
    /// Requests per page, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

/// The live requests, highest priority first.
#[utoipa::path(
    get, path = "/api/v1/requests", tag = "requests", params(RequestsParams),
    responses(
        (status = 200, description = "A page of the ranking", body = RequestPage),
        (status = 400, description = "Bad status, cursor or limit", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<RequestsParams>,
) -> Result<Json<RequestPage>, ApiError> {
    let limit = super::page_size(params.limit)? as usize;
    let statuses = params
        .status
        .as_deref()
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<RequestStatus>().map_err(|e| ApiError::BadRequest(e.to_string())))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let after_rank = super::id_cursor(params.cursor.as_deref())?.unwrap_or(0) as usize;
    let ranking = rank(&state).await?;
    let requests = all_requests(&state).await?;
    let mut rows: Vec<(usize, &Ranked, &Request)> = ranking
        .ranked
        .iter()
        .enumerate()
        .skip(after_rank)
        .filter_map(|(place, ranked)| Some((place + 1, ranked, requests.get(&ranked.request_id)?)))
        .filter(|(_, _, request)| statuses.is_empty() || statuses.contains(&request.status))
        .take(limit + 1)
        .collect();
    let more = rows.len() > limit;
    rows.truncate(limit);
    let scores =
        rows.iter().map(|(_, ranked, _)| score_of(&ranking, ranked.request_id)).collect::<Result<Vec<_>, _>>()?;
    let top_ids: Vec<i64> =
        scores.iter().flatten().flat_map(|s| s.accounts.iter().take(3).map(|f| f.account_id)).collect();
    let names = account_names(&state, &top_ids).await?;
    let next_cursor = if more { rows.last().map(|(place, _, _)| place.to_string()) } else { None };
    let page = rows
        .into_iter()
        .zip(scores)
        .map(|((place, ranked, request), score)| RankedRequest {
            rank: place,
            request: request.clone().into(),
            score: ranked.score,
            accounts_total: ranked.accounts_total,
            pipeline_total: ranked.pipeline_total,
            counts: ranked.counts.into(),
            top_factors: score.map(|s| top_factors(&s, &names, 3)).unwrap_or_default(),
        })
        .collect();
    Ok(Json(RequestPage { requests: page, ranked: ranking.ranked.len(), next_cursor }))
}

/// An item linked to a request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LinkView {
    pub item_id: i64,
    /// `manual`, `anchor`, `mention` or another provenance; the strongest is kept.
    pub provenance: String,
    pub linked_at: DateTime<Utc>,
    /// The item's account's ARR when the link was made, in minor units of `arr_currency`.
    pub arr_at_ask_minor: Option<i64>,
    pub arr_currency: Option<String>,
}

/// One request with its place, full score breakdown and links.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestDetail {
    pub request: RequestView,
    /// Its place in the ranking of live requests (`null` when it is not ranked).
    pub rank: Option<usize>,
    pub ranked: usize,
    /// Score, totals, counts, every account factor (kind, recency, segment and renewal
    /// weights, ARR now and at the ask) and every pipeline factor, largest first: the
    /// `Score` of `chorus requests show --format json`. `null` without demand.
    #[schema(value_type = Option<Object>)]
    pub score: Option<Score>,
    /// Names of the accounts the breakdown mentions.
    pub account_names: HashMap<i64, String>,
    pub links: Vec<LinkView>,
}

/// One request with its score breakdown and links.
#[utoipa::path(
    get, path = "/api/v1/requests/{id}", tag = "requests",
    params(("id" = i64, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = RequestDetail),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_request(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RequestDetail>, ApiError> {
    Ok(Json(detail(&state, id).await?))
}

async fn detail(state: &AppState, id: i64) -> Result<RequestDetail, ApiError> {
    let request = state.store.request(id).await?;
    let request = request.ok_or_else(|| ApiError::NotFound(format!("request {id} not found")))?;
    let links = state.store.request_links(id).await?;
    let ranking = rank(state).await?;
    let place = ranking.ranked.iter().position(|r| r.request_id == id).map(|p| p + 1);
    let score = score_of(&ranking, id)?;
    let mentioned: Vec<i64> = score
        .iter()
        .flat_map(|s| {
            s.accounts
                .iter()
                .flat_map(|f| std::iter::once(f.account_id).chain(f.members.iter().map(|m| m.account_id)))
                .chain(s.pipeline.iter().map(|p| p.account_id))
        })
        .collect();
    let account_names = account_names(state, &mentioned).await?;
    Ok(RequestDetail {
        request: request.into(),
        rank: place,
        ranked: ranking.ranked.len(),
        score,
        account_names,
        links: links.into_iter().map(link_view).collect(),
    })
}

/// Every live request ranked under the configured weights and rates (the server's
/// cached ranking while the store has not changed).
async fn rank(state: &AppState) -> Result<Arc<Ranking>, ApiError> {
    let settings = &state.settings;
    let ranking = state.rankings.ranking(state.store.as_ref(), &settings.priority, &settings.money, Utc::now());
    ranking.await.map_err(|error| match error {
        RankError::Store(error) => error.into(),
        RankError::Priority(error) => ApiError::Internal(error.to_string()),
        RankError::Stopped(detail) => ApiError::Unavailable(detail),
    })
}

fn score_of(ranking: &Ranking, id: i64) -> Result<Option<Score>, ApiError> {
    ranking.score(id).transpose().map_err(|e| ApiError::Internal(format!("score of request {id}: {e}")))
}

/// The requests still to act on (open, planned, in progress), highest priority first,
/// whose title contains `text` (case-insensitive; all of them when `text` is blank),
/// over the cached ranking: the first `limit` and how many match in all.
pub(crate) async fn open_titled(state: &AppState, text: &str, limit: usize) -> Result<(Vec<Request>, usize), ApiError> {
    let wanted = text.trim().to_lowercase();
    let ranking = rank(state).await?;
    let mut requests = all_requests(state).await?;
    let mut found = Vec::new();
    let mut total = 0;
    for ranked in &ranking.ranked {
        let Some(request) = requests.get(&ranked.request_id) else { continue };
        let open = matches!(request.status, RequestStatus::Open | RequestStatus::Planned | RequestStatus::InProgress);
        if !open || !request.title.to_lowercase().contains(&wanted) {
            continue;
        }
        total += 1;
        if found.len() < limit {
            found.extend(requests.remove(&ranked.request_id));
        }
    }
    Ok((found, total))
}

/// Every request by id, a few thousand a page.
async fn all_requests(state: &AppState) -> Result<HashMap<i64, Request>, ApiError> {
    let mut all = HashMap::new();
    let mut after_id = 0;
    loop {
        let page = state.store.requests(IdPage { after_id, limit: 5000 }).await?;
        let Some(last) = page.last().map(|request| request.id) else { break };
        after_id = last;
        all.extend(page.into_iter().map(|request| (request.id, request)));
    }
    Ok(all)
}

async fn account_names(state: &AppState, ids: &[i64]) -> Result<HashMap<i64, String>, ApiError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    Ok(state.store.accounts_by_id(&ids).await?.into_iter().map(|account| (account.id, account.name)).collect())
}

fn top_factors(score: &Score, names: &HashMap<i64, String>, n: usize) -> Vec<TopFactor> {
    score
        .accounts
        .iter()
        .take(n)
        .map(|f| TopFactor {
            account_id: f.account_id,
            name: names.get(&f.account_id).cloned(),
            contribution: f.contribution,
        })
        .collect()
}

/// Longest title a request takes, in characters.
const MAX_TITLE: usize = 500;
/// Longest description, in characters.
const MAX_DESCRIPTION: usize = 20_000;
/// Most items one link call names.
const MAX_LINK_ITEMS: usize = 1000;

/// A trimmed title within bounds, or a 422.
fn title(text: &str) -> Result<String, ApiError> {
    let title = text.trim();
    match title.chars().count() {
        0 => Err(ApiError::Unprocessable("a request title cannot be empty".into())),
        n if n > MAX_TITLE => {
            Err(ApiError::Unprocessable(format!("a request title is at most {MAX_TITLE} characters")))
        }
        _ => Ok(title.to_owned()),
    }
}

fn description(text: &str) -> Result<&str, ApiError> {
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::Unprocessable(format!("a description is at most {MAX_DESCRIPTION} characters")));
    }
    Ok(text)
}

/// `POST /api/v1/requests`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub title: String,
    #[serde(default)]
    pub description: String,
}

/// Creates a request (status `open`, no links yet).
#[utoipa::path(
    post, path = "/api/v1/requests", tag = "requests", request_body = CreateRequest,
    responses(
        (status = 201, description = "The new request", body = RequestView),
        (status = 422, description = "No title, or one too long", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let new = NewRequest {
        title: title(&body.title)?,
        description: description(&body.description)?.to_owned(),
        anchor_item_id: None,
    };
    let request = state.store.create_request(&new).await?;
    Ok((StatusCode::CREATED, Json(request.into())))
}

/// `PATCH /api/v1/requests/{id}`: what to change; at least one field.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    pub title: Option<String>,
    /// Replaces the description; needs `title` too (send the current one to keep it).
    pub description: Option<String>,
    /// `open`, `planned`, `in_progress`, `shipped` or `declined`.
    pub status: Option<String>,
}

/// Renames a request or sets its status.
#[utoipa::path(
    patch, path = "/api/v1/requests/{id}", tag = "requests", request_body = UpdateRequest,
    params(("id" = i64, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = RequestView),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "The request was merged away", body = ErrorBody),
        (status = 422, description = "Nothing to change, a bad title or an unknown status", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateRequest>,
) -> Result<Json<RequestView>, ApiError> {
    if body.title.is_none() && body.status.is_none() {
        let message = if body.description.is_some() {
            "a description is changed together with the title"
        } else {
            "nothing to change: send `title` (and `description`) or `status`"
        };
        return Err(ApiError::Unprocessable(message.into()));
    }
    // Everything is checked before anything is written.
    let renamed = body.title.as_deref().map(title).transpose()?;
    let description = body.description.as_deref().map(description).transpose()?;
    let status = body
        .status
        .as_deref()
        .map(|s| s.parse::<RequestStatus>().map_err(|e| ApiError::Unprocessable(e.to_string())))
        .transpose()?;
    let mut request = None;
    if let Some(renamed) = renamed {
        request = Some(state.store.rename_request(id, &renamed, description).await?);
    }
    if let Some(status) = status {
        request = Some(state.store.set_request_status(id, status).await?);
    }
    let request = request.ok_or_else(|| ApiError::Internal("an update changed nothing".into()))?;
    Ok(Json(request.into()))
}

/// `POST /api/v1/requests/{id}/merge`: the request to merge into this one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The request merged away; it is kept as merged into `{id}`.
    pub from: i64,
}

/// What a merge moved, and the surviving request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MergedRequest {
    pub request: RequestView,
    /// Links moved (an item linked to both counts once).
    pub moved_links: u64,
    /// Rejected suggestions carried over.
    pub moved_rejections: u64,
}

/// Merges request `from` into `{id}`: every link and rejected suggestion moves.
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/merge", tag = "requests", request_body = MergeRequest,
    params(("id" = i64, Path, description = "The surviving request's id")),
    responses(
        (status = 200, description = "The merge", body = MergedRequest),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "A request was merged away already, or both are one", body = ErrorBody),
        (status = 422, description = "The body is not `{ \"from\": id }`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn merge(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MergeRequest>,
) -> Result<Json<MergedRequest>, ApiError> {
    let outcome = state.store.merge_requests(body.from, id).await?;
    let request =
        state.store.request(id).await?.ok_or_else(|| ApiError::NotFound(format!("request {id} not found")))?;
    Ok(Json(MergedRequest {
        request: request.into(),
        moved_links: outcome.moved_links,
        moved_rejections: outcome.moved_rejections,
    }))
}

/// `POST /api/v1/requests/{id}/items`: the items to link by hand.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkItems {
    pub items: Vec<i64>,
}

/// The request's links after a change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestLinks {
    pub request_id: i64,
    pub links: Vec<LinkView>,
}

/// Links items to a request by hand (provenance `manual`, which no sync undoes).
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/items", tag = "requests", request_body = LinkItems,
    params(("id" = i64, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The request's links", body = RequestLinks),
        (status = 404, description = "No such request or item", body = ErrorBody),
        (status = 409, description = "The request was merged away", body = ErrorBody),
        (status = 422, description = "No items, too many, or not `{ \"items\": [id] }`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn link_items(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<LinkItems>,
) -> Result<Json<RequestLinks>, ApiError> {
    if body.items.is_empty() || body.items.len() > MAX_LINK_ITEMS {
        return Err(ApiError::Unprocessable(format!("name 1 to {MAX_LINK_ITEMS} items to link")));
    }
    // Unknown ids are refused before any link is written.
    let mut wanted = body.items;
    wanted.sort_unstable();
    wanted.dedup();
    let found = state.store.items_by_id(&wanted, chorus_store::Raw::Omit).await?;
    if let Some(missing) = wanted.iter().find(|id| !found.iter().any(|item| item.id == **id)) {
        return Err(ApiError::NotFound(format!("item {missing} not found")));
    }
    for item in wanted {
        state.store.link_item_request(item, id, LinkProvenance::Manual).await?;
    }
    links_of(&state, id).await.map(Json)
}

/// Removes an item's link to a request, whatever its provenance.
#[utoipa::path(
    delete, path = "/api/v1/requests/{id}/items/{item}", tag = "requests",
    params(("id" = i64, Path, description = "The request's id"), ("item" = i64, Path, description = "The item's id")),
    responses(
        (status = 200, description = "The request's links", body = RequestLinks),
        (status = 404, description = "No such request, or the item is not linked to it", body = ErrorBody),
        (status = 409, description = "The request was merged away", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn unlink_item(
    State(state): State<AppState>,
    ApiPath((id, item)): ApiPath<(i64, i64)>,
) -> Result<Json<RequestLinks>, ApiError> {
    if !state.store.unlink_item_request(item, id).await? {
        return Err(ApiError::NotFound(format!("item {item} is not linked to request {id}")));
    }
    links_of(&state, id).await.map(Json)
}

/// Marks a request shipped (the first time is remembered).
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/ship", tag = "requests",
    params(("id" = i64, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = RequestView),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "The request was merged away", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn ship(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(state.store.set_request_status(id, RequestStatus::Shipped).await?.into()))
}

pub(crate) async fn links_of(state: &AppState, id: i64) -> Result<RequestLinks, ApiError> {
    let links = state.store.request_links(id).await?;
    Ok(RequestLinks { request_id: id, links: links.into_iter().map(link_view).collect() })
}

fn link_view(link: chorus_store::RequestLink) -> LinkView {
    LinkView {
        item_id: link.item_id,
        provenance: link.provenance.as_str().to_owned(),
        linked_at: link.linked_at,
        arr_at_ask_minor: link.arr_at_ask.map(|m| m.minor),
        arr_currency: link.arr_at_ask.map(|m| m.currency.code().to_owned()),
    }
}

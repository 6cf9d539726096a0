//! `GET /api/v1/items/{id}`: one item with its account and request links and the link
//! back to the item at its source. The raw source payload stays in the store.

use axum::extract::State;
use axum::Json;
use chorus_store::Raw;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::ApiPath;
use crate::{ApiError, AppState, ErrorBody};

/// The account an item is linked to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountLink {
    pub id: i64,
    pub name: String,
    pub arr_minor: i64,
    pub currency: String,
}

/// A request an item is linked to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestLink {
    pub id: i64,
    pub title: String,
    pub status: String,
}

/// A comment on an item, as plain text.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommentView {
    pub author_email: Option<String>,
    pub author_name: Option<String>,
    pub body: String,
    /// `false` for internal notes and restricted comments.
    pub public: bool,
    pub created_at: DateTime<Utc>,
}

/// One item.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItemView {
    pub id: i64,
    pub connector: String,
    pub source: String,
    pub external_id: String,
    /// A human key such as `PROD-123`, when the source has one.
    pub key: Option<String>,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub comments: Vec<CommentView>,
    /// The item at its source.
    pub source_url: Option<String>,
    pub status: String,
    pub priority: Option<String>,
    pub tags: Vec<String>,
    pub author_email: Option<String>,
    pub author_name: Option<String>,
    pub csat: Option<f64>,
    pub account: Option<AccountLink>,
    pub requests: Vec<RequestLink>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when the source deleted the item.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One item with its links.
#[utoipa::path(
    get, path = "/api/v1/items/{id}", tag = "items",
    params(("id" = i64, Path, description = "The item's id")),
    responses(
        (status = 200, description = "The item", body = ItemView),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such item", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_item(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> Result<Json<ItemView>, ApiError> {
    let item = state.store.items_by_id(&[id], Raw::Omit).await?.into_iter().next();
    let item = item.ok_or_else(|| ApiError::NotFound(format!("item {id} not found")))?;
    let account = match item.account_id {
        Some(account_id) => state.store.accounts_by_id(&[account_id]).await?.into_iter().next().map(|account| {
            AccountLink { id: account.id, name: account.name, arr_minor: account.arr_minor, currency: account.currency }
        }),
        None => None,
    };
    let requests = linked_requests(&state, &item.request_ids).await?;
    let chorus_core::Item {
        id,
        connector,
        source,
        external_id,
        key,
        kind,
        title,
        body,
        comments,
        url,
        status,
        priority,
        tags,
        author_email,
        author_name,
        csat,
        account_id: _,
        request_ids: _,
        created_at,
        updated_at,
        deleted_at,
        raw: _,
    } = item;
    Ok(Json(ItemView {
        id,
        connector,
        source: source.to_string(),
        external_id,
        key,
        kind: kind.to_string(),
        title,
        body,
        comments: comments
            .into_iter()
            .map(|comment| CommentView {
                author_email: comment.author.email,
                author_name: comment.author.name,
                body: comment.body,
                public: comment.public,
                created_at: comment.created_at,
            })
            .collect(),
        source_url: url,
        status,
        priority,
        tags,
        author_email,
        author_name,
        csat,
        account,
        requests,
        created_at,
        updated_at,
        deleted_at,
    }))
}

/// The requests among `ids`, in id order: one read per linked request (an item links to
/// a few), never a scan of every request.
async fn linked_requests(state: &AppState, ids: &[i64]) -> Result<Vec<RequestLink>, ApiError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(request) = state.store.request(id).await? {
            found.push(RequestLink { id: request.id, title: request.title, status: request.status.to_string() });
        }
    }
    Ok(found)
}

//! `GET /api/v1/triage`: live items no account claims, newest day first and within a
//! day the richest, for a CSM to link. The cursor is the `DAY.RICHNESS.ID` position
//! of the last item seen.

use axum::extract::State;
use axum::Json;
use chorus_store::{TriageCursor, TriageItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::PageParams;
use crate::extract::ApiQuery;
use crate::{ApiError, AppState, ErrorBody};

/// One item waiting for an account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TriageItemView {
    pub id: i64,
    pub connector: String,
    pub source: String,
    pub external_id: String,
    pub kind: String,
    pub title: String,
    /// The item at its source.
    pub source_url: Option<String>,
    pub status: String,
    pub author_email: Option<String>,
    pub author_name: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Characters of body and comments: how much there is to read and act on.
    pub richness: i64,
}

impl From<TriageItem> for TriageItemView {
    fn from(item: TriageItem) -> Self {
        let TriageItem {
            id,
            connector,
            source,
            external_id,
            kind,
            title,
            url,
            status,
            author_email,
            author_name,
            created_at,
            richness,
            cursor: _,
        } = item;
        Self {
            id,
            connector,
            source: source.to_string(),
            external_id,
            kind: kind.to_string(),
            title,
            source_url: url,
            status,
            author_email,
            author_name,
            created_at,
            richness,
        }
    }
}

/// A page of the triage queue and the cursor of the next one (`null` on the last page).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TriagePage {
    pub items: Vec<TriageItemView>,
    pub next_cursor: Option<String>,
}

/// The triage queue.
#[utoipa::path(
    get, path = "/api/v1/triage", tag = "accounts", params(PageParams),
    responses(
        (status = 200, description = "A page of unlinked items", body = TriagePage),
        (status = 400, description = "Bad cursor or limit", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<TriagePage>, ApiError> {
    let limit = super::page_size(params.limit)?;
    let after = params.cursor.as_deref().map(parse_cursor).transpose()?;
    // One more than asked tells whether a next page exists.
    let mut items = state.store.triage(after, limit + 1).await?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more { items.last().map(|item| cursor_text(&item.cursor)) } else { None };
    Ok(Json(TriagePage { items: items.into_iter().map(TriageItemView::from).collect(), next_cursor }))
}

fn cursor_text(cursor: &TriageCursor) -> String {
    format!("{}.{}.{}", cursor.day, cursor.richness, cursor.id)
}

fn parse_cursor(text: &str) -> Result<TriageCursor, ApiError> {
    let invalid = || ApiError::BadRequest(format!("invalid cursor `{}`", text.chars().take(40).collect::<String>()));
    let mut parts = text.split('.').map(|part| part.parse::<i64>().map_err(|_| invalid()));
    let (Some(day), Some(richness), Some(id), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    Ok(TriageCursor { day: day?, richness: richness?, id: id? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_400s() {
        let cursor = TriageCursor { day: 20_000, richness: 512, id: 7 };
        assert_eq!(parse_cursor(&cursor_text(&cursor)).expect("parses"), cursor);
        for bad in ["1.2", "1.x.3", "1.2.3.4", ""] {
            assert!(matches!(parse_cursor(bad), Err(ApiError::BadRequest(_))), "{bad}");
        }
    }
}

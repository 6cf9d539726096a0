//! `/api/v1`: one module per resource. Each handler is annotated for the OpenAPI
//! document (`openapi.rs`) and answers with wire types defined here, apart from the
//! crates' own types, so the published shape changes only when these do.

pub mod accounts;
pub mod connectors;
pub mod items;
pub mod requests;
pub mod runs;
pub mod search;
pub mod suggestions;
pub mod tokens;
pub mod triage;

/// Largest page a list returns.
pub const MAX_PAGE: u32 = 500;
/// The page size when the client names none.
pub const DEFAULT_PAGE: u32 = 50;

/// A page size within `1..=MAX_PAGE`, or a 400.
pub(crate) fn page_size(limit: Option<u32>) -> Result<u32, crate::ApiError> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        limit @ 1..=MAX_PAGE => Ok(limit),
        other => Err(crate::ApiError::BadRequest(format!("invalid limit {other}; expected 1 to {MAX_PAGE}"))),
    }
}

/// The id a by-id page starts from (after it, or before it for newest-first lists),
/// from a `next_cursor`, or a 400.
pub(crate) fn id_cursor(cursor: Option<&str>) -> Result<Option<i64>, crate::ApiError> {
    cursor
        .map(|text| {
            text.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                crate::ApiError::BadRequest(format!("invalid cursor `{}`", text.chars().take(40).collect::<String>()))
            })
        })
        .transpose()
}

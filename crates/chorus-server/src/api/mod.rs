//! `/api/v1`: one module per resource. Each handler is annotated for the OpenAPI
//! document (`openapi.rs`) and answers with wire types defined here, apart from the
//! crates' own types, so the published shape changes only when these do.

pub mod connectors;
pub mod items;
pub mod runs;
pub mod search;
pub mod tokens;

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

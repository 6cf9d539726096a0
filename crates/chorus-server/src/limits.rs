//! Size limits on what a client sends: the body (1 MiB) and the query string (8 KiB).
//!
//! Both are checked before a handler runs, so an oversized request costs a bounded
//! read and gets a `413` or `414` with the usual error body.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// Largest request body accepted, bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Largest query string accepted, bytes.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;

/// Refuses a request whose query string or declared body length is over the limit.
pub async fn enforce(request: Request, next: Next) -> Response {
    let query = request.uri().query().map_or(0, str::len);
    if query > MAX_QUERY_BYTES {
        return ApiError::UriTooLong(format!("the query string is {query} bytes; the limit is {MAX_QUERY_BYTES}"))
            .into_response();
    }
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return ApiError::PayloadTooLarge(format!(
            "the request body is larger than the limit of {MAX_BODY_BYTES} bytes"
        ))
        .into_response();
    }
    next.run(request).await
}

//! `ApiError`: every failure a client can see, with a stable `{ "code", "message" }` body.
//!
//! Store and internal errors are logged with their detail and answered with a generic
//! message, so no SQL, path, secret or upstream body reaches a client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code: `bad_request`, `unauthorized`, `forbidden`,
    /// `not_found`, `method_not_allowed`, `conflict`, `payload_too_large`,
    /// `uri_too_long`, `unprocessable`, `too_many_requests`, `timeout`, `unavailable`,
    /// `internal`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No token, or one that is unknown or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// The token's role does not allow this route.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UriTooLong(String),
    /// Well-formed but unusable input (a body that does not match its schema).
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// The request was not answered in time.
    #[error("{0}")]
    Timeout(String),
    /// A dependency (store, index) is down; the detail is logged, not sent.
    #[error("service unavailable")]
    Unavailable(String),
    /// A bug or an unexpected failure; the detail is logged, not sent.
    #[error("internal error")]
    Internal(String),
}

impl From<chorus_store::StoreError> for ApiError {
    fn from(error: chorus_store::StoreError) -> Self {
        match error {
            chorus_store::StoreError::NotFound { what, id } => Self::NotFound(format!("{what} {id} not found")),
            // The store's conflicts name ids and rules of the caller's own input.
            chorus_store::StoreError::Conflict(message) => Self::Conflict(message),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<chorus_index::IndexError> for ApiError {
    fn from(error: chorus_index::IndexError) -> Self {
        match error {
            chorus_index::IndexError::Query(query) => Self::BadRequest(query.to_string()),
            // An unknown or merged request, an unknown item: the store's own answer.
            chorus_index::IndexError::Store(store) => store.into(),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl ApiError {
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UriTooLong(_) => (StatusCode::URI_TOO_LONG, "uri_too_long"),
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            Self::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Self::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The error an extractor's rejection stands for, by its status (the rejection's
    /// text names the problem in the client's input, never ours).
    pub(crate) fn from_rejection(status: StatusCode, text: String) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(format!(
                "the request body is larger than the limit of {} bytes",
                crate::limits::MAX_BODY_BYTES
            )),
            StatusCode::UNPROCESSABLE_ENTITY => Self::Unprocessable(text),
            status if status.is_server_error() => Self::Internal(text),
            _ => Self::BadRequest(text),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Internal(detail) | Self::Unavailable(detail) = &self {
            tracing::error!(code, %detail, "request failed");
        }
        let body = ErrorBody { code: code.to_owned(), message: self.to_string() };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

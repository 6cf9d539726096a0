//! `ApiError`: every failure a client can see, with a stable `{ "code", "message" }` body.
//!
//! Store and internal errors are logged with their detail and answered with a generic
//! message, so no SQL, path or secret reaches a client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("service unavailable")]
    Unavailable(String),
    /// The request was not answered in time.
    #[error("{0}")]
    Timeout(String),
    #[error("internal error")]
    Internal(String),
}

impl From<chorus_store::StoreError> for ApiError {
    fn from(error: chorus_store::StoreError) -> Self {
        match error {
            chorus_store::StoreError::NotFound { what, id } => Self::NotFound(format!("{what} {id} not found")),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Internal(detail) | Self::Unavailable(detail) = &self {
            tracing::error!(code, %detail, "request failed");
        }
        (status, Json(serde_json::json!({ "code": code, "message": self.to_string() }))).into_response()
    }
}

//! The web UI: server-rendered pages over the same functions the API answers with.
//!
//! Every page handler calls the `/api/v1` handler (or store function) that answers
//! the same question, and renders its wire type with maud, which escapes every
//! spliced value unless it is wrapped in `PreEscaped` (nothing from a source ever is).
//! Pages need a web session (`session.rs`), declared in the one route table as
//! `Access::Session(role)`; forms post back with the session's CSRF token and answer
//! with a redirect. Every response carries a strict Content-Security-Policy
//! (`headers.rs`), so no inline script or style runs: the CSS is one embedded file,
//! bars and charts are inline SVG drawn with attributes.

pub mod accounts;
pub mod assets;
pub mod connectors;
pub mod headers;
mod layout;
pub mod login;
pub mod requests;
pub mod search;
pub mod session;
pub mod triage;

use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::de::DeserializeOwned;

pub use session::{LoginLimiter, WebCaller, WebSettings};

use crate::ApiError;

/// A page's failure: the API's error, answered as an HTML page with the same status.
#[derive(Debug)]
pub struct WebError(pub ApiError);

impl From<ApiError> for WebError {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl From<chorus_store::StoreError> for WebError {
    fn from(error: chorus_store::StoreError) -> Self {
        Self(error.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        error_page(self.0, None)
    }
}

/// What a page handler answers.
pub type WebResult = Result<Response, WebError>;

/// An error as a page: status and message of the API's error (internals are logged,
/// never shown, exactly as `ApiError` does for JSON).
pub(crate) fn error_page(error: ApiError, who: Option<&WebCaller>) -> Response {
    let (status, code) = error.status_and_code();
    if let ApiError::Internal(detail) | ApiError::Unavailable(detail) = &error {
        tracing::error!(code, %detail, "page failed");
    }
    let message = error.to_string();
    let body = html! {
        section.panel.error {
            h1 { (status.canonical_reason().unwrap_or("Error")) }
            p { (message) }
            @if who.is_none() { p { a href=(session::LOGIN_PATH) { "Sign in" } } }
        }
    };
    let mut response = layout::page("Error", who, layout::Nav::None, body);
    *response.status_mut() = status;
    response
}

/// A form body (`application/x-www-form-urlencoded`); a malformed one is a 400 page.
/// Unknown fields (the CSRF token among them) are ignored.
pub struct WebForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for WebForm<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(request, state).await {
            Ok(axum::Form(value)) => Ok(Self(value)),
            Err(rejection) => Err(WebError(ApiError::from_rejection(
                rejection.status(),
                chorus_core::scrub_serde_message(&rejection.body_text()),
            ))),
        }
    }
}

/// Query parameters of a page; malformed ones are a 400 page.
pub struct WebQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for WebQuery<T> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => {
                Err(WebError(ApiError::BadRequest(chorus_core::scrub_serde_message(&rejection.body_text()))))
            }
        }
    }
}

/// Path parameters of a page; malformed ones are a 400 page.
pub struct WebPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for WebPath<T> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(WebError(ApiError::BadRequest(rejection.body_text()))),
        }
    }
}

/// A redirect after a form did its work (`303`, so the browser follows with a GET).
pub(crate) fn done(to: &str) -> Response {
    axum::response::Redirect::to(to).into_response()
}

/// An empty form field is no value.
pub(crate) fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

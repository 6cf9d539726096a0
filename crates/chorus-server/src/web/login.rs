//! Signing in and out: a person pastes an API token, and a session with that token's
//! role opens; signing out ends it.
//!
//! Attempts are counted per client address before the token is looked at, so guessing
//! is bounded (`429` past the allowance). A login posted from another site
//! (`Sec-Fetch-Site: cross-site`) is refused, so no page elsewhere can sign a browser
//! into someone else's session.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, Nav};
use super::session::{self, WebCaller};
use crate::{token, ApiError, AppState};

/// The login form, with a message when an attempt failed and the page to return to.
fn form(message: Option<&str>, next: Option<&str>) -> Markup {
    html! {
        section.panel.login {
            h1 { "Sign in to Chorus" }
            p.muted { "Paste an API token. " code { "chorus tokens create --role pm" } " makes one; "
                code { "make demo" } " prints an admin token." }
            @if let Some(message) = message { p.notice.bad role="alert" { (message) } }
            form method="post" action=(session::LOGIN_PATH) {
                label for="token" { "API token" }
                input #token type="password" name="token" autocomplete="off" required
                    placeholder="chorus_…" spellcheck="false";
                @if let Some(next) = next { input type="hidden" name=(session::NEXT_FIELD) value=(next); }
                button type="submit" { "Sign in" }
            }
        }
    }
}

fn login_page(status: StatusCode, message: Option<&str>, next: Option<&str>) -> Response {
    let mut response = layout::page("Sign in", None, Nav::None, form(message, next));
    *response.status_mut() = status;
    response
}

/// The page a sign-in was asked to return to (`?next=` on the form), when it is local.
#[derive(Debug, Default, Deserialize)]
pub struct ReturnTo {
    #[serde(default)]
    next: Option<String>,
}

impl ReturnTo {
    fn path(&self) -> Option<&str> {
        self.next.as_deref().and_then(session::return_path)
    }
}

/// `GET /login` (a malformed query is no page to return to, not an error).
pub async fn page(query: Result<Query<ReturnTo>, QueryRejection>) -> Response {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    login_page(StatusCode::OK, None, query.path())
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /login`: opens a session for a live token and sends the browser to the page it
/// asked for before signing in (a local path only), or home.
pub async fn submit(State(state): State<AppState>, request: Request) -> Response {
    if !state.logins.allow(session::client_ip(&request)) {
        let mut response =
            login_page(StatusCode::TOO_MANY_REQUESTS, Some("too many sign-in attempts: wait a minute"), None);
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return response;
    }
    let cross_site = request
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if cross_site {
        return login_page(StatusCode::FORBIDDEN, Some("sign in from Chorus itself, not from another site"), None);
    }
    let Ok(axum::Form(form)) = axum::Form::<LoginForm>::from_request(request, &state).await else {
        return login_page(StatusCode::BAD_REQUEST, Some("the sign-in form was malformed"), None);
    };
    let next = form.next.as_deref().and_then(session::return_path);
    let presented = form.token.trim();
    if presented.is_empty() {
        return login_page(StatusCode::BAD_REQUEST, Some("paste an API token to sign in"), next);
    }
    if !token::looks_like_token(presented) {
        let message = "that is not a Chorus API token (they start with chorus_)";
        return login_page(StatusCode::UNAUTHORIZED, Some(message), next);
    }
    let found = match crate::access::verify_token(&state, presented).await {
        Ok(caller) => caller,
        Err(ApiError::Unauthorized(_)) => {
            return login_page(StatusCode::UNAUTHORIZED, Some("that token is unknown or revoked"), next);
        }
        Err(error) => return super::error_page(error, None),
    };
    let id = session::new_session_id();
    let ttl = state.web.session_ttl;
    let expires_at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(12));
    let new = chorus_store::NewWebSession { hash: token::hash(&id), token_id: found.token_id, expires_at };
    if let Err(error) = state.store.create_web_session(&new).await {
        return super::error_page(error.into(), None);
    }
    tracing::info!(token_id = found.token_id, role = %found.role, "web session opened");
    let mut response = Redirect::to(next.unwrap_or("/")).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::session_cookie(&id, ttl)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `POST /logout`: ends the session and makes the browser forget it.
pub async fn logout(State(state): State<AppState>, Extension(who): Extension<WebCaller>) -> Response {
    if let Err(error) = state.store.delete_web_session(&who.session_hash).await {
        return super::error_page(error.into(), Some(&who));
    }
    let mut response = Redirect::to(session::LOGIN_PATH).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::cleared_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

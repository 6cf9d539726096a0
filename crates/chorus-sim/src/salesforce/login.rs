//! The login host: Salesforce's token endpoint, the shared `TokenAuthority` answering.
//!
//! The authority grants refresh-token, client-credentials and JWT-bearer requests, and
//! is configured the way Salesforce answers (`salesforce_authority`): no `expires_in`
//! (a client learns a session expired from a 401), plus `id`, `issued_at` and
//! `signature`. This module only adds `instance_url` — the OTHER host, known once the
//! instance server is up — to every successful answer. Invariant: errors pass through
//! unchanged.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use tower::ServiceExt;

use super::TOKEN_PATH;
use crate::token::{AuthorityConfig, JwtGrantConfig, TokenAuthority};

/// The user the simulated connected app is pre-authorized for (JWT bearer `sub`).
pub const JWT_USERNAME: &str = "integration@chorus-sim.example";

/// The `aud` a JWT assertion must name (Salesforce: the login host, also for My Domain).
pub const JWT_AUDIENCE: &str = "https://login.salesforce.com";

/// An authority that answers as Salesforce's token endpoint does.
pub fn salesforce_authority() -> AuthorityConfig {
    let mut extra = serde_json::Map::new();
    extra.insert("id".into(), Value::from("https://login.salesforce.com/id/00Dx0000000BV7z/005x00000012Q9P"));
    extra.insert("issued_at".into(), Value::from("1278448832702"));
    extra.insert("signature".into(), Value::from("0CmxinZir53Yex7nE0TD+zMpvIWYGb/bdJh6XfOH6EQ="));
    extra.insert("scope".into(), Value::from("api refresh_token"));
    AuthorityConfig {
        jwt: Some(JwtGrantConfig::test_key(JWT_AUDIENCE, JWT_USERNAME)),
        extra_fields: extra,
        omit_expires_in: true,
        ..AuthorityConfig::default()
    }
}

#[derive(Clone)]
struct Login {
    authority: TokenAuthority,
    instance_url: Arc<Mutex<String>>,
}

pub(super) fn router(authority: TokenAuthority, instance_url: Arc<Mutex<String>>) -> Router {
    Router::new().route(TOKEN_PATH, post(token)).with_state(Login { authority, instance_url })
}

async fn token(State(login): State<Login>, request: Request) -> Response {
    let Ok(answer) = login.authority.router_at(TOKEN_PATH).oneshot(request).await;
    let status = answer.status();
    if !status.is_success() {
        return answer;
    }
    let Ok(bytes) = axum::body::to_bytes(answer.into_body(), 64 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(&bytes) else {
        return (status, bytes).into_response();
    };
    let instance_url = login.instance_url.lock().unwrap_or_else(PoisonError::into_inner).clone();
    body.insert("instance_url".into(), Value::from(instance_url));
    (status, Json(Value::Object(body))).into_response()
}

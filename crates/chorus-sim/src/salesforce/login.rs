//! The login host: Salesforce's token endpoint over the shared `TokenAuthority`.
//!
//! Refresh-token and client-credentials grants go to the authority as they are; a JWT
//! bearer grant (`urn:ietf:params:oauth:grant-type:jwt-bearer`) is checked here — RS256
//! signature against the connected app's certificate key, `iss` the client id, `sub`
//! the pre-authorized user, `aud` the login host, `exp` in the future — and then
//! answered with a token the authority mints. Every success is reshaped the way
//! Salesforce answers: `instance_url` (the OTHER host), `id`, `issued_at`, `signature`,
//! and NO `expires_in` (a client learns a session expired from a 401). Invariant: a
//! rejected assertion is answered `400 {"error":"invalid_grant"}` and mints nothing.

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::TOKEN_PATH;
use crate::token::{AuthorityConfig, TokenAuthority};

/// The JWT grant type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A test key pair for the JWT bearer grant: the PKCS#8 private key a connector is
/// configured with, and its public half as a connected app holds it (PKCS#1 DER).
pub const TEST_JWT_PRIVATE_KEY_PEM: &str = include_str!("test_jwt_key.pem");
pub const TEST_JWT_PUBLIC_KEY_DER: &[u8] = include_bytes!("test_jwt_key.pub.der");

/// Who may use the JWT bearer grant.
#[derive(Debug, Clone)]
pub struct JwtApp {
    /// PKCS#1 DER of the certificate's RSA public key.
    pub public_key_der: Vec<u8>,
    /// The pre-authorized user (`sub`).
    pub username: String,
}

impl Default for JwtApp {
    fn default() -> Self {
        Self { public_key_der: TEST_JWT_PUBLIC_KEY_DER.to_vec(), username: "integration@chorus-sim.example".into() }
    }
}

#[derive(Clone)]
struct Login {
    authority: TokenAuthority,
    config: AuthorityConfig,
    jwt: JwtApp,
    instance_url: Arc<Mutex<String>>,
    jwt_grants: Arc<Mutex<u64>>,
}

/// The login host's router and a handle to name its instance URL once it is known.
pub(super) fn router(
    authority: TokenAuthority,
    config: AuthorityConfig,
    jwt: JwtApp,
    instance_url: Arc<Mutex<String>>,
    jwt_grants: Arc<Mutex<u64>>,
) -> Router {
    let login = Login { authority, config, jwt, instance_url, jwt_grants };
    Router::new().route(TOKEN_PATH, post(token)).with_state(login)
}

fn invalid_grant(description: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant", "error_description": description }))).into_response()
}

async fn token(State(login): State<Login>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return invalid_grant("request too large");
    };
    let form: Vec<(String, String)> = url_form(&bytes);
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let forwarded = if field("grant_type").as_deref() == Some(JWT_BEARER) {
        if let Err(reason) = login.verify(field("assertion").as_deref().unwrap_or("")) {
            return invalid_grant(reason);
        }
        *login.jwt_grants.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        let body = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            login.config.client_id, login.config.client_secret
        );
        Request::post(TOKEN_PATH).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(Body::from(body))
    } else {
        let mut request = Request::from_parts(parts, Body::from(bytes));
        *request.uri_mut() = TOKEN_PATH.parse().unwrap_or_default();
        Ok(request)
    };
    let Ok(forwarded) = forwarded else { return invalid_grant("bad request") };
    let Ok(answer) = login.authority.router_at(TOKEN_PATH).oneshot(forwarded).await;
    let instance_url = login.instance_url.lock().unwrap_or_else(PoisonError::into_inner).clone();
    reshape(answer, &instance_url).await
}

/// A success in Salesforce's shape; errors pass unchanged.
async fn reshape(answer: Response, instance_url: &str) -> Response {
    let status = answer.status();
    let Ok(bytes) = axum::body::to_bytes(answer.into_body(), 64 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(mut body) = serde_json::from_slice::<Value>(&bytes) else {
        return (status, bytes).into_response();
    };
    if status.is_success() {
        if let Value::Object(map) = &mut body {
            map.remove("expires_in");
            map.insert("instance_url".into(), Value::from(instance_url));
            map.insert("id".into(), Value::from("https://login.salesforce.com/id/00Dx0000000BV7z/005x00000012Q9P"));
            map.insert("issued_at".into(), Value::from(chrono::Utc::now().timestamp_millis().to_string()));
            map.insert("signature".into(), Value::from("c2lt"));
            map.insert("scope".into(), Value::from("api refresh_token"));
        }
    }
    (status, Json(body)).into_response()
}

impl Login {
    fn verify(&self, assertion: &str) -> Result<(), &'static str> {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut parts = assertion.split('.');
        let (Some(head), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("invalid assertion");
        };
        let header: Value = engine
            .decode(head)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or("invalid assertion")?;
        if header["alg"] != "RS256" {
            return Err("invalid assertion");
        }
        let signature = engine.decode(signature).map_err(|_| "invalid assertion")?;
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.jwt.public_key_der,
        );
        let signed = &assertion[..head.len() + 1 + claims.len()];
        key.verify(signed.as_bytes(), &signature).map_err(|_| "invalid assertion")?;
        let claims: Value = engine
            .decode(claims)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or("invalid assertion")?;
        if claims["iss"] != self.config.client_id.as_str() {
            return Err("invalid client credentials");
        }
        if claims["sub"] != self.jwt.username.as_str() {
            return Err("user hasn't approved this consumer");
        }
        if !claims["aud"].as_str().is_some_and(|aud| aud.starts_with("http")) {
            return Err("audience is invalid");
        }
        let exp = claims["exp"].as_i64().ok_or("expiration is invalid")?;
        if exp <= chrono::Utc::now().timestamp() {
            return Err("expired authorization code");
        }
        Ok(())
    }
}

/// `application/x-www-form-urlencoded` pairs.
fn url_form(bytes: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(bytes);
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => out.push(b' '),
            b'%' if at + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[at + 1]), hex(bytes[at + 2])) {
                    (Some(high), Some(low)) => {
                        out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                        at += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

//! `TokenAuthority`: a reusable OAuth 2.0 token endpoint and bearer check for simulators.
//!
//! `POST /oauth/token` (or another path, `router_at`; form-encoded) grants `refresh_token` and `client_credentials`,
//! with client credentials in the form or in HTTP Basic, and, when `jwt` is configured,
//! the JWT bearer grant (RFC 7523) as Salesforce answers it: an RS256 assertion checked
//! against a public key, `iss` = client id, `sub` = a known user, `aud` = the login URL,
//! `exp` in the next few minutes, `invalid_grant` otherwise. Token responses can carry
//! extra fields (Salesforce's `instance_url`) and leave out `expires_in` and
//! `token_type`, as Salesforce's do. Access tokens expire after a
//! TTL or after N uses, to force "token expired mid-sync". Refresh tokens ROTATE: each
//! grant revokes the one used and issues a new one. Invariant: a revoked refresh token
//! is never accepted again — except, when `reuse_grace` is set, a rotated token whose
//! successor was never used, inside the grace (real providers' answer to a lost token
//! response); any other presentation is counted as a violation and answered
//! `400 {"error":"invalid_grant"}`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

/// A test-only RSA private key (PKCS#8 PEM) for the JWT bearer grant in tests and the
/// demo. It is published with the source, so it guards nothing.
pub const JWT_TEST_PRIVATE_KEY_PEM: &str = include_str!("testdata/jwt-test-key.pem");
/// The same test-only key in PKCS#1 form (`BEGIN RSA PRIVATE KEY`).
pub const JWT_TEST_PRIVATE_KEY_PKCS1_PEM: &str = include_str!("testdata/jwt-test-key.pkcs1.pem");
/// The public half of `JWT_TEST_PRIVATE_KEY_PEM`.
pub const JWT_TEST_PUBLIC_KEY_PEM: &str = include_str!("testdata/jwt-test-key.pub.pem");

/// The `grant_type` of the JWT bearer grant.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How far ahead an assertion's `exp` may be (Salesforce: three minutes, plus skew).
const JWT_MAX_AHEAD_SECS: u64 = 300;

/// The JWT bearer grant as an authority accepts it.
#[derive(Debug, Clone)]
pub struct JwtGrantConfig {
    /// The PEM public key of the certificate registered with the client.
    pub public_key_pem: String,
    /// The `aud` assertions must name (Salesforce: `https://login.salesforce.com`).
    pub audience: String,
    /// The users (`sub`) the client is pre-authorized for.
    pub usernames: Vec<String>,
}

impl JwtGrantConfig {
    /// The test key pair's public half, for `audience` and one user.
    pub fn test_key(audience: impl Into<String>, username: impl Into<String>) -> Self {
        Self {
            public_key_pem: JWT_TEST_PUBLIC_KEY_PEM.to_owned(),
            audience: audience.into(),
            usernames: vec![username.into()],
        }
    }
}

/// How the authority behaves.
#[derive(Debug, Clone)]
pub struct AuthorityConfig {
    pub client_id: String,
    pub client_secret: String,
    /// The refresh token the connector is configured with.
    pub initial_refresh_token: String,
    /// Access tokens die this long after issue.
    pub access_ttl: Duration,
    /// Access tokens die after this many successful checks.
    pub max_uses: Option<u64>,
    /// `expires_in` reported to the client (defaults to `access_ttl`); lie to test the
    /// client's reaction to early expiry.
    pub reported_expires_in: Option<Duration>,
    /// How long a rotated refresh token is still taken while its successor was never
    /// used (Okta's grace period, Auth0's reuse interval): the token response that
    /// carried the successor may have been lost on the way. `None`: never.
    pub reuse_grace: Option<Duration>,
    /// Accept the JWT bearer grant (none: answered `unsupported_grant_type`).
    pub jwt: Option<JwtGrantConfig>,
    /// Fields added to every token response (Salesforce: `instance_url`, `id`,
    /// `issued_at`, `signature`).
    pub extra_fields: serde_json::Map<String, serde_json::Value>,
    /// Leave `expires_in` out of token responses (Salesforce does): the client must use
    /// the token until a 401.
    pub omit_expires_in: bool,
    /// Leave `token_type` out of token responses (Salesforce's older answers do).
    pub omit_token_type: bool,
    pub seed: u64,
}

impl Default for AuthorityConfig {
    fn default() -> Self {
        Self {
            client_id: "sim-client".into(),
            client_secret: "sim-client-secret".into(),
            initial_refresh_token: "sim-refresh-0".into(),
            access_ttl: Duration::from_secs(3600),
            max_uses: None,
            reported_expires_in: None,
            reuse_grace: None,
            jwt: None,
            extra_fields: serde_json::Map::new(),
            omit_expires_in: false,
            omit_token_type: false,
            seed: 1,
        }
    }
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Missing,
    Unknown,
    Expired,
}

/// An OAuth 2.0 authorization server in miniature. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TokenAuthority {
    inner: Arc<Mutex<AuthorityState>>,
}

#[derive(Debug)]
struct AccessToken {
    issued: Instant,
    uses: u64,
}

#[derive(Debug)]
struct AuthorityState {
    config: AuthorityConfig,
    rng: StdRng,
    access: HashMap<String, AccessToken>,
    live_refresh: HashSet<String>,
    revoked_refresh: HashSet<String>,
    /// Each rotated refresh token's successor and when it was issued.
    successors: HashMap<String, (String, Instant)>,
    /// Rotated tokens taken again inside `reuse_grace`.
    grace_reuses: u64,
    token_requests: u64,
    refreshes: u64,
    client_grants: u64,
    jwt_grants: u64,
    jwt_rejections: Vec<&'static str>,
    violations: u64,
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    assertion: Option<String>,
}

impl TokenAuthority {
    pub fn new(config: AuthorityConfig) -> Self {
        let live_refresh = HashSet::from([config.initial_refresh_token.clone()]);
        let rng = StdRng::seed_from_u64(config.seed);
        Self {
            inner: Arc::new(Mutex::new(AuthorityState {
                config,
                rng,
                access: HashMap::new(),
                live_refresh,
                revoked_refresh: HashSet::new(),
                successors: HashMap::new(),
                grace_reuses: 0,
                token_requests: 0,
                refreshes: 0,
                client_grants: 0,
                jwt_grants: 0,
                jwt_rejections: Vec::new(),
                violations: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, AuthorityState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `POST /oauth/token`; merge it into the simulator's router.
    pub fn router(&self) -> Router {
        self.router_at("/oauth/token")
    }

    /// The token endpoint at another path (Zendesk: `/oauth/tokens`).
    pub fn router_at(&self, path: &str) -> Router {
        Router::new().route(path, post(token_endpoint)).with_state(self.clone())
    }

    /// Requires a valid bearer token on every route of `router` (401 otherwise).
    pub fn protect(&self, router: Router) -> Router {
        router.layer(middleware::from_fn_with_state(self.clone(), require_bearer))
    }

    /// Checks the `Authorization: Bearer` header; counts a use when valid.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), TokenRejection> {
        let token = bearer(headers).ok_or(TokenRejection::Missing)?;
        self.check_bearer(token)
    }

    /// Checks one access token; counts a use when valid.
    pub fn check_bearer(&self, token: &str) -> Result<(), TokenRejection> {
        let mut state = self.lock();
        let ttl = state.config.access_ttl;
        let max_uses = state.config.max_uses;
        let entry = state.access.get_mut(token).ok_or(TokenRejection::Unknown)?;
        let expired = entry.issued.elapsed() >= ttl || max_uses.is_some_and(|max| entry.uses >= max);
        if expired {
            return Err(TokenRejection::Expired);
        }
        entry.uses += 1;
        Ok(())
    }

    /// Expires every access token issued so far.
    pub fn expire_access_tokens(&self) {
        self.lock().access.clear();
    }

    /// Successful refresh-token grants.
    pub fn refreshes(&self) -> u64 {
        self.lock().refreshes
    }

    /// Successful client-credentials grants.
    pub fn client_credential_grants(&self) -> u64 {
        self.lock().client_grants
    }

    /// Successful JWT bearer grants.
    pub fn jwt_grants(&self) -> u64 {
        self.lock().jwt_grants
    }

    /// The `error_description` of every JWT bearer grant refused, in order.
    pub fn jwt_rejections(&self) -> Vec<&'static str> {
        self.lock().jwt_rejections.clone()
    }

    /// Every call to the token endpoint, failed ones included.
    pub fn token_requests(&self) -> u64 {
        self.lock().token_requests
    }

    /// Rotated refresh tokens taken again inside the reuse grace (a lost token response).
    pub fn grace_reuses(&self) -> u64 {
        self.lock().grace_reuses
    }

    /// Revoked refresh tokens presented again (should be zero).
    pub fn violations(&self) -> u64 {
        self.lock().violations
    }

    /// The refresh tokens currently valid (one, in a well-behaved chain).
    pub fn live_refresh_tokens(&self) -> Vec<String> {
        self.lock().live_refresh.iter().cloned().collect()
    }

    fn grant(&self, headers: &HeaderMap, form: TokenForm) -> Response {
        let mut state = self.lock();
        state.token_requests += 1;
        if form.grant_type.as_deref() == Some(JWT_BEARER) {
            // No client secret: the signed assertion is the client's proof.
            return match state.check_assertion(form.assertion.as_deref().unwrap_or_default()) {
                Ok(()) => {
                    state.jwt_grants += 1;
                    issue(&mut state, None)
                }
                Err(description) => {
                    state.jwt_rejections.push(description);
                    invalid_grant(description)
                }
            };
        }
        let (client_id, client_secret) = match basic_credentials(headers) {
            Some(pair) => pair,
            None => (form.client_id.unwrap_or_default(), form.client_secret.unwrap_or_default()),
        };
        if client_id != state.config.client_id || client_secret != state.config.client_secret {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
        }
        match form.grant_type.as_deref() {
            Some("refresh_token") => {
                let presented = form.refresh_token.unwrap_or_default();
                if state.revoked_refresh.contains(&presented) {
                    if !state.take_within_grace(&presented) {
                        state.violations += 1;
                        tracing::warn!("revoked refresh token presented again");
                        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                    }
                } else if !state.live_refresh.remove(&presented) {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                }
                state.revoked_refresh.insert(presented.clone());
                state.refreshes += 1;
                let salt: u32 = state.rng.gen();
                let next = format!("sim-refresh-{}-{salt:08x}", state.refreshes);
                state.live_refresh.insert(next.clone());
                state.successors.insert(presented, (next.clone(), Instant::now()));
                issue(&mut state, Some(next))
            }
            Some("client_credentials") => {
                state.client_grants += 1;
                issue(&mut state, None)
            }
            _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        }
    }
}

impl AuthorityState {
    /// Checks a JWT bearer assertion as Salesforce does; the `error_description` it
    /// answers when refused.
    fn check_assertion(&self, assertion: &str) -> Result<(), &'static str> {
        let Some(jwt) = &self.config.jwt else { return Err("grant type not supported") };
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(jwt.public_key_pem.as_bytes())
            .map_err(|_| "the simulator's public key does not parse")?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[jwt.audience.as_str()]);
        validation.set_issuer(&[self.config.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.leeway = 0;
        #[derive(Deserialize)]
        struct Claims {
            sub: String,
            exp: u64,
        }
        let claims = jsonwebtoken::decode::<Claims>(assertion, &key, &validation).map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            match error.kind() {
                ErrorKind::InvalidAudience => "audience is invalid",
                ErrorKind::InvalidIssuer => "invalid client credentials",
                ErrorKind::ExpiredSignature => "expired authorization code",
                _ => "invalid assertion",
            }
        })?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        if claims.claims.exp > now + JWT_MAX_AHEAD_SECS {
            return Err("invalid assertion");
        }
        if !jwt.usernames.contains(&claims.claims.sub) {
            return Err("user hasn't approved this consumer");
        }
        Ok(())
    }

    /// Whether a rotated refresh token is taken again: inside `reuse_grace`, and only
    /// while its successor was never used. The unused successor is then revoked.
    fn take_within_grace(&mut self, presented: &str) -> bool {
        let Some(grace) = self.config.reuse_grace else { return false };
        let Some((successor, issued)) = self.successors.get(presented).cloned() else { return false };
        if issued.elapsed() > grace || !self.live_refresh.remove(&successor) {
            return false;
        }
        self.revoked_refresh.insert(successor);
        self.grace_reuses += 1;
        true
    }
}

fn issue(state: &mut AuthorityState, refresh_token: Option<String>) -> Response {
    let access_token = format!("sim-access-{:016x}", state.rng.gen::<u64>());
    state.access.insert(access_token.clone(), AccessToken { issued: Instant::now(), uses: 0 });
    let expires_in = state.config.reported_expires_in.unwrap_or(state.config.access_ttl).as_secs();
    let mut body = serde_json::Map::new();
    body.extend(state.config.extra_fields.clone());
    body.insert("access_token".into(), access_token.into());
    if !state.config.omit_token_type {
        body.insert("token_type".into(), "Bearer".into());
    }
    if !state.config.omit_expires_in {
        body.insert("expires_in".into(), expires_in.into());
    }
    if let Some(refresh) = refresh_token {
        body.insert("refresh_token".into(), refresh.into());
    }
    (StatusCode::OK, Json(body)).into_response()
}

async fn token_endpoint(
    State(authority): State<TokenAuthority>,
    headers: HeaderMap,
    form: Form<TokenForm>,
) -> Response {
    authority.grant(&headers, form.0)
}

async fn require_bearer(State(authority): State<TokenAuthority>, request: Request, next: Next) -> Response {
    match authority.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(TokenRejection::Expired) => unauthorized("the access token expired"),
        Err(TokenRejection::Missing | TokenRejection::Unknown) => unauthorized("invalid access token"),
    }
}

/// A 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
pub fn unauthorized(description: &str) -> Response {
    let challenge = format!("Bearer realm=\"sim\", error=\"invalid_token\", error_description=\"{description}\"");
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, challenge)],
        Json(serde_json::json!({"error": "invalid_token"})),
    )
        .into_response()
}

/// `400 {"error":"invalid_grant","error_description":…}`, Salesforce's answer to any
/// assertion it does not take.
fn invalid_grant(description: &str) -> Response {
    let body = serde_json::json!({ "error": "invalid_grant", "error_description": description });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(serde_json::json!({ "error": error }))).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The `(user, password)` of an `Authorization: Basic` header, percent-decoded (OAuth
/// clients form-encode client id and secret before base64, RFC 6749 §2.3.1).
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((percent_decode(user), percent_decode(password)))
}

/// Whether the request carries exactly these HTTP Basic credentials (not
/// percent-decoded, as Jira and Zendesk compare them). Answer `basic_challenge()` if not.
pub fn check_basic(headers: &HeaderMap, user: &str, password: &str) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok());
    presented.as_deref() == Some(format!("{user}:{password}").as_bytes())
}

/// A 401 with a `WWW-Authenticate: Basic` challenge.
pub fn basic_challenge() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"sim\"")],
        Json(serde_json::json!({"error": "invalid credentials"})),
    )
        .into_response()
}

fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assertion(iss: &str, sub: &str, aud: &str, exp_from_now: i64) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let claims = serde_json::json!({"iss": iss, "sub": sub, "aud": aud, "exp": now as i64 + exp_from_now});
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(JWT_TEST_PRIVATE_KEY_PEM.as_bytes()).expect("test key");
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&header, &claims, &key).expect("signs")
    }

    #[test]
    fn jwt_assertions_are_checked_like_salesforce_does() {
        let login = "https://login.salesforce.com";
        let authority = TokenAuthority::new(AuthorityConfig {
            jwt: Some(JwtGrantConfig::test_key(login, "ops@acme.example")),
            ..AuthorityConfig::default()
        });
        let state = authority.lock();
        let check = |iss: &str, sub: &str, aud: &str, exp: i64| state.check_assertion(&assertion(iss, sub, aud, exp));
        assert_eq!(check("sim-client", "ops@acme.example", login, 170), Ok(()));
        assert_eq!(check("sim-client", "ops@acme.example", login, -5), Err("expired authorization code"));
        assert_eq!(check("sim-client", "ops@acme.example", login, 3600), Err("invalid assertion"), "exp too far ahead");
        assert_eq!(check("other-app", "ops@acme.example", login, 170), Err("invalid client credentials"));
        assert_eq!(check("sim-client", "nobody@acme.example", login, 170), Err("user hasn't approved this consumer"));
        assert_eq!(
            check("sim-client", "ops@acme.example", "https://test.salesforce.com", 170),
            Err("audience is invalid")
        );
        assert_eq!(state.check_assertion("not.a.jwt"), Err("invalid assertion"));
    }

    #[test]
    fn token_responses_carry_extra_fields_and_may_omit_expiry() {
        let mut extra = serde_json::Map::new();
        extra.insert("instance_url".into(), "http://127.0.0.1:4242".into());
        let authority = TokenAuthority::new(AuthorityConfig {
            extra_fields: extra,
            omit_expires_in: true,
            omit_token_type: true,
            ..AuthorityConfig::default()
        });
        let mut state = authority.lock();
        let response = issue(&mut state, None);
        drop(state);
        let body = futures_body(response);
        assert_eq!(body["instance_url"], "http://127.0.0.1:4242");
        assert!(body.get("expires_in").is_none() && body.get("token_type").is_none(), "{body}");
        assert!(body["access_token"].as_str().is_some_and(|t| authority.check_bearer(t).is_ok()));
    }

    fn futures_body(response: Response) -> serde_json::Value {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let bytes = runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).expect("body");
        serde_json::from_slice(&bytes).expect("json")
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb+c%"), "a+b c%");
        assert_eq!(percent_decode("x%4"), "x%4");
    }
}

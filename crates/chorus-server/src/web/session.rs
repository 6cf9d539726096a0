//! Web sessions: a token login opens one, a cookie carries its id, and every
//! state-changing form carries a CSRF token derived from it.
//!
//! The session id is 32 random bytes (URL-safe base64) that only the browser holds, in
//! a `Secure; HttpOnly; SameSite=Strict` cookie; the store keeps its SHA-256
//! (`token::hash`), so nothing read from the store opens a session. The CSRF token is
//! HMAC-SHA256 keyed by the session id, so it differs per session, needs no storage,
//! cannot be computed from what the store holds, and is checked in constant time
//! (`Mac::verify_slice`). A session speaks with its token's role and ends when it
//! expires, on logout, or the moment its token is revoked (the store's look-up joins
//! the live token). Logins are rate-limited per client address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use chorus_store::Role;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::access::{allows, Caller};
use crate::{token, ApiError, AppState};

/// The session cookie's name.
pub const COOKIE: &str = "chorus_session";
/// The hidden form field every state-changing form carries.
pub const CSRF_FIELD: &str = "csrf";
/// Where a signed-out browser is sent.
pub const LOGIN_PATH: &str = "/login";
/// The login form's field (and query parameter) naming the page to return to.
pub const NEXT_FIELD: &str = "next";
/// The longest return path kept; a longer one returns home.
const MAX_RETURN_PATH: usize = 2048;

/// `path` when it is safe to send a browser to after signing in: a path on this site
/// (one leading `/`, never `//` or `/\`, which browsers read as another host), printable
/// ASCII only, not the sign-in pages themselves, at most `MAX_RETURN_PATH` bytes.
/// Anything else is `None`: the caller goes home instead, so the form cannot be used to
/// send someone elsewhere (an open redirect).
pub(crate) fn return_path(path: &str) -> Option<&str> {
    let bytes = path.as_bytes();
    let local = bytes.first() == Some(&b'/') && !matches!(bytes.get(1), Some(b'/' | b'\\'));
    let printable = bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'\\');
    let route = path.split(['?', '#']).next().unwrap_or(path);
    let sign_in = route == LOGIN_PATH || route == "/logout";
    (local && printable && !sign_in && path.len() <= MAX_RETURN_PATH).then_some(path)
}

/// How web sessions behave. `Default` is what `chorus serve` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSettings {
    /// How long a session lasts from its login (it is not extended by use).
    pub session_ttl: Duration,
    /// Login attempts one client address may make per minute (a burst of as many).
    pub logins_per_minute: NonZeroU32,
}

/// Login attempts per minute and client address by default.
const LOGINS_PER_MINUTE: u32 = 10;

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 60 * 60),
            logins_per_minute: NonZeroU32::new(LOGINS_PER_MINUTE).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// Most client addresses the limiter remembers before it forgets the quiet ones.
const MAX_TRACKED_CLIENTS: usize = 10_000;

/// Login attempts per client address.
pub struct LoginLimiter(DefaultKeyedRateLimiter<IpAddr>);

impl LoginLimiter {
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self(RateLimiter::keyed(Quota::per_minute(per_minute)))
    }

    /// Whether `client` may try another login now (the attempt is counted).
    pub fn allow(&self, client: IpAddr) -> bool {
        if self.0.len() > MAX_TRACKED_CLIENTS {
            self.0.retain_recent();
        }
        self.0.check_key(&client).is_ok()
    }
}

/// The signed-in person, for pages and forms.
#[derive(Debug, Clone)]
pub struct WebCaller {
    pub caller: Caller,
    /// The CSRF token this session's forms carry.
    pub csrf: String,
    /// SHA-256 of the session id (what logout deletes).
    pub(crate) session_hash: String,
}

impl WebCaller {
    /// Whether this session may use routes that need `required`.
    pub fn may(&self, required: Role) -> bool {
        allows(self.caller.role, required)
    }
}

/// A fresh random session id.
pub(crate) fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn csrf_mac(session_id: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(session_id.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"chorus web csrf v1");
    mac
}

/// The CSRF token of the session whose id is `session_id`.
pub(crate) fn csrf_token(session_id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(csrf_mac(session_id).finalize().into_bytes())
}

/// Whether `presented` is the session's CSRF token (constant time).
fn csrf_matches(session_id: &str, presented: &str) -> bool {
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(presented) else { return false };
    csrf_mac(session_id).verify_slice(&bytes).is_ok()
}

/// The `Set-Cookie` value that hands a browser its session.
pub(crate) fn session_cookie(session_id: &str, ttl: Duration) -> String {
    format!("{COOKIE}={session_id}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict", ttl.as_secs())
}

/// The `Set-Cookie` value that makes a browser forget its session.
pub(crate) fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict")
}

/// The session id the request's `Cookie` header carries, if it has the right shape.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// The client's address as the listener saw it (`0.0.0.0` when unknown, as in
/// in-process tests: those clients share one allowance).
pub(crate) fn client_ip(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(address)| address.ip())
}

/// Enforces a `Session(required)` route: a live session whose role allows `required`,
/// and on anything but a read, the session's CSRF token in the form.
pub(crate) async fn gate(state: &AppState, required: Role, request: Request, next: Next) -> Response {
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    let Some(id) = session_id(request.headers()) else { return signed_out(reading, request.uri()) };
    let hash = token::hash(&id);
    let session = match state.store.web_session_by_hash(&hash, chrono::Utc::now()).await {
        Ok(Some(session)) => session,
        Ok(None) => return signed_out(reading, request.uri()),
        Err(error) => return super::error_page(ApiError::Unavailable(format!("session look-up: {error}")), None),
    };
    let who = WebCaller {
        caller: Caller { token_id: session.token_id, role: session.role },
        csrf: csrf_token(&id),
        session_hash: hash,
    };
    if !who.may(required) {
        let message = format!("this page needs the {required} role; you are signed in as {}", session.role);
        return super::error_page(ApiError::Forbidden(message), Some(&who));
    }
    let mut request = if reading {
        request
    } else {
        match checked_form(request, &id).await {
            Ok(request) => request,
            Err(error) => return super::error_page(error, Some(&who)),
        }
    };
    request.extensions_mut().insert(who.caller);
    request.extensions_mut().insert(who);
    next.run(request).await
}

/// The request again, after its form was read and its CSRF token checked.
async fn checked_form(request: Request, session_id: &str) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, crate::limits::MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::PayloadTooLarge(format!(
            "the form is larger than the limit of {} bytes",
            crate::limits::MAX_BODY_BYTES
        ))
    })?;
    let presented = url::form_urlencoded::parse(&bytes).find(|(name, _)| name == CSRF_FIELD).map(|(_, value)| value);
    match presented {
        Some(value) if csrf_matches(session_id, &value) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Some(_) => Err(ApiError::Forbidden("the form's CSRF token is wrong: reload the page and try again".into())),
        None => Err(ApiError::Forbidden("the form carries no CSRF token: reload the page and try again".into())),
    }
}

/// No live session: a read goes to the login form (which returns to the page asked
/// for once signed in), anything else is refused.
fn signed_out(reading: bool, uri: &axum::http::Uri) -> Response {
    if reading {
        let asked = uri.path_and_query().map_or("/", |path| path.as_str());
        let to = match return_path(asked) {
            Some(path) if path != "/" => {
                let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
                format!("{LOGIN_PATH}?{NEXT_FIELD}={next}")
            }
            _ => LOGIN_PATH.to_owned(),
        };
        return Redirect::to(&to).into_response();
    }
    let mut response = super::error_page(ApiError::Unauthorized("your session has ended: sign in again".into()), None);
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        for good in ["/", "/requests", "/requests/7?tab=items", "/search?q=sso%20login&kind=bug"] {
            assert_eq!(return_path(good), Some(good), "{good}");
        }
        let long = format!("/{}", "a".repeat(MAX_RETURN_PATH));
        for bad in [
            "",
            "requests",
            "//evil.example/x",
            "/\\evil.example",
            "/a\\b",
            "https://evil.example/",
            "javascript:alert(1)",
            "/search?q=a b",
            "/x\r\nSet-Cookie: a=b",
            "/login",
            "/login?next=/x",
            "/logout",
            long.as_str(),
        ] {
            assert_eq!(return_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn csrf_tokens_are_per_session_and_checked_exactly() {
        let (first, second) = (new_session_id(), new_session_id());
        assert_ne!(first, second);
        let token = csrf_token(&first);
        assert!(csrf_matches(&first, &token));
        assert!(!csrf_matches(&second, &token), "another session's token is refused");
        assert!(!csrf_matches(&first, &token[..token.len() - 1]));
        assert!(!csrf_matches(&first, ""));
        assert!(!csrf_matches(&first, "not base64 !"));
    }

    #[test]
    fn the_cookie_is_secure_http_only_and_strict() {
        let cookie = session_cookie("abc", Duration::from_secs(60));
        for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=60"] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
    }

    #[test]
    fn only_a_well_formed_session_cookie_is_read() {
        let id = new_session_id();
        let mut headers = HeaderMap::new();
        let line = format!("theme=dark; {COOKIE}={id}; other=1");
        headers.insert(header::COOKIE, line.parse().expect("header"));
        assert_eq!(session_id(&headers), Some(id));
        headers.insert(header::COOKIE, format!("{COOKIE}=short").parse().expect("header"));
        assert_eq!(session_id(&headers), None);
    }

    #[test]
    fn the_limiter_counts_per_client() {
        let limiter = LoginLimiter::new(NonZeroU32::MIN.saturating_add(1));
        let (one, two) = (IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
        assert!(limiter.allow(one) && limiter.allow(one));
        assert!(!limiter.allow(one), "a third attempt within the minute is refused");
        assert!(limiter.allow(two), "another client has its own allowance");
    }
}

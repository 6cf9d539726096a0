//! Fault injection: an axum middleware that makes any simulator misbehave on purpose.
//!
//! A `FaultProfile` says what goes wrong (rate limits with `Retry-After`, 5xx bursts,
//! latency, bodies cut short or not JSON, a page of the wrong shape, expired bearer tokens); `Faults` is the runtime
//! handle that swaps profiles while the server runs. Decisions depend only on the
//! request count within the profile's scope and an RNG seeded from `seed`, so a run
//! is reproducible. Invariant: after a rate-limit answer with `Retry-After`, every
//! request in scope is answered the same way until that window has elapsed, as a
//! real API would.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Which requests (counted from 1 within the profile's scope) a fault hits.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Always,
    /// Requests n, 2n, 3n, ...
    EveryNth(u64),
    /// Requests 1..=n.
    FirstN(u64),
    /// Request n only.
    Nth(u64),
    /// Any of these requests.
    AnyOf(Vec<u64>),
    /// Each request independently, from the seeded RNG.
    Probability(f64),
}

impl Trigger {
    fn fires(&self, n: u64, rng: &mut StdRng) -> bool {
        match self {
            Self::Always => true,
            Self::EveryNth(every) => n.checked_rem(*every) == Some(0),
            Self::FirstN(first) => n <= *first,
            Self::Nth(nth) => n == *nth,
            Self::AnyOf(list) => list.contains(&n),
            Self::Probability(p) => rng.gen_bool(p.clamp(0.0, 1.0)),
        }
    }
}

/// Answer 429 (or 503) with a `Retry-After`.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitFault {
    pub when: Trigger,
    /// Rounded up to whole seconds on the wire.
    pub retry_after: Duration,
    /// Send `Retry-After` as an HTTP-date instead of delta-seconds.
    pub use_http_date: bool,
    /// 429 or 503.
    pub status: u16,
}

impl RateLimitFault {
    /// 429 with delta-seconds `Retry-After`.
    pub fn new(when: Trigger, retry_after: Duration) -> Self {
        Self { when, retry_after, use_http_date: false, status: 429 }
    }
}

/// Requests `after_n + 1 ..= after_n + len` are answered with `status`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorBurst {
    pub after_n: u64,
    pub len: u64,
    pub status: u16,
}

/// A delay, uniform in `min..=max`, before answering the requests `when` hits.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    pub min: Duration,
    pub max: Duration,
    pub when: Trigger,
}

/// How a cut body arrives: what a proxy dropping the connection, a gateway's error page
/// or an overloaded backend sends with a 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutForm {
    /// The first half of the real body.
    #[default]
    Half,
    /// No body at all.
    Empty,
    /// An HTML error page instead of JSON.
    NotJson,
}

/// Requests whose path starts with `path_prefix` (counted from 1 among those) that
/// `when` hits get a 200 whose body is cut (`form`). The real handler runs first, as on
/// a real server whose answer was lost on the way: its side effects (a rotated refresh
/// token) happen.
#[derive(Debug, Clone, PartialEq)]
pub struct CutBody {
    pub path_prefix: String,
    pub when: Trigger,
    pub form: CutForm,
}

impl CutBody {
    /// Cuts the `nth` matching request's body in half, once.
    pub fn nth(path_prefix: impl Into<String>, nth: u64) -> Self {
        Self { path_prefix: path_prefix.into(), when: Trigger::Nth(nth), form: CutForm::Half }
    }
}

/// The `nth` request (from 1) whose path starts with `path_prefix` gets a 200 with a
/// well-formed JSON body of the wrong shape, once: a permanent failure, unlike a cut.
#[derive(Debug, Clone, PartialEq)]
pub struct WrongShape {
    pub path_prefix: String,
    pub nth: u64,
}

/// Requests carrying a bearer token that `when` hits are answered 401 with
/// `WWW-Authenticate: Bearer error="invalid_token"`, as if the token had expired.
/// (`TokenAuthority` expires tokens for real, by TTL or use count.)
#[derive(Debug, Clone, PartialEq)]
pub struct TokenExpiry {
    pub when: Trigger,
}

/// Everything that goes wrong on purpose. `Default` is a well-behaved server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultProfile {
    /// Seeds the RNG behind `Trigger::Probability` and latency.
    pub seed: u64,
    /// Only requests whose path starts with this are affected (and counted).
    pub scope: Option<String>,
    pub rate_limit: Option<RateLimitFault>,
    pub error_burst: Option<ErrorBurst>,
    pub latency: Option<Latency>,
    /// Bodies cut short, each rule counting its own matching requests.
    pub cut_bodies: Vec<CutBody>,
    pub wrong_shape: Option<WrongShape>,
    pub token_expiry: Option<TokenExpiry>,
}

impl FaultProfile {
    pub fn none() -> Self {
        Self::default()
    }
}

/// The runtime handle of a server's faults. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Faults {
    inner: Arc<Mutex<FaultState>>,
}

#[derive(Debug)]
struct FaultState {
    profile: FaultProfile,
    rng: StdRng,
    seen: u64,
    /// Matching requests seen per `cut_bodies` rule.
    cut_seen: Vec<u64>,
    wrong_shape_seen: u64,
    rate_limited_until: Option<Instant>,
    injected: u64,
    /// Bodies cut, per `cut_bodies` rule.
    cut_served: Vec<u64>,
}

impl FaultState {
    fn new(profile: FaultProfile) -> Self {
        let rng = StdRng::seed_from_u64(profile.seed);
        let cut_seen = vec![0; profile.cut_bodies.len()];
        let cut_served = vec![0; profile.cut_bodies.len()];
        Self { profile, rng, seen: 0, cut_seen, wrong_shape_seen: 0, rate_limited_until: None, injected: 0, cut_served }
    }
}

/// What the middleware does with one request.
enum Plan {
    Pass,
    RateLimit { status: StatusCode, retry_after: HeaderValue },
    Error(StatusCode),
    ExpiredToken,
    Cut(CutForm),
    WrongShape,
}

impl Faults {
    pub fn new(profile: FaultProfile) -> Self {
        Self { inner: Arc::new(Mutex::new(FaultState::new(profile))) }
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the profile; counters, windows and the RNG start over.
    pub fn set(&self, profile: FaultProfile) {
        *self.lock() = FaultState::new(profile);
    }

    pub fn profile(&self) -> FaultProfile {
        self.lock().profile.clone()
    }

    /// How many bodies each `cut_bodies` rule cut since the last `set`, in rule order:
    /// a test can tell that every cut it planned was served.
    pub fn cut_bodies_served(&self) -> Vec<u64> {
        self.lock().cut_served.clone()
    }

    /// How many requests got a fault (latency excluded) since the last `set`.
    pub fn injected(&self) -> u64 {
        self.lock().injected
    }

    fn plan(&self, path: &str, has_bearer: bool) -> (Option<Duration>, Plan) {
        let mut state = self.lock();
        let state = &mut *state;
        if state.profile.scope.as_deref().is_some_and(|scope| !path.starts_with(scope)) {
            return (None, Plan::Pass);
        }
        state.seen += 1;
        let n = state.seen;
        let latency = match &state.profile.latency {
            Some(l) if l.when.fires(n, &mut state.rng) => {
                let (min, max) = (l.min.min(l.max), l.max.max(l.min));
                Some(state.rng.gen_range(min..=max))
            }
            _ => None,
        };
        let plan = Self::decide(state, n, path, has_bearer);
        if !matches!(plan, Plan::Pass) {
            state.injected += 1;
        }
        (latency, plan)
    }

    fn decide(state: &mut FaultState, n: u64, path: &str, has_bearer: bool) -> Plan {
        let now = Instant::now();
        if let Some(limit) = &state.profile.rate_limit {
            let in_window = state.rate_limited_until.is_some_and(|until| now < until);
            if in_window || limit.when.fires(n, &mut state.rng) {
                let wait = state.rate_limited_until.filter(|_| in_window).map_or(limit.retry_after, |u| u - now);
                let (value, until) = retry_after_value(wait, limit.use_http_date);
                state.rate_limited_until = Some(state.rate_limited_until.map_or(until, |u| u.max(until)));
                let status = StatusCode::from_u16(limit.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
                return Plan::RateLimit { status, retry_after: value };
            }
        }
        if let Some(burst) = &state.profile.error_burst {
            if n > burst.after_n && n <= burst.after_n.saturating_add(burst.len) {
                return Plan::Error(StatusCode::from_u16(burst.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
            }
        }
        if let Some(expiry) = &state.profile.token_expiry {
            if has_bearer && expiry.when.fires(n, &mut state.rng) {
                return Plan::ExpiredToken;
            }
        }
        // Every matching rule counts the request, whichever of them fires.
        let mut cut = None;
        for (index, (rule, seen)) in state.profile.cut_bodies.iter().zip(state.cut_seen.iter_mut()).enumerate() {
            if path.starts_with(&rule.path_prefix) {
                *seen += 1;
                if rule.when.fires(*seen, &mut state.rng) && cut.is_none() {
                    cut = Some((index, rule.form));
                }
            }
        }
        if let Some((index, _)) = cut {
            if let Some(served) = state.cut_served.get_mut(index) {
                *served += 1;
            }
        }
        let cut = cut.map(|(_, form)| form);
        let mut wrong_shape = false;
        if let Some(wrong) = &state.profile.wrong_shape {
            if path.starts_with(&wrong.path_prefix) {
                state.wrong_shape_seen += 1;
                wrong_shape = state.wrong_shape_seen == wrong.nth;
            }
        }
        match cut {
            Some(form) => Plan::Cut(form),
            None if wrong_shape => Plan::WrongShape,
            None => Plan::Pass,
        }
    }
}

/// The header value for a wait, and the instant it ends. Delta-seconds round up; an
/// HTTP-date is rounded up to the next whole second.
fn retry_after_value(wait: Duration, use_http_date: bool) -> (HeaderValue, Instant) {
    let now = Instant::now();
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if !use_http_date {
        return (HeaderValue::from(secs), now + Duration::from_secs(secs));
    }
    let wall_now = SystemTime::now();
    let target = wall_now + wait;
    let since_epoch = target.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let whole = since_epoch.as_secs() + u64::from(since_epoch.subsec_nanos() > 0);
    let date = SystemTime::UNIX_EPOCH + Duration::from_secs(whole);
    let until = now + date.duration_since(wall_now).unwrap_or_default();
    let text = http_date(date);
    let value = HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from(secs));
    (value, until)
}

/// Formats an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(at: SystemTime) -> String {
    DateTime::<Utc>::from(at).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Parses a `Retry-After` value (delta-seconds or HTTP-date) into a wait from now.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    let target = SystemTime::from(date.to_utc());
    Some(target.duration_since(SystemTime::now()).unwrap_or_default())
}

async fn inject(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let has_bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "));
    let (latency, plan) = faults.plan(request.uri().path(), has_bearer);
    if let Some(delay) = latency {
        tokio::time::sleep(delay).await;
    }
    match plan {
        Plan::Pass => next.run(request).await,
        Plan::RateLimit { status, retry_after } => {
            let body = axum::Json(serde_json::json!({"error": "rate_limited"}));
            (status, [(header::RETRY_AFTER, retry_after)], body).into_response()
        }
        Plan::Error(status) => (status, axum::Json(serde_json::json!({"error": "injected failure"}))).into_response(),
        Plan::ExpiredToken => crate::token::unauthorized("the access token expired"),
        Plan::Cut(form) => cut_body(next.run(request).await, form).await,
        Plan::WrongShape => {
            drop(next.run(request).await);
            axum::Json(serde_json::json!({"unexpected": "shape"})).into_response()
        }
    }
}

/// The handler's answer as a 200 with its body cut; the framing stays consistent (no
/// stale `Content-Length`), so only parsing the body can tell.
async fn cut_body(response: Response, form: CutForm) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let cut = match form {
        CutForm::Half if bytes.len() > 1 => bytes.slice(..bytes.len() / 2),
        CutForm::Half => bytes::Bytes::from_static(b"{"),
        CutForm::Empty => bytes::Bytes::new(),
        CutForm::NotJson => bytes::Bytes::from_static(b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    };
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    if form == CutForm::NotJson {
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    }
    Response::from_parts(parts, Body::from(cut))
}

/// Applies the fault layer to any router.
pub fn apply(router: Router, faults: &Faults) -> Router {
    router.layer(middleware::from_fn_with_state(faults.clone(), inject))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_both_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        let future = SystemTime::now() + Duration::from_secs(30);
        let wait = parse_retry_after(&http_date(future)).expect("an http-date parses");
        assert!(wait > Duration::from_secs(28) && wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn triggers_are_deterministic() {
        let mut a = StdRng::seed_from_u64(7);
        let mut b = StdRng::seed_from_u64(7);
        let pa: Vec<bool> = (1..50).map(|n| Trigger::Probability(0.3).fires(n, &mut a)).collect();
        let pb: Vec<bool> = (1..50).map(|n| Trigger::Probability(0.3).fires(n, &mut b)).collect();
        assert_eq!(pa, pb);
        assert!(Trigger::EveryNth(3).fires(6, &mut a) && !Trigger::EveryNth(3).fires(7, &mut a));
        assert!(Trigger::FirstN(2).fires(2, &mut a) && !Trigger::FirstN(2).fires(3, &mut a));
    }
}

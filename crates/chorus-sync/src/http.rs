//! The one HTTP client stack every connector uses.
//!
//! `HttpStack` owns the process's single `reqwest::Client` (rustls, gzip, pooled,
//! connect timeout) and hands each connector an `HttpClient` with its own limits.
//! Connectors never build a `reqwest::Client` (`clippy.toml` forbids it): they build
//! requests with `get`/`post`/`request` and `send` them. Per attempt the stack applies,
//! in order: the pause a `Retry-After` imposed (shared by every clone and concurrent
//! request of the connector), the connector's governor rate limit (plus an optional
//! `EndpointLimiter` for a stricter endpoint class), auth (fresh each attempt), the
//! read timeout, and a response size cap enforced while streaming. Failures are
//! classified into `ConnectorError` and retried with jittered exponential backoff
//! (`backon`) whose sleep is at least the `Retry-After`. A 401 triggers one
//! single-flight token refresh and one more try.
//!
//! Invariant: no request of a connector leaves before a `Retry-After` it received has
//! elapsed, and no error message or telemetry event carries a query string, a header
//! or a credential — only the endpoint path, and on a rate-limit refusal the source's
//! `RateLimit-Reason` and rate-limit reset, reduced to 64 printable ASCII characters.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::{Bytes, BytesMut};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::AUTHORIZATION;
use reqwest::{Method, StatusCode};
use url::Url;

use crate::auth::AuthProvider;
pub use crate::rate_limit::{clamp_server_wait, retry_after, MAX_SERVER_WAIT};
use crate::rate_limit::{rate_limit_reset, RateLimitContext};
use crate::telemetry;
use crate::ConnectorError;

/// Longest excerpt of an error body quoted in an error message.
const EXCERPT_CHARS: usize = 200;

/// Limits and retry policy of one connector's client.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPolicy {
    /// Sustained requests per minute (governor quota).
    pub requests_per_minute: u32,
    /// Requests allowed in a burst above the sustained rate.
    pub burst: u32,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    pub min_backoff: Duration,
    /// Also the longest `Retry-After` slept inside one request: a longer one fails the
    /// request with `RateLimited` so the engine can end the run and come back later.
    pub max_backoff: Duration,
    /// Used by `HttpStack::new` (one connect timeout per process, as `reqwest` has one
    /// per client); the read timeout below bounds the whole attempt anyway.
    pub connect_timeout: Duration,
    /// Bounds one attempt, from sending to the last body byte.
    pub read_timeout: Duration,
    /// Bodies larger than this fail with `ConnectorError::Permanent`.
    pub max_body_bytes: usize,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        Self {
            requests_per_minute: 600,
            burst: 10,
            max_attempts: 8,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            max_body_bytes: 32 * 1024 * 1024,
        }
    }
}

/// A response whose body was read in full (within the size cap).
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub url: Url,
    pub body: Bytes,
}

impl HttpResponse {
    /// Parses the body as JSON. A body that is cut short, empty or not JSON at all is
    /// `Transient` (a proxy dropped the connection, a gateway answered with its own
    /// page): asking again may well succeed. Only well-formed JSON of the wrong shape
    /// is a malformed page (`Permanent`).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| body_error(self.url.path(), &e))
    }
}

/// The process's HTTP stack: one pooled `reqwest::Client`, shared by every connector.
#[derive(Debug, Clone)]
pub struct HttpStack {
    client: reqwest::Client,
}

impl HttpStack {
    /// Builds the stack with the default policy's connect timeout.
    pub fn new() -> Result<Self, ConnectorError> {
        Self::with_connect_timeout(HttpPolicy::default().connect_timeout)
    }

    pub fn with_connect_timeout(connect_timeout: Duration) -> Result<Self, ConnectorError> {
        // The one place a reqwest::Client is built (see clippy.toml).
        #[allow(clippy::disallowed_methods)]
        let builder = reqwest::Client::builder();
        let client = builder
            .use_rustls_tls()
            .gzip(true)
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(16)
            .redirect(same_origin_redirects())
            .user_agent(concat!("chorus/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectorError::Config(format!("the http client cannot be built: {e}")))?;
        Ok(Self { client })
    }

    /// A connector's client: its own rate limit, `Retry-After` pause and policy.
    pub fn client(&self, connector_id: &str, policy: HttpPolicy) -> HttpClient {
        let limiter = RateLimiter::direct(quota(policy.requests_per_minute, policy.burst));
        HttpClient {
            shared: Arc::new(Shared {
                connector: Arc::from(connector_id),
                client: self.client.clone(),
                limiter,
                not_before: Mutex::new(None),
                policy,
            }),
            auth: None,
            endpoint_limit: None,
        }
    }
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

/// An extra, stricter limit for one class of endpoints (e.g. Zendesk incremental
/// exports, 10 per minute), applied on top of the connector's limit.
#[derive(Debug)]
pub struct EndpointLimiter {
    name: String,
    limiter: DefaultDirectRateLimiter,
}

impl EndpointLimiter {
    /// `per_minute` requests a minute, evenly spaced (burst 1).
    pub fn per_minute(name: impl Into<String>, per_minute: u32) -> Self {
        Self::new(name, per_minute, 1)
    }

    pub fn new(name: impl Into<String>, per_minute: u32, burst: u32) -> Self {
        Self { name: name.into(), limiter: RateLimiter::direct(quota(per_minute, burst)) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What every clone of one connector's client shares.
struct Shared {
    connector: Arc<str>,
    client: reqwest::Client,
    policy: HttpPolicy,
    limiter: DefaultDirectRateLimiter,
    /// No request leaves before this instant (set by `Retry-After`).
    not_before: Mutex<Option<Instant>>,
}

impl Shared {
    fn not_before(&self) -> Option<Instant> {
        *self.not_before.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push_not_before(&self, until: Instant) {
        let mut slot = self.not_before.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = Some(slot.map_or(until, |current| current.max(until)));
    }
}

/// A connector's view of the shared HTTP stack. Cheap to clone; clones share the rate
/// limit and the `Retry-After` pause.
#[derive(Clone)]
pub struct HttpClient {
    shared: Arc<Shared>,
    auth: Option<Arc<dyn AuthProvider>>,
    endpoint_limit: Option<Arc<EndpointLimiter>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("connector", &self.shared.connector)
            .field("policy", &self.shared.policy)
            .field("auth", &self.auth.is_some())
            .field("endpoint_limit", &self.endpoint_limit.as_ref().map(|l| l.name()))
            .finish()
    }
}

/// How a non-2xx answer is handled.
enum Verdict {
    Unauthorized,
    Fail(ConnectorError),
}

impl HttpClient {
    pub fn get(&self, url: Url) -> reqwest::RequestBuilder {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: Url) -> reqwest::RequestBuilder {
        self.request(Method::POST, url)
    }

    pub fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.shared.client.request(method, url)
    }

    /// Returns a client that authorizes every request with `auth`.
    pub fn with_auth(mut self, auth: Arc<dyn AuthProvider>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Returns a client whose requests also wait for a stricter limit of their own;
    /// clones of the returned client share it.
    pub fn with_endpoint_limit(self, name: &str, per_minute: u32) -> Self {
        self.with_endpoint_limiter(Arc::new(EndpointLimiter::per_minute(name, per_minute)))
    }

    /// Returns a client whose requests also wait for `limiter` (shared with whoever
    /// else holds it).
    pub fn with_endpoint_limiter(mut self, limiter: Arc<EndpointLimiter>) -> Self {
        self.endpoint_limit = Some(limiter);
        self
    }

    /// The connector id this client was built for.
    pub fn connector_id(&self) -> &str {
        &self.shared.connector
    }

    pub fn policy(&self) -> &HttpPolicy {
        &self.shared.policy
    }

    /// Sends with limits, auth, retries; non-2xx answers become typed errors. The body
    /// is not looked at: use `send_json` or `send_parsed` for JSON, so that a cut body
    /// is retried like a 5xx.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<HttpResponse, ConnectorError> {
        self.send_with(request, |_| Ok(())).await.map(|(response, ())| response)
    }

    /// `send`, then parse the body as JSON inside the retry loop: a body cut short or
    /// not JSON is retried (up to `max_attempts`); a well-formed body of the wrong
    /// shape fails at once.
    pub async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ConnectorError> {
        self.send_parsed(request).await.map(|(_, value)| value)
    }

    /// `send_json`, keeping the response (its headers) beside the parsed body.
    pub async fn send_parsed<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(HttpResponse, T), ConnectorError> {
        self.send_with(request, HttpResponse::json).await
    }

    async fn send_with<T>(
        &self,
        request: reqwest::RequestBuilder,
        parse: impl Fn(&HttpResponse) -> Result<T, ConnectorError>,
    ) -> Result<(HttpResponse, T), ConnectorError> {
        let extra = self.endpoint_limit.as_deref();
        let request =
            request.build().map_err(|e| ConnectorError::Config(format!("invalid request: {}", e.without_url())))?;
        let endpoint = request.url().path().to_owned();
        let connector = &*self.shared.connector;
        let policy = &self.shared.policy;
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(policy.min_backoff)
            .with_max_delay(policy.max_backoff)
            .with_max_times(usize::try_from(policy.max_attempts.saturating_sub(1)).unwrap_or(usize::MAX))
            .with_jitter()
            .build();
        let mut attempt = 0_u32;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let mut current = request.try_clone().ok_or_else(|| {
                ConnectorError::Config(format!("request to {endpoint} has a streaming body that cannot be retried"))
            })?;
            if let Err(error) = self.wait_turn(&endpoint, extra).await {
                return Err(self.failed(&endpoint, error, attempt));
            }
            let generation = match &self.auth {
                Some(auth) => match auth.authorize(&mut current).await {
                    Ok(generation) => Some(generation),
                    Err(error) => return Err(self.failed(&endpoint, error, attempt)),
                },
                None => None,
            };
            if current.timeout().is_none() {
                *current.timeout_mut() = Some(policy.read_timeout);
            }
            let credential = current
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .map(|(_, credential)| credential.trim().to_owned());
            telemetry::RequestSent { connector, endpoint: &endpoint, method: current.method().as_str(), attempt }
                .emit();
            // Why and until when the source limits us, from the refusing answer's headers.
            let mut limit_context = RateLimitContext::default();
            let error = match self.execute(current, &endpoint).await {
                Ok(response) => match verdict(&response, &endpoint, credential.as_deref()) {
                    None => match parse(&response) {
                        Ok(value) => return Ok((response, value)),
                        Err(error) => error,
                    },
                    Some(Verdict::Unauthorized) => match (&self.auth, generation) {
                        (Some(auth), Some(generation)) if !refreshed => {
                            refreshed = true;
                            telemetry::RetryScheduled {
                                connector,
                                endpoint: &endpoint,
                                reason: "unauthorized",
                                wait: Duration::ZERO,
                                attempt,
                            }
                            .emit();
                            if let Err(error) = auth.refresh(generation).await {
                                return Err(self.failed(&endpoint, error, attempt));
                            }
                            attempt -= 1;
                            continue;
                        }
                        _ => ConnectorError::Auth {
                            endpoint: endpoint.clone(),
                            reason: if refreshed {
                                "401 unauthorized, again after a token refresh".into()
                            } else {
                                "401 unauthorized".into()
                            },
                        },
                    },
                    Some(Verdict::Fail(error)) => {
                        if matches!(error, ConnectorError::RateLimited { .. }) {
                            limit_context = RateLimitContext::from_headers(&response.headers);
                        }
                        error
                    }
                },
                Err(error) => error,
            };
            if !error.is_retryable() {
                return Err(self.failed(&endpoint, error, attempt));
            }
            let retry_after = match &error {
                ConnectorError::RateLimited { retry_after, .. } => *retry_after,
                _ => None,
            };
            if let ConnectorError::RateLimited { .. } = &error {
                telemetry::RateLimited {
                    connector,
                    endpoint: &endpoint,
                    retry_after,
                    reason: limit_context.reason.as_deref(),
                    reset: limit_context.reset.as_deref(),
                }
                .emit();
            }
            if let Some(wait) = retry_after {
                self.shared.push_not_before(Instant::now() + clamp_server_wait(wait));
                if wait > policy.max_backoff {
                    return Err(self.failed(&endpoint, error, attempt));
                }
            }
            let Some(delay) = backoff.next() else {
                return Err(self.failed(&endpoint, error, attempt));
            };
            let wait = delay.max(retry_after.unwrap_or_default());
            let reason = if retry_after.is_some() { "rate_limited" } else { "transient" };
            telemetry::RetryScheduled { connector, endpoint: &endpoint, reason, wait, attempt }.emit();
            tokio::time::sleep(wait).await;
        }
    }

    fn failed(&self, endpoint: &str, error: ConnectorError, attempts: u32) -> ConnectorError {
        let kind = match &error {
            ConnectorError::RateLimited { .. } => "rate_limited",
            ConnectorError::Auth { .. } => "auth",
            ConnectorError::Transient { .. } => "transient",
            ConnectorError::Permanent { .. } => "permanent",
            ConnectorError::Config(_) => "config",
        };
        telemetry::RequestFailed { connector: &self.shared.connector, endpoint, kind, attempts }.emit();
        error
    }

    /// Waits out any `Retry-After` pause, then the rate limiters; repeats if a new
    /// pause arrived meanwhile. A pause longer than `max_backoff` fails at once.
    async fn wait_turn(&self, endpoint: &str, extra: Option<&EndpointLimiter>) -> Result<(), ConnectorError> {
        loop {
            if let Some(until) = self.shared.not_before() {
                let now = Instant::now();
                if until > now {
                    let remaining = until - now;
                    if remaining > self.shared.policy.max_backoff {
                        return Err(ConnectorError::RateLimited {
                            endpoint: endpoint.to_owned(),
                            retry_after: Some(remaining),
                        });
                    }
                    tokio::time::sleep_until(until.into()).await;
                    continue;
                }
            }
            self.shared.limiter.until_ready().await;
            if let Some(extra) = extra {
                extra.limiter.until_ready().await;
            }
            if self.shared.not_before().is_none_or(|until| until <= Instant::now()) {
                return Ok(());
            }
        }
    }

    /// One attempt: send, then stream the body up to the size cap.
    async fn execute(&self, request: reqwest::Request, endpoint: &str) -> Result<HttpResponse, ConnectorError> {
        let connector = &*self.shared.connector;
        let limit = self.shared.policy.max_body_bytes;
        let started = Instant::now();
        let mut response = self.shared.client.execute(request).await.map_err(|e| transport_error(endpoint, e))?;
        let status = response.status();
        telemetry::ResponseReceived { connector, endpoint, status: status.as_u16(), elapsed: started.elapsed() }.emit();
        let too_large = || {
            telemetry::BodyTooLarge { connector, endpoint, limit }.emit();
            ConnectorError::permanent(endpoint, format!("response body exceeds the cap of {limit} bytes"))
        };
        if response.content_length().is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX)) {
            return Err(too_large());
        }
        let headers = response.headers().clone();
        let url = response.url().clone();
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(endpoint, e))? {
            if body.len().saturating_add(chunk.len()) > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse { status, headers, url, body: body.freeze() })
    }

    /// One attempt with no limits, auth, retries or status classification: the OAuth
    /// token endpoint's transport (a rotating refresh token must not be re-sent).
    pub(crate) async fn send_raw(&self, mut request: reqwest::Request) -> Result<HttpResponse, ConnectorError> {
        let endpoint = request.url().path().to_owned();
        if request.timeout().is_none() {
            *request.timeout_mut() = Some(self.shared.policy.read_timeout);
        }
        telemetry::RequestSent {
            connector: &self.shared.connector,
            endpoint: &endpoint,
            method: request.method().as_str(),
            attempt: 1,
        }
        .emit();
        self.execute(request, &endpoint).await
    }
}

/// `None` for a 2xx; otherwise what to do about the answer.
fn verdict(response: &HttpResponse, endpoint: &str, credential: Option<&str>) -> Option<Verdict> {
    let status = response.status;
    if status.is_success() {
        return None;
    }
    let describe = || {
        let excerpt = excerpt(&response.body, credential);
        if excerpt.is_empty() {
            status.to_string()
        } else {
            format!("{status}: {excerpt}")
        }
    };
    let retry_after = retry_after(&response.headers);
    let error = match status {
        StatusCode::TOO_MANY_REQUESTS => ConnectorError::RateLimited {
            endpoint: endpoint.to_owned(),
            retry_after: retry_after.or_else(|| rate_limit_reset(&response.headers)),
        },
        StatusCode::SERVICE_UNAVAILABLE if retry_after.is_some() => {
            ConnectorError::RateLimited { endpoint: endpoint.to_owned(), retry_after }
        }
        StatusCode::UNAUTHORIZED => return Some(Verdict::Unauthorized),
        StatusCode::FORBIDDEN => ConnectorError::Auth { endpoint: endpoint.to_owned(), reason: describe() },
        StatusCode::REQUEST_TIMEOUT => ConnectorError::transient(endpoint, describe()),
        s if s.is_server_error() => ConnectorError::transient(endpoint, describe()),
        _ => ConnectorError::permanent(endpoint, describe()),
    };
    Some(Verdict::Fail(error))
}

/// A short, single-line excerpt of an error body with the request's credential removed.
fn excerpt(body: &[u8], credential: Option<&str>) -> String {
    let head = &body[..body.len().min(4 * EXCERPT_CHARS)];
    let mut text: String = String::from_utf8_lossy(head).split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(secret) = credential.filter(|s| s.len() >= 4) {
        text = text.replace(secret, chorus_core::Secret::REDACTED);
    }
    if text.chars().count() > EXCERPT_CHARS {
        text = text.chars().take(EXCERPT_CHARS).collect::<String>() + "…";
    }
    text
}

/// Why a body did not parse, sorted by whether asking again may help (see `HttpResponse::json`).
fn body_error(endpoint: &str, error: &serde_json::Error) -> ConnectorError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Eof | Category::Syntax | Category::Io => {
            ConnectorError::transient(endpoint, format!("the response body is cut short or not json ({error})"))
        }
        Category::Data => ConnectorError::malformed(endpoint, error),
    }
}

/// A transport failure, described without the URL (its query may hold a secret).
fn transport_error(endpoint: &str, error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        return ConnectorError::transient(endpoint, "timed out");
    }
    let kind = if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "reading the response failed"
    } else if error.is_redirect() {
        return ConnectorError::permanent(endpoint, "too many redirects");
    } else {
        "request failed"
    };
    let error = error.without_url();
    let mut chain = Vec::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    let reason = if chain.is_empty() { kind.to_owned() } else { format!("{kind}: {}", chain.join(": ")) };
    ConnectorError::transient(endpoint, reason)
}

/// Redirects are followed only within the same scheme, host and port, at most 5 deep.
///
/// A configured endpoint passed the insecure-endpoint rule; a redirect to another host
/// (plain HTTP, loopback, a metadata address) would bypass it, and a 307/308 from a token
/// endpoint would re-send the form holding the refresh token and client secret there.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(origin) = attempt.previous().first() else {
            return attempt.follow();
        };
        let same_origin = attempt.url().scheme() == origin.scheme()
            && attempt.url().host_str() == origin.host_str()
            && attempt.url().port_or_known_default() == origin.port_or_known_default();
        if !same_origin || attempt.previous().len() > 5 {
            return attempt.stop();
        }
        attempt.follow()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_bodies_are_transient_wrong_shapes_permanent() {
        let response = |body: &'static [u8]| HttpResponse {
            status: StatusCode::OK,
            headers: reqwest::header::HeaderMap::new(),
            url: Url::parse("https://example.test/page").expect("url"),
            body: Bytes::from_static(body),
        };
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Shape {
            items: Vec<u32>,
        }
        for cut in [&b"{\"items\": [1, 2"[..], b"", b"<html>502</html>", b"{\"items\": [1]} trailing"] {
            let error = response(cut).json::<Shape>().expect_err("cut");
            assert!(matches!(error, ConnectorError::Transient { .. }), "{error}");
        }
        let error = response(b"{\"unexpected\": true}").json::<Shape>().expect_err("shape");
        assert!(matches!(error, ConnectorError::Permanent { .. }), "{error}");
        assert!(response(b"{\"items\": [1]}").json::<Shape>().is_ok());
    }

    #[test]
    fn excerpts_are_short_single_line_and_secret_free() {
        let body = format!("{{\"error\": \"bad token s3cr3t-token\",\n \"detail\": \"{}\"}}", "x".repeat(500));
        let text = excerpt(body.as_bytes(), Some("s3cr3t-token"));
        assert!(!text.contains("s3cr3t-token"), "{text}");
        assert!(!text.contains('\n'));
        assert!(text.chars().count() <= EXCERPT_CHARS + 1);
    }
}

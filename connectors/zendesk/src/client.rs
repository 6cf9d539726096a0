//! Requests to the Zendesk Support API, over the shared HTTP stack.
//!
//! The client builds requests and parses responses; limits, retries, `Retry-After`
//! and timeouts live in `chorus_sync::http`. On top of them it paces the incremental
//! export endpoints, which Zendesk allows 10 requests a minute: every request to
//! `/api/v2/incremental/` first waits for a slot in a sliding window (configurable),
//! so the connector stays under the limit instead of bouncing off 429s. Invariant:
//! next-page requests are built from `base_url` and the page's cursor or end time,
//! never by following the `after_url`/`next_page` links, which name the account's
//! canonical host rather than the configured endpoint (a proxy, a sandbox, a simulator).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use chorus_sync::auth::AuthProvider;
use chorus_sync::{ConnectorError, HttpClient, HttpResponse};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use crate::config::{AuthConfig, RateLimitConfig};
use crate::cursor::StreamPosition;
use crate::mapping::{id_field, str_field};

/// Which endpoints a request belongs to, for pacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointClass {
    /// `/api/v2/incremental/...`: 10 requests a minute.
    Incremental,
    /// Everything else: only the connector-wide limit.
    Standard,
}

/// At most `limit` acquisitions in any `window` (a sliding window of start times).
#[derive(Debug)]
pub struct Pacer {
    limit: usize,
    window: Duration,
    starts: Mutex<VecDeque<Instant>>,
}

impl Pacer {
    pub fn new(limit: u32, window: Duration) -> Self {
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        Self { limit, window, starts: Mutex::new(VecDeque::with_capacity(limit.min(1024))) }
    }

    pub fn from_config(config: &RateLimitConfig) -> Self {
        let window = Duration::try_from_secs_f64(config.incremental_window_secs).unwrap_or(Duration::from_secs(60));
        Self::new(config.incremental_requests, window)
    }

    /// Waits until one more request fits in the window, and records it.
    pub async fn acquire(&self) {
        let mut starts = self.starts.lock().await;
        loop {
            let now = Instant::now();
            while starts.front().is_some_and(|first| now.duration_since(*first) >= self.window) {
                starts.pop_front();
            }
            if starts.len() < self.limit {
                starts.push_back(now);
                return;
            }
            let Some(first) = starts.front().copied() else { continue };
            // Holding the lock while sleeping keeps waiters in order.
            tokio::time::sleep_until(first + self.window).await;
        }
    }
}

/// `Authorization` for Zendesk: Basic `{email}/token:{token}` or a bearer token.
pub struct ZendeskAuth {
    header: HeaderValue,
}

impl ZendeskAuth {
    pub fn new(config: &AuthConfig) -> Result<Self, ConnectorError> {
        let value = match config {
            AuthConfig::ApiToken { email, token } => {
                let pair = format!("{email}/token:{}", token.expose());
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
            }
            AuthConfig::Oauth { access_token } => format!("Bearer {}", access_token.expose()),
        };
        let mut header = HeaderValue::from_str(&value)
            .map_err(|_| ConnectorError::Config("auth: credentials contain characters not allowed in a header".into()))?;
        header.set_sensitive(true);
        Ok(Self { header })
    }
}

#[async_trait]
impl AuthProvider for ZendeskAuth {
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<u64, ConnectorError> {
        request.headers_mut().insert(AUTHORIZATION, self.header.clone());
        Ok(0)
    }

    async fn refresh(&self, _generation: u64) -> Result<(), ConnectorError> {
        Err(ConnectorError::Auth {
            endpoint: "zendesk".into(),
            reason: "the API token or access token was refused; it cannot be refreshed".into(),
        })
    }
}

/// One page of a cursor-based export (tickets or users).
#[derive(Debug, Clone, Default)]
pub struct CursorPage {
    pub items: Vec<Value>,
    /// Users sideloaded with `include=users`.
    pub users: Vec<Value>,
    pub after_cursor: Option<String>,
    pub end_of_stream: bool,
}

/// One page of the time-based organizations export.
#[derive(Debug, Clone, Default)]
pub struct TimePage {
    pub items: Vec<Value>,
    pub end_time: Option<i64>,
    pub end_of_stream: bool,
}

/// A ticket's comments and the users sideloaded with them.
#[derive(Debug, Clone, Default)]
pub struct Comments {
    pub comments: Vec<Value>,
    pub users: Vec<Value>,
}

/// The Zendesk API as the connector uses it.
#[derive(Clone)]
pub struct ZendeskClient {
    http: HttpClient,
    base: Url,
    page_size: u32,
    incremental: Arc<Pacer>,
}

impl ZendeskClient {
    pub fn new(http: HttpClient, base: Url, page_size: u32, incremental: Arc<Pacer>) -> Self {
        Self { http, base, page_size, incremental }
    }

    /// `base_url` + `path`, keeping a path prefix of `base_url` (a proxy mount point).
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{path}"));
        url.set_query(None);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
        }
        url
    }

    async fn get(&self, url: Url, class: EndpointClass) -> Result<HttpResponse, ConnectorError> {
        if class == EndpointClass::Incremental {
            self.incremental.acquire().await;
        }
        let response = self.http.send(self.http.get(url)).await?;
        log_rate_limit(&response);
        Ok(response)
    }

    /// `GET /api/v2/users/me.json`: who the credentials belong to. Zendesk answers an
    /// unauthenticated call with an anonymous user (`id: null`), not a 401.
    pub async fn me(&self) -> Result<String, ConnectorError> {
        let url = self.url("/api/v2/users/me.json", &[]);
        let body: Value = self.get(url, EndpointClass::Standard).await?.json()?;
        let user = body.get("user").unwrap_or(&Value::Null);
        if id_field(user, "id").is_none() {
            return Err(ConnectorError::Auth {
                endpoint: "/api/v2/users/me.json".into(),
                reason: "zendesk answered as an anonymous user; check auth.email and the token".into(),
            });
        }
        let name = str_field(user, "name").unwrap_or_default();
        let email = str_field(user, "email").unwrap_or_default();
        Ok(format!("{name} <{email}>").trim().to_owned())
    }

    /// The next page of a cursor-based export (`tickets` or `users`).
    pub async fn cursor_export(
        &self,
        entity: &str,
        position: &StreamPosition,
        include_users: bool,
    ) -> Result<CursorPage, ConnectorError> {
        let mut query = vec![("per_page", self.page_size.to_string())];
        match &position.after_cursor {
            Some(cursor) => query.push(("cursor", cursor.clone())),
            None => query.push(("start_time", position.start_time.to_string())),
        }
        if include_users {
            query.push(("include", "users".to_owned()));
        }
        let url = self.url(&format!("/api/v2/incremental/{entity}/cursor.json"), &query);
        let body: Value = self.get(url, EndpointClass::Incremental).await?.json()?;
        parse_cursor_page(&body, entity)
    }

    /// The next page of the time-based organizations export.
    pub async fn organizations_export(&self, start_time: i64) -> Result<TimePage, ConnectorError> {
        let query = [("start_time", start_time.to_string()), ("per_page", self.page_size.to_string())];
        let url = self.url("/api/v2/incremental/organizations.json", &query);
        let body: Value = self.get(url, EndpointClass::Incremental).await?.json()?;
        parse_time_page(&body, "organizations")
    }

    /// All comments of a ticket, oldest first, with their authors sideloaded. `None`
    /// when Zendesk refuses them for this ticket (deleted meanwhile, no access).
    pub async fn comments(&self, ticket_id: &str) -> Result<Option<Comments>, ConnectorError> {
        let path = format!("/api/v2/tickets/{ticket_id}/comments.json");
        let mut url = self.url(&path, &[("include", "users".to_owned()), ("page[size]", "100".to_owned())]);
        let mut all = Comments::default();
        for _ in 0..1000 {
            let response = match self.get(url.clone(), EndpointClass::Standard).await {
                Ok(response) => response,
                Err(ConnectorError::Permanent { endpoint, reason }) => {
                    tracing::warn!(ticket = ticket_id, %endpoint, %reason, "zendesk comments unavailable; using the description");
                    return Ok(None);
                }
                Err(other) => return Err(other),
            };
            let body: Value = response.json()?;
            all.comments.extend(array(&body, "comments")?);
            all.users.extend(array(&body, "users").unwrap_or_default());
            match next_link(&body) {
                Some(next) => url = self.rebase(&next),
                None => return Ok(Some(all)),
            }
        }
        Err(ConnectorError::permanent(path, "more than 1000 pages of comments"))
    }

    /// A pagination link re-pointed at `base_url` (Zendesk writes the canonical host).
    fn rebase(&self, link: &Url) -> Url {
        let query: Vec<(String, String)> = link.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let pairs: Vec<(&str, String)> = query.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        self.url(link.path(), &pairs)
    }
}

/// The next-page link of a list: `links.next` when `meta.has_more`, else `next_page`.
fn next_link(body: &Value) -> Option<Url> {
    let cbp = body.get("meta").and_then(|m| m.get("has_more")).and_then(Value::as_bool);
    let raw = match cbp {
        Some(true) => body.get("links").and_then(|l| l.get("next")).and_then(Value::as_str),
        Some(false) => None,
        None => body.get("next_page").and_then(Value::as_str),
    };
    raw.and_then(|link| Url::parse(link).ok())
}

fn array(body: &Value, key: &str) -> Result<Vec<Value>, ConnectorError> {
    match body.get(key) {
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(Value::Null) | None => Ok(Vec::new()),
        Some(_) => Err(ConnectorError::malformed(key, format!("`{key}` is not a list"))),
    }
}

/// Parses a cursor-based export page; a body that is not one is malformed.
pub fn parse_cursor_page(body: &Value, entity: &str) -> Result<CursorPage, ConnectorError> {
    if !body.is_object() || body.get(entity).is_none() {
        return Err(ConnectorError::malformed(format!("incremental/{entity}"), format!("no `{entity}` in the page")));
    }
    Ok(CursorPage {
        items: array(body, entity)?,
        users: if entity == "users" { Vec::new() } else { array(body, "users")? },
        after_cursor: str_field(body, "after_cursor"),
        end_of_stream: body.get("end_of_stream").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// Parses a time-based export page; a body that is not one is malformed.
pub fn parse_time_page(body: &Value, entity: &str) -> Result<TimePage, ConnectorError> {
    if !body.is_object() || body.get(entity).is_none() {
        return Err(ConnectorError::malformed(format!("incremental/{entity}"), format!("no `{entity}` in the page")));
    }
    Ok(TimePage {
        items: array(body, entity)?,
        end_time: body.get("end_time").and_then(Value::as_i64),
        end_of_stream: body.get("end_of_stream").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// Logs Zendesk's rate-limit headers; a nearly spent budget is logged louder.
fn log_rate_limit(response: &HttpResponse) {
    let header = |name: &str| response.headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let (Some(limit), Some(remaining)) = (header("x-rate-limit"), header("x-rate-limit-remaining")) else {
        return;
    };
    if remaining.saturating_mul(10) < limit {
        tracing::info!(path = response.url.path(), limit, remaining, "zendesk rate-limit budget nearly spent");
    } else {
        tracing::debug!(path = response.url.path(), limit, remaining, "zendesk rate limit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pacer_allows_limit_per_window() {
        let pacer = Pacer::new(3, Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..3 {
            pacer.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(1));
        pacer.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(60));
        for _ in 0..2 {
            pacer.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_secs(61));
        pacer.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(120));
    }

    #[test]
    fn basic_auth_uses_the_token_suffix() -> Result<(), ConnectorError> {
        let auth = ZendeskAuth::new(&AuthConfig::ApiToken {
            email: "ops@acme.com".into(),
            token: chorus_core::Secret::new("abc"),
        })?;
        let expected = base64::engine::general_purpose::STANDARD.encode("ops@acme.com/token:abc");
        assert_eq!(auth.header.to_str().ok(), Some(format!("Basic {expected}").as_str()));
        Ok(())
    }

    #[test]
    fn pages_without_their_list_are_malformed() {
        assert!(parse_cursor_page(&serde_json::json!({"error": "x"}), "tickets").is_err());
        assert!(parse_cursor_page(&serde_json::json!({"tickets": 3}), "tickets").is_err());
        let page = parse_cursor_page(&serde_json::json!({"tickets": [], "end_of_stream": true}), "tickets");
        assert!(page.is_ok_and(|p| p.end_of_stream && p.after_cursor.is_none()));
    }
}

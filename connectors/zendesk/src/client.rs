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
//! A `start_time` is never sent unless it is at least `MIN_START_TIME_AGE_SECS` older
//! than Zendesk's clock as its latest `Date` header told it (Zendesk refuses younger
//! ones with 400); the export calls answer `None` instead.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use chorus_sync::auth::AuthProvider;
use chorus_sync::http::EndpointLimiter;
use chorus_sync::{ConnectorContext, ConnectorError, HttpClient, HttpResponse};
use serde_json::Value;
use url::Url;

use crate::config::{AuthConfig, RateLimitConfig};
use crate::cursor::StreamPosition;
use crate::mapping::{id_field, str_field};

/// Most ids one `users/show_many` or `organizations/show_many` call takes.
pub const SHOW_MANY_MAX: usize = 100;

/// Zendesk refuses an export `start_time` less than a minute before its own "now"
/// (400 "Too recent start_time"); one more second absorbs the `Date` header's
/// truncation to the second.
pub const MIN_START_TIME_AGE_SECS: i64 = 61;

/// Which endpoints a request belongs to, for pacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointClass {
    /// `/api/v2/incremental/...`: 10 requests a minute.
    Incremental,
    /// Everything else: only the connector-wide limit.
    Standard,
}

/// The limiter of the incremental exports: `incremental_requests` per
/// `incremental_window_secs`, evenly spaced (burst 1) and at 95 % of that rate, so
/// network jitter between two requests cannot put one request too many into
/// Zendesk's window. It gates every attempt, retries included.
pub fn incremental_limiter(config: &RateLimitConfig) -> EndpointLimiter {
    EndpointLimiter::per_minute("zendesk incremental exports", incremental_per_minute(config))
}

/// Requests per minute the incremental limiter allows (at least one).
pub fn incremental_per_minute(config: &RateLimitConfig) -> u32 {
    let window = config.incremental_window_secs.max(f64::MIN_POSITIVE);
    let per_minute = (f64::from(config.incremental_requests) * 60.0 / window * 0.95).floor();
    if per_minute >= f64::from(u32::MAX) {
        return u32::MAX;
    }
    // In range and non-negative: the cast cannot truncate.
    (per_minute as u32).max(1)
}

/// Zendesk's OAuth token endpoint, under the account's URL (`tokens`, plural).
pub const TOKEN_PATH: &str = "/oauth/tokens";

/// The `Authorization` provider for the configured method. The refresh form goes
/// through the shared `OAuthRefresh` (single-flight refresh, the rotated refresh token
/// persisted by compare-and-swap in `credentials`) at `{base}/oauth/tokens`.
pub fn auth_provider(
    config: &AuthConfig,
    base: &Url,
    ctx: &ConnectorContext,
) -> Result<Arc<dyn AuthProvider>, ConnectorError> {
    Ok(match config {
        AuthConfig::Basic(basic) => Arc::new(basic.provider_as(format!("{}/token", basic.email.trim()))),
        AuthConfig::Bearer(bearer) => Arc::new(bearer.provider()),
        AuthConfig::OauthRefresh(oauth) => {
            let mut token_url = base.clone();
            let prefix = base.path().trim_end_matches('/').to_owned();
            token_url.set_path(&format!("{prefix}{TOKEN_PATH}"));
            token_url.set_query(None);
            Arc::new(oauth.provider(&token_url, ctx)?)
        }
    })
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
    /// `http` paced by the incremental exports' limiter as well.
    incremental_http: HttpClient,
    base: Url,
    page_size: u32,
    /// Zendesk's clock: the `Date` of the latest answer (unix seconds).
    server_time: Arc<Mutex<Option<i64>>>,
}

impl ZendeskClient {
    /// `http` paced by `limits`: the incremental exports by their limiter, everything
    /// else by the account budget (`rate_limit.requests_per_minute`, burst 10). The two
    /// together stay under the budget: the exports add at most 10 a minute.
    pub fn new(http: HttpClient, base: Url, page_size: u32, limits: &RateLimitConfig) -> Self {
        let incremental_http = http.clone().with_endpoint_limiter(Arc::new(incremental_limiter(limits)));
        let account = EndpointLimiter::new("zendesk account budget", limits.requests_per_minute.max(1), 10);
        let http = http.with_endpoint_limiter(Arc::new(account));
        Self { http, incremental_http, base, page_size, server_time: Arc::new(Mutex::new(None)) }
    }

    /// Zendesk's "now" as last told by a `Date` header (this host's clock before any).
    /// Never ahead of Zendesk's real clock, which has only moved on since.
    pub fn server_now(&self) -> i64 {
        let told = *self.server_time.lock().unwrap_or_else(PoisonError::into_inner);
        told.unwrap_or_else(|| chrono::Utc::now().timestamp())
    }

    /// Asks Zendesk for its time now (`users/me.json` answers cheaply, outside the
    /// export limit), so a run does not judge `start_time` by a stale or skewed clock.
    pub async fn read_clock(&self) -> Result<i64, ConnectorError> {
        self.get(self.url("/api/v2/users/me.json", &[]), EndpointClass::Standard).await?;
        Ok(self.server_now())
    }

    /// Whether Zendesk takes `start_time` now (see `MIN_START_TIME_AGE_SECS`).
    pub fn start_time_allowed(&self, start_time: i64) -> bool {
        start_time <= self.server_now().saturating_sub(MIN_START_TIME_AGE_SECS)
    }

    fn observe_date(&self, response: &HttpResponse) {
        let date = response.headers.get("date").and_then(|v| v.to_str().ok());
        if let Some(at) = date.and_then(|d| chrono::DateTime::parse_from_rfc2822(d.trim()).ok()) {
            *self.server_time.lock().unwrap_or_else(PoisonError::into_inner) = Some(at.timestamp());
        }
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

    /// `GET url` with its body parsed as JSON (a cut body is retried by the stack).
    async fn get(&self, url: Url, class: EndpointClass) -> Result<Value, ConnectorError> {
        let http = match class {
            EndpointClass::Incremental => &self.incremental_http,
            EndpointClass::Standard => &self.http,
        };
        let (response, body) = http.send_parsed(http.get(url)).await?;
        log_rate_limit(&response);
        self.observe_date(&response);
        Ok(body)
    }

    /// `GET /api/v2/users/me.json`: who the credentials belong to. Zendesk answers an
    /// unauthenticated call with an anonymous user (`id: null`), not a 401.
    pub async fn me(&self) -> Result<String, ConnectorError> {
        let url = self.url("/api/v2/users/me.json", &[]);
        let body = self.get(url, EndpointClass::Standard).await?;
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

    /// The next page of a cursor-based export (`tickets` or `users`); `None` when the
    /// export would start from a `start_time` Zendesk does not take yet (nothing to
    /// export before then).
    pub async fn cursor_export(
        &self,
        entity: &str,
        position: &StreamPosition,
        include_users: bool,
    ) -> Result<Option<CursorPage>, ConnectorError> {
        let mut query = vec![("per_page", self.page_size.to_string())];
        match &position.after_cursor {
            Some(cursor) => query.push(("cursor", cursor.clone())),
            None if !self.start_time_allowed(position.start_time) => {
                tracing::debug!(
                    entity,
                    start_time = position.start_time,
                    "zendesk export start_time too recent; later"
                );
                return Ok(None);
            }
            None => query.push(("start_time", position.start_time.to_string())),
        }
        if include_users {
            query.push(("include", "users".to_owned()));
        }
        let url = self.url(&format!("/api/v2/incremental/{entity}/cursor.json"), &query);
        let body = self.get(url, EndpointClass::Incremental).await?;
        parse_cursor_page(&body, entity).map(Some)
    }

    /// `GET /api/v2/users/show_many.json?ids=…`: the users among `ids` that exist (at
    /// most `SHOW_MANY_MAX` ids a call; ids that are not numeric are left out).
    pub async fn users_by_id(&self, ids: &[String]) -> Result<Vec<Value>, ConnectorError> {
        debug_assert!(ids.len() <= SHOW_MANY_MAX, "show_many takes at most {SHOW_MANY_MAX} ids");
        let numeric: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .take(SHOW_MANY_MAX)
            .collect();
        if numeric.is_empty() {
            return Ok(Vec::new());
        }
        let url = self.url("/api/v2/users/show_many.json", &[("ids", numeric.join(","))]);
        let body = self.get(url, EndpointClass::Standard).await?;
        if !body.is_object() || body.get("users").is_none() {
            return Err(ConnectorError::malformed("/api/v2/users/show_many.json", "no `users` in the answer"));
        }
        array(&body, "users")
    }

    /// `GET /api/v2/organizations/show_many.json?ids=…`: which of `ids` (numeric, at
    /// most `SHOW_MANY_MAX`) still exist. Only a 2xx answer with an `organizations`
    /// list whose entries all carry an id counts; anything else is an error, so a
    /// caller never infers a deletion from an answer it could not read.
    pub async fn existing_organizations(&self, ids: &[String]) -> Result<HashSet<String>, ConnectorError> {
        const PATH: &str = "/api/v2/organizations/show_many.json";
        debug_assert!(ids.len() <= SHOW_MANY_MAX, "show_many takes at most {SHOW_MANY_MAX} ids");
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let body = self.get(self.url(PATH, &[("ids", ids.join(","))]), EndpointClass::Standard).await?;
        let Some(Value::Array(organizations)) = body.get("organizations") else {
            return Err(ConnectorError::malformed(PATH, "no `organizations` list in the answer"));
        };
        organizations
            .iter()
            .map(|org| {
                id_field(org, "id").ok_or_else(|| ConnectorError::malformed(PATH, "an organization without an id"))
            })
            .collect()
    }

    /// The next page of the time-based organizations export; `None` when `start_time`
    /// is too recent for Zendesk to take (nothing to export before then).
    pub async fn organizations_export(&self, start_time: i64) -> Result<Option<TimePage>, ConnectorError> {
        if !self.start_time_allowed(start_time) {
            tracing::debug!(start_time, "zendesk organizations start_time too recent; later");
            return Ok(None);
        }
        let query = [("start_time", start_time.to_string()), ("per_page", self.page_size.to_string())];
        let url = self.url("/api/v2/incremental/organizations.json", &query);
        let body = self.get(url, EndpointClass::Incremental).await?;
        parse_time_page(&body, "organizations").map(Some)
    }

    /// The next page of the time-based ticket-events export with comment events
    /// (`include=comment_events`); `None` when `start_time` is too recent for Zendesk.
    pub async fn ticket_events(&self, start_time: i64) -> Result<Option<TimePage>, ConnectorError> {
        if !self.start_time_allowed(start_time) {
            tracing::debug!(start_time, "zendesk ticket events start_time too recent; later");
            return Ok(None);
        }
        let query = [("start_time", start_time.to_string()), ("include", "comment_events".to_owned())];
        let url = self.url("/api/v2/incremental/ticket_events.json", &query);
        let body = self.get(url, EndpointClass::Incremental).await?;
        parse_time_page(&body, "ticket_events").map(Some)
    }

    /// All comments of a ticket, oldest first, with their authors sideloaded. `None`
    /// when Zendesk refuses them for this ticket (deleted meanwhile, no access): the
    /// caller then keeps the comments it has stored.
    pub async fn comments(&self, ticket_id: &str) -> Result<Option<Comments>, ConnectorError> {
        let path = format!("/api/v2/tickets/{ticket_id}/comments.json");
        let mut url = self.url(&path, &[("include", "users".to_owned()), ("page[size]", "100".to_owned())]);
        let mut all = Comments::default();
        for _ in 0..1000 {
            let body = match self.get(url.clone(), EndpointClass::Standard).await {
                Ok(body) => body,
                Err(ConnectorError::Permanent { endpoint, reason }) => {
                    tracing::warn!(ticket = ticket_id, %endpoint, %reason, "zendesk comments unavailable; keeping the stored ones");
                    return Ok(None);
                }
                Err(other) => return Err(other),
            };
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
    let header =
        |name: &str| response.headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
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

    #[test]
    fn incremental_pacing_keeps_a_margin_under_the_limit() {
        let per_minute = |requests, window| {
            incremental_per_minute(&RateLimitConfig {
                incremental_requests: requests,
                incremental_window_secs: window,
                ..RateLimitConfig::default()
            })
        };
        assert_eq!(per_minute(10, 60.0), 9);
        assert_eq!(per_minute(10, 2.0), 285);
        assert_eq!(per_minute(1, 3600.0), 1);
    }

    #[test]
    fn pages_without_their_list_are_malformed() {
        assert!(parse_cursor_page(&serde_json::json!({"error": "x"}), "tickets").is_err());
        assert!(parse_cursor_page(&serde_json::json!({"tickets": 3}), "tickets").is_err());
        let page = parse_cursor_page(&serde_json::json!({"tickets": [], "end_of_stream": true}), "tickets");
        assert!(page.is_ok_and(|p| p.end_of_stream && p.after_cursor.is_none()));
    }
}

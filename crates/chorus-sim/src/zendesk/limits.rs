//! Zendesk's rate limits, as the simulator enforces and advertises them.
//!
//! Two limits. The account's budget of requests a minute is advertised on every
//! answer the way the recordings show it (`X-Rate-Limit`, `X-Rate-Limit-Remaining`,
//! `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` in seconds) and
//! enforced only when `account_limit` is set. The incremental exports allow
//! `incremental_limit` requests per `incremental_window` (sliding). Both are measured
//! in real time, not on the sim clock, which tests freeze. Invariant: a refusal is a
//! 429 with Zendesk's `{"error": "APIRateLimitExceeded", "description"}` body and a
//! `Retry-After` in whole seconds rounded up, so a client that waits it out is not
//! refused again by the same window.

use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::State;

/// Requests a minute advertised when no `account_limit` is enforced (the Support
/// plan's account limit).
const ACCOUNT_LIMIT: u64 = 700;

const MINUTE: Duration = Duration::from_secs(60);

/// The account budget as one request found it (that request included).
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    limit: u64,
    used: u64,
    resets_in: Duration,
    enforced: bool,
}

impl Budget {
    /// Whether this request is over an enforced account limit.
    pub(super) fn exceeded(&self) -> bool {
        self.enforced && self.used > self.limit
    }

    pub(super) fn resets_in(&self) -> Duration {
        self.resets_in
    }
}

/// Counts one request against the account's current minute.
pub(super) fn count_request(state: &mut State) -> Budget {
    let now = Instant::now();
    let (start, used) = match state.account_window {
        Some((start, used)) if now.duration_since(start) < MINUTE => (start, used + 1),
        _ => (now, 1),
    };
    state.account_window = Some((start, used));
    Budget {
        limit: state.config.account_limit.map_or(ACCOUNT_LIMIT, u64::from),
        used,
        resets_in: (start + MINUTE).saturating_duration_since(now),
        enforced: state.config.account_limit.is_some(),
    }
}

/// Whole seconds, rounded up, at least one.
fn whole_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Adds the account budget headers to any answer.
pub(super) fn with_headers(mut response: Response, budget: &Budget) -> Response {
    let remaining = budget.limit.saturating_sub(budget.used);
    let headers = response.headers_mut();
    headers.insert("x-rate-limit", HeaderValue::from(budget.limit));
    headers.insert("x-rate-limit-remaining", HeaderValue::from(remaining));
    headers.insert("ratelimit-limit", HeaderValue::from(budget.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(whole_secs(budget.resets_in)));
    response
}

/// Zendesk's 429: `Retry-After` and the `APIRateLimitExceeded` body.
pub(super) fn too_many(description: &str, wait: Duration) -> Response {
    let body = Json(json!({"error": "APIRateLimitExceeded", "description": description}));
    let mut response = (StatusCode::TOO_MANY_REQUESTS, body).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(whole_secs(wait)));
    response
}

/// The incremental-exports limit: `None` when the request may proceed, else the wait.
pub(super) fn incremental_gate(state: &mut State) -> Option<Duration> {
    let now = Instant::now();
    let window = state.config.incremental_window;
    while state.incremental_hits.front().is_some_and(|first| now.duration_since(*first) >= window) {
        state.incremental_hits.pop_front();
    }
    let limit = usize::try_from(state.config.incremental_limit).unwrap_or(usize::MAX);
    if state.incremental_hits.len() < limit {
        state.incremental_hits.push_back(now);
        return None;
    }
    state.incremental_rejections += 1;
    Some(state.incremental_hits.front().map_or(window, |first| (*first + window).saturating_duration_since(now)))
}

//! Jira Cloud's own rate limiting, as the simulator answers it.
//!
//! Off by default. With a `JiraRateLimit` set, API requests are counted in fixed
//! windows of real time (not the sim clock, which tests freeze). Answers within the
//! limit carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and, with less than 20 %
//! left, `X-RateLimit-NearLimit: true`. A request over the limit is answered 429 (or
//! 503) with `Retry-After`, `X-RateLimit-Limit`, `X-RateLimit-Remaining: 0`,
//! `X-RateLimit-Reset` (ISO 8601 `yyyy-MM-ddTHH:mmZ`: the request time plus
//! `Retry-After`) and `RateLimit-Reason`, and Jira's `errorMessages` body. Invariant:
//! `Retry-After` is whole seconds rounded up to the window's end, so a client that
//! waits it out is never refused again by the same window.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::json;

use super::JiraSim;

/// A Jira rate limit: `limit` requests per `window`, refused with `status`.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraRateLimit {
    pub limit: u32,
    pub window: Duration,
    /// 429, or 503 (Jira's answer when a resource limit is reached).
    pub status: u16,
    /// `RateLimit-Reason`: `jira-burst-based`, `jira-quota-tenant-based`, ...
    pub reason: String,
}

impl JiraRateLimit {
    /// The per-second burst limit: 429 with `RateLimit-Reason: jira-burst-based`.
    pub fn burst(limit: u32, window: Duration) -> Self {
        Self { limit, window, status: 429, reason: "jira-burst-based".into() }
    }
}

/// The limit and its current window.
#[derive(Debug, Default)]
pub(super) struct Limiter {
    config: Option<JiraRateLimit>,
    window: Option<(Instant, u32)>,
    rejections: u64,
}

/// What one request gets.
enum Verdict {
    Unlimited,
    Pass { limit: u32, remaining: u32 },
    Refuse { status: StatusCode, limit: u32, wait: Duration, reason: String },
}

impl Limiter {
    pub(super) fn set(&mut self, config: Option<JiraRateLimit>) {
        *self = Self { config, window: None, rejections: self.rejections };
    }

    pub(super) fn rejections(&self) -> u64 {
        self.rejections
    }

    fn count(&mut self) -> Verdict {
        let Some(config) = &self.config else {
            return Verdict::Unlimited;
        };
        let now = Instant::now();
        let (start, used) = match self.window {
            Some((start, used)) if now.duration_since(start) < config.window => (start, used.saturating_add(1)),
            _ => (now, 1),
        };
        self.window = Some((start, used));
        if used <= config.limit {
            return Verdict::Pass { limit: config.limit, remaining: config.limit - used };
        }
        self.rejections += 1;
        Verdict::Refuse {
            status: StatusCode::from_u16(config.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS),
            limit: config.limit,
            wait: (start + config.window).saturating_duration_since(now),
            reason: config.reason.clone(),
        }
    }
}

/// The middleware in front of every API route.
pub(super) async fn enforce(State(sim): State<JiraSim>, request: Request, next: Next) -> Response {
    let verdict = sim.lock().limiter.count();
    match verdict {
        Verdict::Unlimited => next.run(request).await,
        Verdict::Pass { limit, remaining } => {
            let mut response = next.run(request).await;
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
            headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
            if u64::from(remaining) * 5 < u64::from(limit) {
                headers.insert("x-ratelimit-nearlimit", HeaderValue::from_static("true"));
            }
            response
        }
        Verdict::Refuse { status, limit, wait, reason } => refusal(status, limit, wait, &reason),
    }
}

fn refusal(status: StatusCode, limit: u32, wait: Duration, reason: &str) -> Response {
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let reset = Utc::now() + chrono::TimeDelta::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000));
    let message = if status == StatusCode::TOO_MANY_REQUESTS {
        "Rate limit exceeded."
    } else {
        "Service temporarily unavailable; retry after the advertised time."
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(0_u32));
    if let Ok(value) = HeaderValue::from_str(&reset.format("%Y-%m-%dT%H:%MZ").to_string()) {
        headers.insert("x-ratelimit-reset", value);
    }
    if let Ok(value) = HeaderValue::from_str(reason) {
        headers.insert("ratelimit-reason", value);
    }
    (status, headers, Json(json!({"errorMessages": [message], "errors": {}}))).into_response()
}

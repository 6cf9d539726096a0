//! Jira Cloud's own rate limiting, as the simulator answers it.
//!
//! Two independent limits, both off by default and both counted in real time (not
//! the sim clock, which tests freeze):
//!
//! * the per-second **burst** limit (`JiraRateLimit`): `limit` requests per fixed
//!   window. Answers within it carry `X-RateLimit-Limit`, `X-RateLimit-Remaining`
//!   and, with less than 20 % left, `X-RateLimit-NearLimit: true`. A request over it
//!   is answered 429 (or 503) with `Retry-After`, `X-RateLimit-Remaining: 0`,
//!   `X-RateLimit-Reset` (ISO 8601 `yyyy-MM-ddTHH:mmZ`: the request time plus
//!   `Retry-After`) and `RateLimit-Reason`;
//! * the 2026 **points-based quota** (`JiraQuota`): every API request costs 1 point
//!   plus 1 per issue or comment it returns, `points` per window (an hour on Jira).
//!   Answers within it carry `Beta-RateLimit-Policy: "tenant-app-quota";q=…;w=…` and
//!   `Beta-RateLimit: "tenant-app-quota";r=<points left>;t=<seconds to reset>`. Once
//!   spent, every request is answered 429 with `RateLimit-Reason`
//!   (`jira-quota-tenant-based`, `jira-quota-global-based`), `X-RateLimit-Reset` at
//!   the window's end and — only if the quota says so — `Retry-After`: Jira's quota
//!   429s may carry the reset alone.
//!
//! Both answer with Jira's `errorMessages` body. Invariants: `Retry-After` is whole
//! seconds rounded up to the window's end, and `X-RateLimit-Reset` of a quota 429 is
//! the window's end rounded up to the second (to the minute, as Jira writes it, when
//! it falls on one), so a client that waits either out is never refused again by the
//! same window.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Timelike, Utc};
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

/// Jira Cloud's points-based quota: `points` per `window`, the window starting at
/// the first request after the quota is set (Jira's hourly windows start on the
/// hour; a test cannot wait for that).
#[derive(Debug, Clone, PartialEq)]
pub struct JiraQuota {
    pub points: u64,
    pub window: Duration,
    /// `RateLimit-Reason` of its 429s: `jira-quota-tenant-based` or `jira-quota-global-based`.
    pub reason: String,
    /// Whether its 429s carry `Retry-After` besides `X-RateLimit-Reset`.
    pub retry_after: bool,
}

impl JiraQuota {
    /// The tenant's hourly quota of `points`, whose 429s carry no `Retry-After`.
    pub fn hourly(points: u64) -> Self {
        Self { points, window: Duration::from_secs(3600), reason: "jira-quota-tenant-based".into(), retry_after: false }
    }
}

/// The limits and their current windows.
#[derive(Debug, Default)]
pub(super) struct Limiter {
    config: Option<JiraRateLimit>,
    window: Option<(Instant, u32)>,
    quota: Option<JiraQuota>,
    /// Start of the quota's window and the points spent in it.
    spent: Option<(Instant, u64)>,
    rejections: u64,
}

/// What one request gets.
enum Verdict {
    Pass { burst: Option<(u32, u32)>, quota: Option<QuotaLeft> },
    Refuse { status: StatusCode, limit: u64, wait: Duration, reason: String, retry_after: bool, iso_reset: bool },
}

/// The quota as an answer within it reports it.
struct QuotaLeft {
    points: u64,
    window: Duration,
    left: u64,
    reset_in: Duration,
}

impl Limiter {
    pub(super) fn set(&mut self, config: Option<JiraRateLimit>) {
        self.config = config;
        self.window = None;
    }

    /// Sets (or clears) the quota; its window starts afresh at the next request.
    pub(super) fn set_quota(&mut self, quota: Option<JiraQuota>) {
        self.quota = quota;
        self.spent = None;
    }

    pub(super) fn rejections(&self) -> u64 {
        self.rejections
    }

    /// Charges `objects` more points (the issues or comments an answer returned).
    pub(super) fn charge(&mut self, objects: usize) {
        if let Some((_, spent)) = &mut self.spent {
            *spent = spent.saturating_add(objects as u64);
        }
    }

    fn count(&mut self) -> Verdict {
        let now = Instant::now();
        let quota = match self.count_quota(now) {
            Ok(quota) => quota,
            Err(refusal) => return refusal,
        };
        let Some(config) = &self.config else {
            return Verdict::Pass { burst: None, quota };
        };
        let (start, used) = match self.window {
            Some((start, used)) if now.duration_since(start) < config.window => (start, used.saturating_add(1)),
            _ => (now, 1),
        };
        self.window = Some((start, used));
        if used <= config.limit {
            return Verdict::Pass { burst: Some((config.limit, config.limit - used)), quota };
        }
        self.rejections += 1;
        Verdict::Refuse {
            status: StatusCode::from_u16(config.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS),
            limit: u64::from(config.limit),
            wait: (start + config.window).saturating_duration_since(now),
            reason: config.reason.clone(),
            retry_after: true,
            iso_reset: false,
        }
    }

    /// The quota's verdict: `Ok` with what is left (the request's base point charged),
    /// or the refusal once the window's points are spent.
    fn count_quota(&mut self, now: Instant) -> Result<Option<QuotaLeft>, Verdict> {
        let Some(quota) = &self.quota else {
            return Ok(None);
        };
        let (start, spent) = match self.spent {
            Some((start, spent)) if now.duration_since(start) < quota.window => (start, spent),
            _ => (now, 0),
        };
        let reset_in = (start + quota.window).saturating_duration_since(now);
        if spent >= quota.points {
            self.spent = Some((start, spent));
            self.rejections += 1;
            return Err(Verdict::Refuse {
                status: StatusCode::TOO_MANY_REQUESTS,
                limit: quota.points,
                wait: reset_in,
                reason: quota.reason.clone(),
                retry_after: quota.retry_after,
                iso_reset: true,
            });
        }
        self.spent = Some((start, spent + 1));
        Ok(Some(QuotaLeft { points: quota.points, window: quota.window, left: quota.points - spent - 1, reset_in }))
    }
}

/// The middleware in front of every API route.
pub(super) async fn enforce(State(sim): State<JiraSim>, request: Request, next: Next) -> Response {
    let verdict = sim.lock().limiter.count();
    match verdict {
        Verdict::Pass { burst: None, quota: None } => next.run(request).await,
        Verdict::Pass { burst, quota } => {
            let mut response = next.run(request).await;
            let headers = response.headers_mut();
            if let Some((limit, remaining)) = burst {
                headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
                headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
                if u64::from(remaining) * 5 < u64::from(limit) {
                    headers.insert("x-ratelimit-nearlimit", HeaderValue::from_static("true"));
                }
            }
            if let Some(quota) = quota {
                let policy = format!("\"tenant-app-quota\";q={};w={}", quota.points, quota.window.as_secs());
                let left = format!("\"tenant-app-quota\";r={};t={}", quota.left, whole_seconds(quota.reset_in));
                for (name, value) in [("beta-ratelimit-policy", policy), ("beta-ratelimit", left)] {
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        headers.insert(name, value);
                    }
                }
            }
            response
        }
        Verdict::Refuse { status, limit, wait, reason, retry_after, iso_reset } => {
            refusal(status, limit, wait, &reason, retry_after, iso_reset)
        }
    }
}

/// `wait` in whole seconds, rounded up, at least one.
fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// `X-RateLimit-Reset` for an instant: Jira's `yyyy-MM-ddTHH:mmZ` when it falls on a
/// minute, else with seconds (`yyyy-MM-ddTHH:mm:ssZ`), which a minute would round.
pub(super) fn iso_reset(at: DateTime<Utc>) -> String {
    if at.second() == 0 && at.nanosecond() == 0 {
        at.format("%Y-%m-%dT%H:%MZ").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

fn refusal(status: StatusCode, limit: u64, wait: Duration, reason: &str, retry_after: bool, exact: bool) -> Response {
    let secs = whole_seconds(wait);
    let reset = if exact {
        // The window's end, to the next whole second: never before it.
        let now = Utc::now();
        let end = chrono::TimeDelta::from_std(wait).ok().and_then(|d| now.checked_add_signed(d));
        let end = end.unwrap_or(DateTime::<Utc>::MAX_UTC);
        let floored = end.with_nanosecond(0).unwrap_or(end);
        let ceiled = if floored < end { floored.checked_add_signed(chrono::TimeDelta::seconds(1)) } else { None };
        iso_reset(ceiled.unwrap_or(floored))
    } else {
        let at = Utc::now() + chrono::TimeDelta::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000));
        at.format("%Y-%m-%dT%H:%MZ").to_string()
    };
    let message = if status == StatusCode::TOO_MANY_REQUESTS {
        "Rate limit exceeded."
    } else {
        "Service temporarily unavailable; retry after the advertised time."
    };
    let mut headers = HeaderMap::new();
    if retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(0_u32));
    if let Ok(value) = HeaderValue::from_str(&reset) {
        headers.insert("x-ratelimit-reset", value);
    }
    if let Ok(value) = HeaderValue::from_str(reason) {
        headers.insert("ratelimit-reason", value);
    }
    (status, headers, Json(json!({"errorMessages": [message], "errors": {}}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_are_written_as_jira_writes_them() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).map(|t| t.to_utc()).unwrap_or_default();
        assert_eq!(iso_reset(at("2026-03-26T16:00:00Z")), "2026-03-26T16:00Z");
        assert_eq!(iso_reset(at("2026-03-26T16:00:07Z")), "2026-03-26T16:00:07Z");
    }

    #[test]
    fn the_quota_refuses_once_spent_and_names_its_reset() {
        let mut limiter = Limiter::default();
        limiter.set_quota(Some(JiraQuota::hourly(5)));
        assert!(matches!(limiter.count(), Verdict::Pass { quota: Some(QuotaLeft { left: 4, .. }), .. }));
        limiter.charge(3);
        assert!(matches!(limiter.count(), Verdict::Pass { quota: Some(QuotaLeft { left: 0, .. }), .. }));
        match limiter.count() {
            Verdict::Refuse { status, retry_after, iso_reset, wait, reason, .. } => {
                assert_eq!((status, retry_after, iso_reset), (StatusCode::TOO_MANY_REQUESTS, false, true));
                assert!(wait > Duration::from_secs(3500), "{wait:?}");
                assert_eq!(reason, "jira-quota-tenant-based");
            }
            Verdict::Pass { .. } => panic!("a spent quota passed a request"),
        }
        assert_eq!(limiter.rejections(), 1);
        limiter.set_quota(Some(JiraQuota::hourly(5)));
        assert!(matches!(limiter.count(), Verdict::Pass { .. }), "a new window starts afresh");
    }
}

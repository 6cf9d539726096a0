//! What a source says about its limits, read safely: `Retry-After`, the rate-limit reset
//! headers and the context a 429 gives for the log line.
//!
//! Invariant: every duration read here is clamped to `MAX_SERVER_WAIT` before anyone
//! adds it to an `Instant` (a hostile `Retry-After: 18446744073709551615` panicked the
//! scheduler before), and every header value quoted in a log is reduced to
//! `RATE_LIMIT_HEADER_CHARS` printable ASCII characters.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Longest rate-limit header value quoted in a log line.
const RATE_LIMIT_HEADER_CHARS: usize = 64;

/// What a 429/503 said about the limit, for the log line: `RateLimit-Reason` (Jira:
/// `jira-burst-based`, `jira-quota-tenant-based`, …) and `X-RateLimit-Reset` /
/// `RateLimit-Reset` as sent (seconds, epoch seconds or Jira's ISO minute).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct RateLimitContext {
    pub(crate) reason: Option<String>,
    pub(crate) reset: Option<String>,
}

impl RateLimitContext {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let first = |names: &[&str]| names.iter().find_map(|name| headers.get(*name)).and_then(log_safe);
        Self { reason: first(&["ratelimit-reason"]), reset: first(&["x-ratelimit-reset", "ratelimit-reset"]) }
    }
}

/// A header value fit for a log line: printable ASCII only, at most
/// `RATE_LIMIT_HEADER_CHARS` characters; `None` when nothing is left.
fn log_safe(value: &reqwest::header::HeaderValue) -> Option<String> {
    let text: String = value
        .as_bytes()
        .iter()
        .filter(|b| (0x20..0x7f).contains(*b))
        .take(RATE_LIMIT_HEADER_CHARS)
        .map(|b| char::from(*b))
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The longest wait a server can impose through a header or a token lifetime: a day.
/// Anything larger is clamped to it, so that no `Instant + Duration` can overflow (and
/// panic) on a hostile or broken value; the run ends rate-limited long before anyway.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// A duration a server gave us, made safe to add to an `Instant`.
pub fn clamp_server_wait(wait: Duration) -> Duration {
    wait.min(MAX_SERVER_WAIT)
}

/// `Retry-After` as delta-seconds or an HTTP-date, as a wait from now (clamped).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = value.parse::<f64>() {
        Duration::try_from_secs_f64(secs.min(MAX_SERVER_WAIT.as_secs_f64())).ok()?
    } else {
        let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        SystemTime::from(date.to_utc()).duration_since(SystemTime::now()).unwrap_or_default()
    };
    Some(clamp_server_wait(wait))
}

/// `RateLimit-Reset` / `X-RateLimit-Reset` when a 429 has no `Retry-After`, as a wait
/// from now (clamped): delta-seconds, epoch seconds when the number is that large
/// (GitHub-style), or an ISO-8601 instant (Jira Cloud: `2024-06-01T10:05Z`, or with
/// seconds and an offset).
pub(crate) fn rate_limit_reset(headers: &HeaderMap) -> Option<Duration> {
    const EPOCH_THRESHOLD: u64 = 1_000_000_000;
    let value = ["ratelimit-reset", "x-ratelimit-reset"]
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())?
        .trim();
    let now = chrono::Utc::now();
    let wait = match value.parse::<u64>() {
        Ok(secs) if secs < EPOCH_THRESHOLD => Duration::from_secs(secs),
        Ok(epoch) => {
            let now = u64::try_from(now.timestamp()).ok()?;
            Duration::from_secs(epoch.saturating_sub(now))
        }
        Err(_) => (iso_instant(value)? - now).to_std().unwrap_or_default(),
    };
    Some(clamp_server_wait(wait))
}

/// An ISO-8601 instant with an offset or `Z`, seconds optional.
fn iso_instant(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(value) {
        return Some(at.to_utc());
    }
    ["%Y-%m-%dT%H:%M%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"].iter().find_map(|format| {
        let normalized = value.strip_suffix('Z').map_or_else(|| value.to_owned(), |v| format!("{v}+00:00"));
        chrono::DateTime::parse_from_str(&normalized, format).ok().map(|at| at.to_utc())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use std::time::Instant;

    #[test]
    fn retry_after_forms() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("12"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(12)));
        let future = chrono::Utc::now() + chrono::TimeDelta::seconds(20);
        let date = future.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&date).expect("header"));
        let wait = retry_after(&headers).expect("date parses");
        assert!(wait > Duration::from_secs(18) && wait <= Duration::from_secs(20), "{wait:?}");
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO), "a past date means now");
        headers.insert(RETRY_AFTER, HeaderValue::from_static("later"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn reset_headers_are_a_fallback() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("5"));
        assert_eq!(rate_limit_reset(&headers), Some(Duration::from_secs(5)));
        let epoch = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).expect("clock").as_secs() + 30;
        headers.insert("x-ratelimit-reset", HeaderValue::from(epoch));
        let wait = rate_limit_reset(&headers).expect("epoch form");
        assert!(wait > Duration::from_secs(28) && wait <= Duration::from_secs(30));
    }

    #[test]
    fn jira_iso_reset_is_a_wait_until_then() {
        let mut headers = HeaderMap::new();
        let at = chrono::Utc::now() + chrono::TimeDelta::seconds(150);
        headers
            .insert("x-ratelimit-reset", HeaderValue::from_str(&at.format("%Y-%m-%dT%H:%MZ").to_string()).expect("h"));
        let wait = rate_limit_reset(&headers).expect("the minute form parses");
        assert!(wait > Duration::from_secs(85) && wait <= Duration::from_secs(150), "{wait:?}");
        headers.insert("x-ratelimit-reset", HeaderValue::from_str(&at.to_rfc3339()).expect("h"));
        let wait = rate_limit_reset(&headers).expect("rfc 3339 parses");
        assert!(wait > Duration::from_secs(145) && wait <= Duration::from_secs(150), "{wait:?}");
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("2020-01-01T00:00+01:00"));
        assert_eq!(rate_limit_reset(&headers), Some(Duration::ZERO), "a past reset means now");
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("soon"));
        assert_eq!(rate_limit_reset(&headers), None);
    }

    #[test]
    fn huge_server_waits_are_clamped_and_never_overflow_an_instant() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from(u64::MAX));
        assert_eq!(retry_after(&headers), Some(MAX_SERVER_WAIT));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1e300"));
        assert_eq!(retry_after(&headers), Some(MAX_SERVER_WAIT));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Fri, 31 Dec 9999 23:59:59 GMT"));
        assert_eq!(retry_after(&headers), Some(MAX_SERVER_WAIT));
        headers.insert("x-ratelimit-reset", HeaderValue::from(u64::MAX));
        assert_eq!(rate_limit_reset(&headers), Some(MAX_SERVER_WAIT));
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("+262143-12-31T23:59:59Z"));
        assert!(rate_limit_reset(&headers).is_none_or(|wait| wait == MAX_SERVER_WAIT));
        let _ = Instant::now() + retry_after(&headers).unwrap_or_default();
    }

    #[test]
    fn rate_limit_context_is_sanitized() {
        let mut headers = HeaderMap::new();
        assert_eq!(RateLimitContext::from_headers(&headers), RateLimitContext::default());
        headers.insert("ratelimit-reason", HeaderValue::from_static("jira-burst-based"));
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("2024-06-01T10:05Z"));
        headers.insert("ratelimit-reset", HeaderValue::from_static("7"));
        let context = RateLimitContext::from_headers(&headers);
        assert_eq!(context.reason.as_deref(), Some("jira-burst-based"));
        assert_eq!(context.reset.as_deref(), Some("2024-06-01T10:05Z"), "X-RateLimit-Reset first");
        headers.remove("x-ratelimit-reset");
        assert_eq!(RateLimitContext::from_headers(&headers).reset.as_deref(), Some("7"));
        let hostile = HeaderValue::from_bytes(format!("a\tb\u{e9}c{}", "z".repeat(100)).as_bytes()).expect("header");
        let clean = log_safe(&hostile).expect("text left");
        assert!(clean.starts_with("abc") && clean.len() == RATE_LIMIT_HEADER_CHARS, "{clean}");
        assert_eq!(log_safe(&HeaderValue::from_static("   ")), None);
    }
}

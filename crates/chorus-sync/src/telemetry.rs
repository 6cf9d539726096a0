//! Typed telemetry events, after Vector's `internal_events`: one struct per event.
//!
//! Each event's `emit()` logs one `tracing` line with structured fields and bumps its
//! counter in the process-wide registry that `counters()` snapshots (later rendered by
//! `/metrics`). Invariant: events carry a connector id, an endpoint PATH and numbers —
//! never a query string, a credential or a header, save a source's rate-limit reason
//! and reset that the HTTP stack reduced to 64 printable ASCII characters — so nothing
//! emitted here can leak a secret. Metric names are constants on the events, not strings scattered in code.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// Counter values keyed by `(metric name, connector id)`.
pub type CounterSnapshot = BTreeMap<(String, String), u64>;

fn registry() -> &'static Mutex<BTreeMap<(&'static str, String), u64>> {
    static REGISTRY: OnceLock<Mutex<BTreeMap<(&'static str, String), u64>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn bump(name: &'static str, connector: &str, by: u64) {
    let mut counters = registry().lock().unwrap_or_else(PoisonError::into_inner);
    let value = counters.entry((name, connector.to_owned())).or_insert(0);
    *value = value.saturating_add(by);
}

/// A snapshot of every counter, `(name, connector) → value`.
pub fn counters() -> CounterSnapshot {
    let counters = registry().lock().unwrap_or_else(PoisonError::into_inner);
    counters.iter().map(|((name, connector), value)| (((*name).to_owned(), connector.clone()), *value)).collect()
}

/// One counter's value (0 if never bumped).
pub fn counter(name: &str, connector: &str) -> u64 {
    let counters = registry().lock().unwrap_or_else(PoisonError::into_inner);
    counters.iter().find(|((n, c), _)| *n == name && c == connector).map_or(0, |(_, v)| *v)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A request attempt left for the source.
#[derive(Debug, Clone, Copy)]
pub struct RequestSent<'a> {
    pub connector: &'a str,
    pub endpoint: &'a str,
    pub method: &'a str,
    /// 1 for the first attempt.
    pub attempt: u32,
}

impl RequestSent<'_> {
    pub const COUNTER: &'static str = "chorus_http_requests_total";
    pub fn emit(self) {
        tracing::debug!(
            connector = self.connector,
            endpoint = self.endpoint,
            method = self.method,
            attempt = self.attempt,
            "http request sent"
        );
        bump(Self::COUNTER, self.connector, 1);
    }
}

/// A response's status line arrived.
#[derive(Debug, Clone, Copy)]
pub struct ResponseReceived<'a> {
    pub connector: &'a str,
    pub endpoint: &'a str,
    pub status: u16,
    pub elapsed: Duration,
}

impl ResponseReceived<'_> {
    pub const COUNTERS: [&'static str; 5] = [
        "chorus_http_responses_1xx_total",
        "chorus_http_responses_2xx_total",
        "chorus_http_responses_3xx_total",
        "chorus_http_responses_4xx_total",
        "chorus_http_responses_5xx_total",
    ];
    pub fn emit(self) {
        tracing::debug!(
            connector = self.connector,
            endpoint = self.endpoint,
            status = self.status,
            elapsed_ms = millis(self.elapsed),
            "http response received"
        );
        let class = usize::from(self.status / 100).clamp(1, 5) - 1;
        bump(Self::COUNTERS[class], self.connector, 1);
    }
}

/// A failed attempt will be retried after `wait`.
#[derive(Debug, Clone, Copy)]
pub struct RetryScheduled<'a> {
    pub connector: &'a str,
    pub endpoint: &'a str,
    /// Short kind of failure: `rate_limited`, `transient`, `unauthorized`.
    pub reason: &'a str,
    pub wait: Duration,
    /// The attempt that failed.
    pub attempt: u32,
}

impl RetryScheduled<'_> {
    pub const COUNTER: &'static str = "chorus_http_retries_total";
    pub fn emit(self) {
        tracing::info!(
            connector = self.connector,
            endpoint = self.endpoint,
            reason = self.reason,
            wait_ms = millis(self.wait),
            attempt = self.attempt,
            "http retry scheduled"
        );
        bump(Self::COUNTER, self.connector, 1);
    }
}

/// The source asked us to slow down.
#[derive(Debug, Clone, Copy)]
pub struct RateLimited<'a> {
    pub connector: &'a str,
    pub endpoint: &'a str,
    pub retry_after: Option<Duration>,
    /// The answer's `RateLimit-Reason` (Jira), sanitized by the HTTP stack.
    pub reason: Option<&'a str>,
    /// The answer's `X-RateLimit-Reset` or `RateLimit-Reset` as sent, sanitized.
    pub reset: Option<&'a str>,
}

impl RateLimited<'_> {
    pub const COUNTER: &'static str = "chorus_http_rate_limited_total";
    pub fn emit(self) {
        let retry_after_ms = self.retry_after.map(millis);
        tracing::warn!(
            connector = self.connector,
            endpoint = self.endpoint,
            retry_after_ms,
            reason = self.reason,
            reset = self.reset,
            "rate limited by source"
        );
        bump(Self::COUNTER, self.connector, 1);
    }
}

/// A request failed for good (after retries, or at once for permanent failures).
#[derive(Debug, Clone, Copy)]
pub struct RequestFailed<'a> {
    pub connector: &'a str,
    pub endpoint: &'a str,
    /// `rate_limited`, `auth`, `transient`, `permanent` or `config`.
    pub kind: &'a str,
    pub attempts: u32,
}

impl RequestFailed<'_> {
    pub const COUNTER: &'static str = "chorus_http_failures_total";
    pub fn emit(self) {
        tracing::warn!(
            connector = self.connector,
            endpoint = self.endpoint,
            kind = self.kind,
            attempts = self.attempts,
            "http request failed"
        );
        bump(Self::COUNTER, self.connector, 1);
    }
}

/// A response body passed the size cap and was abandoned.
#[derive(Debug, Clone, Copy)]
pub struct BodyTooLarge<'a> {
    pub connector: &'a str,
    pub endpoint: &'a str,
    pub limit: usize,
}

impl BodyTooLarge<'_> {
    pub const COUNTER: &'static str = "chorus_http_body_too_large_total";
    pub fn emit(self) {
        tracing::error!(
            connector = self.connector,
            endpoint = self.endpoint,
            limit_bytes = self.limit,
            "response body over the size cap"
        );
        bump(Self::COUNTER, self.connector, 1);
    }
}

/// An access token was obtained (first grant or refresh).
#[derive(Debug, Clone, Copy)]
pub struct TokenRefreshed<'a> {
    pub connector: &'a str,
    /// `refresh_token` or `client_credentials`.
    pub grant: &'a str,
    /// The token generation now in use.
    pub generation: u64,
    pub expires_in: Option<Duration>,
}

impl TokenRefreshed<'_> {
    pub const COUNTER: &'static str = "chorus_auth_token_refreshes_total";
    pub fn emit(self) {
        let expires_in_s = self.expires_in.map(|d| d.as_secs());
        tracing::info!(
            connector = self.connector,
            grant = self.grant,
            generation = self.generation,
            expires_in_s,
            "access token refreshed"
        );
        bump(Self::COUNTER, self.connector, 1);
    }
}

/// A token grant failed.
#[derive(Debug, Clone, Copy)]
pub struct TokenRefreshFailed<'a> {
    pub connector: &'a str,
    pub grant: &'a str,
    /// Secret-free reason, e.g. the OAuth error code.
    pub reason: &'a str,
}

impl TokenRefreshFailed<'_> {
    pub const COUNTER: &'static str = "chorus_auth_token_refresh_failures_total";
    pub fn emit(self) {
        tracing::warn!(
            connector = self.connector,
            grant = self.grant,
            reason = self.reason,
            "access token refresh failed"
        );
        bump(Self::COUNTER, self.connector, 1);
    }
}

/// A rotated refresh token was persisted (or lost a race to another process).
#[derive(Debug, Clone, Copy)]
pub struct RefreshTokenRotated<'a> {
    pub connector: &'a str,
    /// `false`: another process rotated first; we reloaded.
    pub persisted: bool,
}

impl RefreshTokenRotated<'_> {
    pub const COUNTER: &'static str = "chorus_auth_refresh_token_rotations_total";
    pub const CONFLICTS: &'static str = "chorus_auth_refresh_token_conflicts_total";
    pub fn emit(self) {
        tracing::info!(connector = self.connector, persisted = self.persisted, "refresh token rotated");
        bump(if self.persisted { Self::COUNTER } else { Self::CONFLICTS }, self.connector, 1);
    }
}

/// The engine committed one page with its cursor.
#[derive(Debug, Clone, Copy)]
pub struct PageCommitted<'a> {
    pub connector: &'a str,
    pub records: u64,
    pub upserted: u64,
    pub unchanged: u64,
    pub deleted: u64,
}

impl PageCommitted<'_> {
    pub const PAGES: &'static str = "chorus_sync_pages_total";
    pub const RECORDS: &'static str = "chorus_sync_records_total";
    pub const UPSERTED: &'static str = "chorus_sync_records_upserted_total";
    pub const UNCHANGED: &'static str = "chorus_sync_records_unchanged_total";
    pub const DELETED: &'static str = "chorus_sync_records_deleted_total";
    pub fn emit(self) {
        tracing::debug!(
            connector = self.connector,
            records = self.records,
            upserted = self.upserted,
            unchanged = self.unchanged,
            deleted = self.deleted,
            "page committed"
        );
        bump(Self::PAGES, self.connector, 1);
        bump(Self::RECORDS, self.connector, self.records);
        bump(Self::UPSERTED, self.connector, self.upserted);
        bump(Self::UNCHANGED, self.connector, self.unchanged);
        bump(Self::DELETED, self.connector, self.deleted);
    }
}

/// A connector read a record it could not map; the cursor moves past it.
#[derive(Debug, Clone, Copy)]
pub struct RecordUnmapped<'a> {
    pub connector: &'a str,
    pub external_id: &'a str,
    pub reason: &'a str,
}

impl RecordUnmapped<'_> {
    pub const UNMAPPED: &'static str = "chorus_sync_records_unmapped_total";
    pub fn emit(self) {
        tracing::warn!(
            connector = self.connector,
            external_id = self.external_id,
            reason = self.reason,
            "record not mapped; counted in the run's history"
        );
        bump(Self::UNMAPPED, self.connector, 1);
    }
}

/// A sync run ended.
#[derive(Debug, Clone, Copy)]
pub struct RunFinished<'a> {
    pub connector: &'a str,
    /// `succeeded`, `failed`, `cancelled`, ...
    pub status: &'a str,
    pub pages: u64,
    pub elapsed: Duration,
}

impl RunFinished<'_> {
    pub const RUNS: &'static str = "chorus_sync_runs_total";
    pub const FAILED: &'static str = "chorus_sync_runs_failed_total";
    pub const RATE_LIMITED: &'static str = "chorus_sync_runs_rate_limited_total";
    pub fn emit(self) {
        tracing::info!(
            connector = self.connector,
            status = self.status,
            pages = self.pages,
            elapsed_ms = millis(self.elapsed),
            "sync run finished"
        );
        bump(Self::RUNS, self.connector, 1);
        match self.status {
            "failed" => bump(Self::FAILED, self.connector, 1),
            "rate_limited" => bump(Self::RATE_LIMITED, self.connector, 1),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_bump_their_counters_per_connector() {
        let before = counter(PageCommitted::UPSERTED, "telemetry-test");
        PageCommitted { connector: "telemetry-test", records: 5, upserted: 3, unchanged: 1, deleted: 1 }.emit();
        ResponseReceived { connector: "telemetry-test", endpoint: "/x", status: 429, elapsed: Duration::ZERO }.emit();
        assert_eq!(counter(PageCommitted::UPSERTED, "telemetry-test"), before + 3);
        assert!(counter("chorus_http_responses_4xx_total", "telemetry-test") >= 1);
        let snapshot = counters();
        assert!(snapshot.contains_key(&(PageCommitted::PAGES.to_owned(), "telemetry-test".to_owned())));
        assert_eq!(counter(PageCommitted::UPSERTED, "other-connector"), 0);
    }
}

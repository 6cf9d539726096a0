//! Typed telemetry events, after Vector's `internal_events`: one struct per event.
//!
//! Each event's `emit()` logs one `tracing` line with structured fields and bumps its
//! counter in the process-wide registry that `counters()` snapshots (later rendered by
//! `/metrics`). Invariant: events carry a connector id, an endpoint PATH and numbers —
//! never a query string, a credential or a header, save a source's rate-limit reason
//! and reset that the HTTP stack reduced to 64 printable ASCII characters — so nothing
//! emitted here can leak a secret. Metric names are constants on the events, not strings scattered in code.
//! Latencies, waits and index lag also go to histograms; `render()` writes everything in
//! the OpenMetrics text format through `prometheus-client`. Histogram labels are
//! bounded: connector ids, route patterns (never concrete paths), methods, statuses.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

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
    pub const HISTOGRAM: &'static str = "chorus_http_rate_limit_wait_seconds";
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
        if let Some(wait) = self.retry_after {
            observe_rate_limit_wait(self.connector, wait);
        }
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
    /// From asking the connector for the page to its commit.
    pub elapsed: Duration,
}

impl PageCommitted<'_> {
    pub const HISTOGRAM: &'static str = "chorus_sync_page_duration_seconds";
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
        observe_page(self.connector, self.elapsed);
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

// --- histograms and the Prometheus registry ----------------------------------------

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectorLabels {
    connector: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    /// The route's pattern (`/api/v1/items/{id}`), never the concrete path.
    route: String,
    method: String,
    status: u16,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 1 ms to ~33 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// 10 ms to ~5.8 h: rate-limit waits range from a jitter to an hourly quota.
fn wait_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 3.0, 14))
}

/// 1 to ~1.6 M change-log entries.
fn lag_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 4.0, 11))
}

struct Distributions {
    api: Histograms<RouteLabels>,
    page: Histograms<ConnectorLabels>,
    rate_limit_wait: Histograms<ConnectorLabels>,
    index_lag: Histogram,
    index_lag_now: Gauge,
}

fn distributions() -> &'static Distributions {
    static DISTRIBUTIONS: OnceLock<Distributions> = OnceLock::new();
    DISTRIBUTIONS.get_or_init(|| Distributions {
        api: Family::new_with_constructor(latency_histogram),
        page: Family::new_with_constructor(latency_histogram),
        rate_limit_wait: Family::new_with_constructor(wait_histogram),
        index_lag: lag_histogram(),
        index_lag_now: Gauge::default(),
    })
}

/// The HTTP server answered one request.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequestServed<'a> {
    /// The matched route pattern, or `unmatched`.
    pub route: &'a str,
    pub method: &'a str,
    pub status: u16,
    pub elapsed: Duration,
}

impl ApiRequestServed<'_> {
    pub const HISTOGRAM: &'static str = "chorus_api_request_duration_seconds";
    pub fn emit(self) {
        tracing::debug!(
            route = self.route,
            method = self.method,
            status = self.status,
            elapsed_ms = millis(self.elapsed),
            "request served"
        );
        let labels = RouteLabels { route: self.route.to_owned(), method: self.method.to_owned(), status: self.status };
        distributions().api.get_or_create(&labels).observe(self.elapsed.as_secs_f64());
    }
}

/// How far the search index is behind the store's change log, sampled.
#[derive(Debug, Clone, Copy)]
pub struct IndexLagObserved {
    /// Change-log entries the index has not applied yet.
    pub lag: u64,
}

impl IndexLagObserved {
    pub const HISTOGRAM: &'static str = "chorus_index_lag_changes";
    pub const GAUGE: &'static str = "chorus_index_lag_changes_now";
    pub fn emit(self) {
        tracing::debug!(lag = self.lag, "index lag sampled");
        let metrics = distributions();
        metrics.index_lag.observe(self.lag as f64);
        metrics.index_lag_now.set(i64::try_from(self.lag).unwrap_or(i64::MAX));
    }
}

fn observe_page(connector: &str, elapsed: Duration) {
    let labels = ConnectorLabels { connector: connector.to_owned() };
    distributions().page.get_or_create(&labels).observe(elapsed.as_secs_f64());
}

fn observe_rate_limit_wait(connector: &str, wait: Duration) {
    let labels = ConnectorLabels { connector: connector.to_owned() };
    distributions().rate_limit_wait.get_or_create(&labels).observe(wait.as_secs_f64());
}

/// Every counter and histogram in the OpenMetrics text format, for `/metrics`.
pub fn render() -> String {
    let mut registry = Registry::default();
    let mut families: BTreeMap<String, Family<ConnectorLabels, Counter>> = BTreeMap::new();
    for ((name, connector), value) in counters() {
        // The client appends `_total` to counter names itself.
        let base = name.strip_suffix("_total").unwrap_or(&name).to_owned();
        let family = families.entry(base).or_default();
        family.get_or_create(&ConnectorLabels { connector }).inc_by(value);
    }
    for (name, family) in families {
        registry.register(name, "events counted per connector", family);
    }
    let metrics = distributions();
    registry.register(
        ApiRequestServed::HISTOGRAM,
        "HTTP API latency per route, method and status",
        metrics.api.clone(),
    );
    registry.register(PageCommitted::HISTOGRAM, "time to fetch and commit one sync page", metrics.page.clone());
    registry.register(
        RateLimited::HISTOGRAM,
        "waits a source's rate limit asked for (Retry-After or reset)",
        metrics.rate_limit_wait.clone(),
    );
    registry.register(
        IndexLagObserved::HISTOGRAM,
        "change-log entries the index was behind, sampled",
        metrics.index_lag.clone(),
    );
    registry.register(
        IndexLagObserved::GAUGE,
        "change-log entries the index is behind, last sample",
        metrics.index_lag_now.clone(),
    );
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        tracing::error!(%error, "encoding metrics failed");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_bump_their_counters_per_connector() {
        let before = counter(PageCommitted::UPSERTED, "telemetry-test");
        PageCommitted {
            connector: "telemetry-test",
            records: 5,
            upserted: 3,
            unchanged: 1,
            deleted: 1,
            elapsed: Duration::from_millis(12),
        }
        .emit();
        ResponseReceived { connector: "telemetry-test", endpoint: "/x", status: 429, elapsed: Duration::ZERO }.emit();
        assert_eq!(counter(PageCommitted::UPSERTED, "telemetry-test"), before + 3);
        assert!(counter("chorus_http_responses_4xx_total", "telemetry-test") >= 1);
        let snapshot = counters();
        assert!(snapshot.contains_key(&(PageCommitted::PAGES.to_owned(), "telemetry-test".to_owned())));
        assert_eq!(counter(PageCommitted::UPSERTED, "other-connector"), 0);
    }

    #[test]
    fn render_writes_counters_and_histograms_in_the_openmetrics_format() {
        PageCommitted {
            connector: "render-test",
            records: 1,
            upserted: 1,
            unchanged: 0,
            deleted: 0,
            elapsed: Duration::from_millis(40),
        }
        .emit();
        ApiRequestServed { route: "/api/v1/items/{id}", method: "GET", status: 200, elapsed: Duration::from_millis(3) }
            .emit();
        RateLimited {
            connector: "render-test",
            endpoint: "/x",
            retry_after: Some(Duration::from_secs(2)),
            reason: None,
            reset: None,
        }
        .emit();
        IndexLagObserved { lag: 7 }.emit();
        let text = render();
        assert!(text.contains("chorus_sync_pages_total{connector=\"render-test\"}"), "{text}");
        assert!(text.contains("# TYPE chorus_sync_page_duration_seconds histogram"), "{text}");
        assert!(text.contains("chorus_sync_page_duration_seconds_count{connector=\"render-test\"} 1"), "{text}");
        assert!(text.contains("chorus_api_request_duration_seconds_bucket{"), "{text}");
        assert!(text.contains("route=\"/api/v1/items/{id}\""), "{text}");
        assert!(text.contains("chorus_http_rate_limit_wait_seconds_sum{connector=\"render-test\"}"), "{text}");
        assert!(text.contains("chorus_index_lag_changes_now 7"), "{text}");
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    }
}

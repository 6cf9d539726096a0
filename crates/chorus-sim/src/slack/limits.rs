//! Slack's per-method rate limits, as the simulator enforces them.
//!
//! Slack budgets each Web API method separately, per workspace and app, in tiers:
//! Tier 1 allows about 1 request a minute, Tier 2 20, Tier 3 50, Tier 4 100.
//! `conversations.history` and `conversations.replies` are Tier 3 for internal and
//! Marketplace apps, and since 2025 Tier 1 (with pages of at most 15 messages) for
//! other distributed apps (`RateMode::NonMarketplace`). Windows are sliding and
//! measured in real time (`SlackSimConfig::window`). Invariant: a refusal is HTTP 429
//! with `Retry-After` in whole seconds rounded up (so a client that waits it out is
//! not refused again by the same window) and Slack's `{"ok": false, "error":
//! "ratelimited"}` body.

use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{RateMode, State};

/// Requests a window that `method` allows in `mode`.
pub(super) fn budget(method: &str, mode: RateMode) -> usize {
    match (method, mode) {
        ("conversations.history" | "conversations.replies", RateMode::NonMarketplace) => 1,
        ("conversations.history" | "conversations.replies" | "conversations.info", _) => 50,
        ("conversations.list", _) => 20,
        _ => 100,
    }
}

/// The largest (and default) `limit` of a history or replies page in `mode`.
pub(super) fn page_cap(mode: RateMode) -> (usize, usize) {
    match mode {
        RateMode::NonMarketplace => (15, 15),
        RateMode::Internal => (999, 100),
    }
}

/// Counts one request to `method`; `Some(wait)` when it is over the method's budget.
pub(super) fn gate(state: &mut State, method: &'static str) -> Option<Duration> {
    let now = Instant::now();
    let window = state.config.window;
    let limit = budget(method, state.config.mode);
    *state.calls.entry(method).or_default() += 1;
    let hits = state.hits.entry(method).or_default();
    while hits.front().is_some_and(|first| now.duration_since(*first) >= window) {
        hits.pop_front();
    }
    if hits.len() < limit {
        hits.push_back(now);
        return None;
    }
    let wait = hits.front().map_or(window, |first| (*first + window).saturating_duration_since(now));
    *state.rejections.entry(method).or_default() += 1;
    Some(wait)
}

/// Slack's 429.
pub(super) fn too_many(wait: Duration) -> Response {
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let mut response =
        (StatusCode::TOO_MANY_REQUESTS, Json(json!({"ok": false, "error": "ratelimited"}))).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

//! `FeedSim`: the source behind the generic "feed" connector, with its exact wire protocol.
//!
//! `GET /api/items?updated_since=<RFC3339>&page_token=<opaque>&limit=<n>` returns the
//! records with `updated_at >= updated_since` (inclusive), ordered by `(updated_at, id)`
//! and paged by an opaque keyset token; `GET /api/me` names the caller. Timestamps
//! have second granularity and many records share a second, so an exclusive lower
//! bound loses data. Deleted records stay visible as `{"id", "deleted": true,
//! "updated_at"}` stamped with the deletion time. Invariant: every mutation (`edit`,
//! `delete`, `add`) stamps the record with the clock's "now", so an incremental reader
//! that resumes from its last `updated_at` (inclusive) sees every change.

mod data;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::clock::SimClock;
use crate::token::TokenAuthority;

/// Page size when the client sends no `limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page served; larger `limit`s are clamped.
pub const MAX_LIMIT: usize = 500;

/// One feed record as the source stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedRecord {
    pub id: String,
    /// `bug`, `feature_request`, `support_ticket` or `sales_blocker`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub body: String,
    pub status: String,
    pub url: String,
    pub author_email: String,
    pub author_name: String,
    pub account_id: Option<String>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
}

impl FeedRecord {
    fn key(&self) -> (DateTime<Utc>, &str) {
        (self.updated_at, &self.id)
    }

    /// The wire form: the full record, or the tombstone of a deleted one.
    fn to_wire(&self) -> serde_json::Value {
        if self.deleted {
            return serde_json::json!({"id": self.id, "deleted": true, "updated_at": self.updated_at});
        }
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Debug)]
struct FeedState {
    records: HashMap<String, FeedRecord>,
    next_number: u64,
    rng: StdRng,
    duplicates_across_pages: bool,
}

/// The feed simulator: data, mutations and the router. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FeedSim {
    inner: Arc<Mutex<FeedState>>,
    clock: SimClock,
    auth: Option<TokenAuthority>,
}

impl FeedSim {
    /// `n` realistic records from `seed`, on the system clock, open (no auth).
    pub fn seeded(seed: u64, n: u64) -> Self {
        Self::seeded_with_clock(seed, n, SimClock::system())
    }

    /// `n` records from `seed`, all updated within the 90 days before `clock.now()`.
    pub fn seeded_with_clock(seed: u64, n: u64, clock: SimClock) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let records = data::records(&mut rng, n, clock.now() - chrono::TimeDelta::hours(1));
        let records = records.into_iter().map(|r| (r.id.clone(), r)).collect();
        let state = FeedState { records, next_number: n + 1, rng, duplicates_across_pages: false };
        Self { inner: Arc::new(Mutex::new(state)), clock, auth: None }
    }

    /// Requires bearer tokens from `authority` on `/api/*` and serves its `/oauth/token`.
    pub fn with_auth(mut self, authority: TokenAuthority) -> Self {
        self.auth = Some(authority);
        self
    }

    /// The clock that stamps mutations; move it to place edits exactly.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, FeedState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fault: the first record of each page after the first repeats the last record
    /// of the previous page.
    pub fn set_duplicates_across_pages(&self, on: bool) {
        self.lock().duplicates_across_pages = on;
    }

    /// The router: `/api/items`, `/api/me`, and `/oauth/token` when authenticated.
    pub fn router(&self) -> Router {
        let api = Router::new().route("/api/items", get(items)).route("/api/me", get(me)).with_state(self.clone());
        match &self.auth {
            Some(authority) => authority.protect(api).merge(authority.router()),
            None => api,
        }
    }

    /// Edits a live record and stamps it now; `None` if it does not exist or is deleted.
    pub fn edit(&self, id: &str, change: impl FnOnce(&mut FeedRecord)) -> Option<FeedRecord> {
        let now = self.clock.now();
        let mut state = self.lock();
        let record = state.records.get_mut(id).filter(|r| !r.deleted)?;
        change(record);
        record.id = id.to_owned();
        record.deleted = false;
        record.updated_at = now;
        Some(record.clone())
    }

    /// Deletes a live record (it becomes a tombstone stamped now); `false` if none.
    pub fn delete(&self, id: &str) -> bool {
        let now = self.clock.now();
        let mut state = self.lock();
        match state.records.get_mut(id).filter(|r| !r.deleted) {
            Some(record) => {
                record.deleted = true;
                record.updated_at = now;
                true
            }
            None => false,
        }
    }

    /// Adds a generated record (then `fill` adjusts it), created and updated now.
    pub fn add(&self, fill: impl FnOnce(&mut FeedRecord)) -> FeedRecord {
        let now = self.clock.now();
        let mut state = self.lock();
        let number = state.next_number;
        state.next_number += 1;
        let mut record = data::record(&mut state.rng, number, now);
        fill(&mut record);
        record.id = format!("FB-{number}");
        record.created_at = now;
        record.updated_at = now;
        record.deleted = false;
        state.records.insert(record.id.clone(), record.clone());
        record
    }

    /// One record, deleted or not.
    pub fn record(&self, id: &str) -> Option<FeedRecord> {
        self.lock().records.get(id).cloned()
    }

    /// The live records, ordered by `(updated_at, id)`: what a synced store must equal.
    pub fn truth(&self) -> Vec<FeedRecord> {
        let mut live: Vec<FeedRecord> = self.lock().records.values().filter(|r| !r.deleted).cloned().collect();
        live.sort_by(|a, b| a.key().cmp(&b.key()));
        live
    }

    fn page(&self, query: &ItemsQuery) -> Result<serde_json::Value, String> {
        let since = match query.updated_since.as_deref() {
            Some(raw) => Some(
                DateTime::parse_from_rfc3339(raw)
                    .map_err(|_| format!("updated_since must be RFC 3339, got `{raw}`"))?
                    .to_utc(),
            ),
            None => None,
        };
        let after = query.page_token.as_deref().map(decode_token).transpose()?;
        let limit = match query.limit.as_deref() {
            Some(raw) => raw.parse::<usize>().map_err(|_| format!("limit must be a positive integer, got `{raw}`"))?,
            None => DEFAULT_LIMIT,
        }
        .clamp(1, MAX_LIMIT);

        let state = self.lock();
        let mut matching: Vec<&FeedRecord> =
            state.records.values().filter(|r| since.is_none_or(|since| r.updated_at >= since)).collect();
        matching.sort_by(|a, b| a.key().cmp(&b.key()));
        let start = match &after {
            Some((at, id)) => matching.partition_point(|r| r.key() <= (*at, id.as_str())),
            None => 0,
        };
        let duplicate = match (&after, state.duplicates_across_pages) {
            (Some((_, id)), true) => state.records.get(id).filter(|r| since.is_none_or(|s| r.updated_at >= s)),
            _ => None,
        };
        let fresh = if duplicate.is_some() { (limit - 1).max(1) } else { limit };
        let end = (start + fresh).min(matching.len());
        let new_records = matching.get(start..end).unwrap_or_default();
        let next_page_token = match new_records.last() {
            Some(last) if end < matching.len() => Some(encode_token(last.updated_at, &last.id)),
            _ => None,
        };
        let items: Vec<serde_json::Value> =
            duplicate.into_iter().chain(new_records.iter().copied()).map(FeedRecord::to_wire).collect();
        Ok(serde_json::json!({ "items": items, "next_page_token": next_page_token }))
    }
}

#[derive(Debug, Deserialize)]
struct ItemsQuery {
    updated_since: Option<String>,
    page_token: Option<String>,
    limit: Option<String>,
}

async fn items(State(feed): State<FeedSim>, Query(query): Query<ItemsQuery>) -> Response {
    match feed.page(&query) {
        Ok(body) => Json(body).into_response(),
        Err(message) => (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "error": message }))).into_response(),
    }
}

async fn me() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "name": "Feed Simulator" }))
}

fn encode_token(at: DateTime<Utc>, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}|{id}", at.timestamp()))
}

fn decode_token(token: &str) -> Result<(DateTime<Utc>, String), String> {
    let invalid = || "invalid page_token".to_owned();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let (secs, id) = raw.split_once('|').ok_or_else(invalid)?;
    let secs = secs.parse::<i64>().map_err(|_| invalid())?;
    let at = DateTime::from_timestamp(secs, 0).ok_or_else(invalid)?;
    Ok((at, id.to_owned()))
}

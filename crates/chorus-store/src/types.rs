//! Values that cross the `Store` interface: claims, pages, runs, filters, changes.

use chorus_core::{LifecycleStage, Record};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which database backs the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Who asks for a run claim: this host and process, plus a random nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Unique per claimant, e.g. `host:pid:nonce`.
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// How long the claim lives without a heartbeat.
    pub ttl: Duration,
}

/// A held claim on one connector: the right to run it and move its cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunClaim {
    pub run_id: i64,
    pub connector: String,
    pub holder_id: String,
}

/// The connector's cursor as committed: versioned JSON, `None` before the first page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredCursor {
    pub value: Option<serde_json::Value>,
    /// Incremented by every commit; used for optimistic concurrency.
    pub version: i64,
}

/// One page to commit atomically.
#[derive(Debug, Clone)]
pub struct PageCommit {
    pub connector: String,
    pub source: chorus_core::Source,
    pub records: Vec<Record>,
    /// The cursor after this page (versioned JSON).
    pub cursor: serde_json::Value,
    /// The cursor version the run read; the commit fails if it changed since.
    pub expected_version: i64,
}

/// What a page commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PageOutcome {
    /// Records inserted or changed.
    pub upserted: u64,
    /// Records identical to what was stored (duplicates, overlap windows).
    pub unchanged: u64,
    /// Tombstones written.
    pub deleted: u64,
    /// The cursor version now stored.
    pub cursor_version: i64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    #[default]
    Running,
    Succeeded,
    Failed,
    /// The source's rate limit (an hourly or daily quota) asked for a longer wait than
    /// a run can afford: the run stopped at its last committed page and the next run
    /// resumes there. Not a failure.
    RateLimited,
    /// The process died or lost its claim; found and closed by a later claimant.
    Abandoned,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::RateLimited => "rate_limited",
            Self::Abandoned => "abandoned",
        }
    }

    /// The status an `as_str` spelling names.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Running, Self::Succeeded, Self::Failed, Self::RateLimited, Self::Abandoned]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// Most unmapped records a run names in its history (all are counted).
pub const UNMAPPED_EXAMPLES_MAX: usize = 20;

/// Totals and error of a finished run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub pages: u64,
    pub upserted: u64,
    pub unchanged: u64,
    pub deleted: u64,
    /// Records read but not mapped (see `unmapped_examples`).
    pub unmapped: u64,
    /// `external id: reason` of the first `UNMAPPED_EXAMPLES_MAX` unmapped records.
    pub unmapped_examples: Vec<String>,
    /// A one-line, secret-free reason when the run failed or was rate-limited.
    pub error: Option<String>,
}

/// One entry of the run history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRun {
    pub id: i64,
    pub connector: String,
    pub holder: String,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub pages: u64,
    pub upserted: u64,
    pub unchanged: u64,
    pub deleted: u64,
    #[serde(default)]
    pub unmapped: u64,
    #[serde(default)]
    pub unmapped_examples: Vec<String>,
    pub error: Option<String>,
}

/// Keyset pagination by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdPage {
    pub after_id: i64,
    pub limit: u32,
}

impl IdPage {
    pub fn first(limit: u32) -> Self {
        Self { after_id: 0, limit }
    }
}

/// Which items `Store::items` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemFilter {
    pub connector: Option<String>,
    pub include_deleted: bool,
    pub raw: Raw,
}

/// Whether a read returns items' raw source payloads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Raw {
    #[default]
    Include,
    /// Leave `raw` as JSON `null` instead of reading and decoding the source payload
    /// (the search index never uses it, and it is the largest column by far).
    Omit,
}

/// What changed, in the change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeEntity {
    Item,
    Account,
    Contact,
    Request,
}

impl ChangeEntity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Item => "item",
            Self::Account => "account",
            Self::Contact => "contact",
            Self::Request => "request",
        }
    }

    /// The entity an `as_str` spelling names.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Item, Self::Account, Self::Contact, Self::Request].into_iter().find(|entity| entity.as_str() == text)
    }
}

/// One change-log entry: entity `entity_id` changed (or was deleted) at `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub seq: i64,
    pub entity: ChangeEntity,
    pub entity_id: i64,
    pub deleted: bool,
}

/// Store-wide counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub items: u64,
    pub tombstones: u64,
    pub accounts: u64,
    pub contacts: u64,
    pub requests: u64,
    pub last_change: i64,
}

/// An account as `chorus import accounts` reads it (JSON Lines, the export's shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountImport {
    /// Ignored on import (ids are the store's); accepted so an export can be re-imported.
    #[serde(default)]
    pub id: Option<i64>,
    pub name: String,
    #[serde(default)]
    pub domains: Vec<String>,
    /// `None` keeps the stored ARR (a new account gets 0).
    #[serde(default)]
    pub arr_minor: Option<i64>,
    /// `None` keeps the stored currency (a new account gets USD).
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub segment: Option<String>,
    /// A stage name in any case (`Retention`); another value is refused.
    #[serde(default, deserialize_with = "chorus_core::lifecycle::deserialize_label")]
    pub lifecycle_stage: Option<LifecycleStage>,
    #[serde(default)]
    pub csm_owner: Option<String>,
    #[serde(default)]
    pub renewal_date: Option<NaiveDate>,
    #[serde(default)]
    pub external_ids: Vec<chorus_core::ExternalId>,
    #[serde(default)]
    pub parent_id: Option<i64>,
    /// The plan the account is on (upsell signals); `None` keeps the stored one.
    #[serde(default)]
    pub plan: Option<String>,
    /// Ignored on import, like `id`: an export (live accounts only) always says `null`.
    #[serde(default)]
    pub merged_into: Option<i64>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A request to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRequest {
    pub title: String,
    pub description: String,
    pub anchor_item_id: Option<i64>,
}

/// A stored sales opportunity, with the account its source id resolves to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Opportunity {
    pub id: i64,
    pub connector: String,
    pub external_id: String,
    /// The account `account_external_id` maps to now (`None` when not synced yet).
    pub account_id: Option<i64>,
    pub account_external_id: Option<String>,
    pub name: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub stage: String,
    /// Percent, 0–100.
    pub probability: Option<f64>,
    pub close_date: Option<NaiveDate>,
    pub closed: bool,
    pub won: bool,
    pub blocker_external_id: Option<String>,
    /// When the source last changed it.
    pub source_updated_at: DateTime<Utc>,
}

/// An account's open pipeline in one currency: open opportunities, their amounts, and
/// their amounts weighted by probability (all in minor units).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pipeline {
    pub currency: String,
    pub open: u64,
    pub amount_minor: i64,
    pub weighted_minor: i64,
}

impl Pipeline {
    /// Sums the open (not closed) opportunities among `opportunities`, one total per
    /// currency, in currency order. An opportunity without an amount counts as open
    /// with amount 0; one without a currency is counted under `""`.
    pub fn of(opportunities: &[Opportunity]) -> Vec<Pipeline> {
        let mut totals: std::collections::BTreeMap<String, Pipeline> = std::collections::BTreeMap::new();
        for opportunity in opportunities.iter().filter(|o| !o.closed) {
            let currency = opportunity.currency.clone().unwrap_or_default();
            let total = totals.entry(currency.clone()).or_insert_with(|| Pipeline { currency, ..Pipeline::default() });
            let amount = opportunity.amount_minor.unwrap_or(0);
            let share = opportunity.probability.unwrap_or(0.0).clamp(0.0, 100.0) / 100.0;
            total.open += 1;
            total.amount_minor = total.amount_minor.saturating_add(amount);
            // In range: |amount × share| ≤ |amount|, which is an i64.
            #[allow(clippy::cast_possible_truncation)]
            let weighted = (amount as f64 * share).round() as i64;
            total.weighted_minor = total.weighted_minor.saturating_add(weighted);
        }
        totals.into_values().collect()
    }
}

/// One item linked to a request, as `chorus requests show` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestLink {
    pub item_id: i64,
    pub request_id: i64,
    pub provenance: chorus_core::LinkProvenance,
    pub linked_at: DateTime<Utc>,
    /// The item's account's ARR when the link was made (`None`: no account then).
    pub arr_at_ask: Option<chorus_core::Money>,
}

/// What merging one request into another did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MergeOutcome {
    /// Links moved to the surviving request (an item linked to both counts once).
    pub moved_links: u64,
    /// Rejected suggestions carried over.
    pub moved_rejections: u64,
}

/// Everything `PriorityModel` ranks from: every account's facts, every live opportunity,
/// and every live request's per-account demand.
#[derive(Debug, Clone, Default)]
pub struct PriorityInputs {
    pub accounts: Vec<chorus_core::priority::AccountFacts>,
    pub opportunities: Vec<chorus_core::priority::Opportunity>,
    /// In the packed form they are stored in (`PackedDemand::unpack` for the plain one).
    pub demands: Vec<chorus_core::priority::PackedDemand>,
}

//! What a score says: its totals and counts (`Ranked`) and, for a request a person
//! looks at, the breakdown per account and per opportunity (`Score`) that produced it.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Kind;

/// How an account's ARR moved since its newest ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArrChange {
    /// Paying when it asked, nothing now.
    Churned,
    Shrunk,
    Unchanged,
    Grew,
    /// No ARR was recorded with the ask.
    Unknown,
}

impl ArrChange {
    pub(super) fn between(at_ask: Option<i64>, now: i64) -> Self {
        match at_ask {
            None => Self::Unknown,
            Some(then) if then > 0 && now <= 0 => Self::Churned,
            Some(then) if now < then => Self::Shrunk,
            Some(then) if now > then => Self::Grew,
            Some(_) => Self::Unchanged,
        }
    }
}

/// An account whose asks were counted (itself, or a child rolled up into its parent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemberAsks {
    pub account_id: i64,
    pub items: u32,
    pub people: u32,
    /// Its own ARR now, reporting currency minor units.
    pub arr_minor: i64,
    /// Its ARR on its newest ask, reporting currency minor units.
    pub arr_at_ask_minor: Option<i64>,
    pub arr_change: ArrChange,
}

/// One counted account of a score, factor by factor: `contribution` is their product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccountFactor {
    /// The account counted: the top-most parent when asks roll up.
    pub account_id: i64,
    /// The accounts whose asks it counts (itself and any rolled-up children).
    pub members: Vec<MemberAsks>,
    /// ARR counted (the family's sum under roll-up), reporting currency minor units.
    pub arr_minor: i64,
    /// The kind that set the weight: the heaviest the account asked with.
    pub kind: Kind,
    pub kind_weight: f64,
    pub newest_ask: DateTime<Utc>,
    pub age_days: f64,
    pub recency: f64,
    pub segment: Option<String>,
    pub segment_weight: f64,
    /// The renewal that counted (the family's soonest upcoming one under roll-up).
    pub renewal_date: Option<NaiveDate>,
    pub renewal_in_days: Option<i64>,
    pub renewal_boost: f64,
    pub items: u32,
    pub people: u32,
    /// `arr_minor × kind_weight × recency × segment_weight × renewal_boost`.
    pub contribution: f64,
}

/// One open opportunity a request's sales blockers hold up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PipelineFactor {
    pub opportunity_id: i64,
    pub account_id: i64,
    /// Reporting currency minor units.
    pub amount_minor: i64,
    pub probability: f64,
    pub weight: f64,
    /// `amount_minor × probability × weight`.
    pub contribution: f64,
}

/// How much stands behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    pub items: u32,
    pub people: u32,
    /// Accounts counted (a rolled-up family once).
    pub accounts: u32,
    pub opportunities: u32,
}

/// A request's score with the breakdown that produced it. Amounts and the score are in
/// minor units of the reporting currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Score {
    pub request_id: i64,
    pub score: f64,
    pub accounts_total: f64,
    pub pipeline_total: f64,
    pub counts: Counts,
    /// Largest contribution first.
    pub accounts: Vec<AccountFactor>,
    /// Largest contribution first.
    pub pipeline: Vec<PipelineFactor>,
}

/// A request's place in the ranking: its score and counts, without the breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ranked {
    pub request_id: i64,
    pub score: f64,
    pub accounts_total: f64,
    pub pipeline_total: f64,
    pub counts: Counts,
}

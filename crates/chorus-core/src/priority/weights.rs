//! `PriorityWeights`: the `[priority]` table, every weight of the score with its default.
//!
//! Weights are plain numbers, validated once (finite, not negative, a positive
//! half-life) before any score is computed.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Kind;

/// `[priority]`: the weights of the score. Every default is documented in
/// `docs/configuration.md` and explained in `docs/prioritization.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityWeights {
    /// Weight of an account's ask by its kind; an account that asked with several kinds
    /// takes the largest.
    #[serde(default)]
    pub kind: KindWeights,
    /// Days after which an account's newest ask counts half (then a quarter after twice
    /// as long, and so on). Default 90.
    #[serde(default = "default_half_life")]
    pub recency_half_life_days: f64,
    /// Weight per account segment (compared without case), e.g. `enterprise = 1.2`.
    #[serde(default)]
    pub segments: BTreeMap<String, f64>,
    /// Weight of an account whose segment is not listed, or that has none. Default 1.
    #[serde(default = "one")]
    pub default_segment_weight: f64,
    /// An account renewing within this many days gets `renewal_boost`. Default 90.
    #[serde(default = "default_renewal_window")]
    pub renewal_window_days: u32,
    /// Factor for an account renewing within `renewal_window_days`. Default 1.5.
    #[serde(default = "default_renewal_boost")]
    pub renewal_boost: f64,
    /// Factor on open pipeline blocked (amount × probability). Default 1.
    #[serde(default = "one")]
    pub pipeline_weight: f64,
    /// Count a child account's asks for its top-most parent (the family once, with the
    /// sum of its accounts' ARR). Default true.
    #[serde(default = "yes")]
    pub parent_rollup: bool,
}

/// Weight of an ask by the kind of the item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KindWeights {
    /// Default 1.
    #[serde(default = "one")]
    pub bug: f64,
    /// Default 1.
    #[serde(default = "one")]
    pub feature_request: f64,
    /// Default 0.5: a ticket often asks how, not for a change.
    #[serde(default = "half")]
    pub support_ticket: f64,
    /// Default 1 (its opportunity's pipeline is added on top).
    #[serde(default = "one")]
    pub sales_blocker: f64,
}

fn one() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}
fn yes() -> bool {
    true
}
fn default_half_life() -> f64 {
    90.0
}
fn default_renewal_window() -> u32 {
    90
}
fn default_renewal_boost() -> f64 {
    1.5
}

impl Default for KindWeights {
    fn default() -> Self {
        Self { bug: one(), feature_request: one(), support_ticket: half(), sales_blocker: one() }
    }
}

impl KindWeights {
    pub fn get(&self, kind: Kind) -> f64 {
        match kind {
            Kind::Bug => self.bug,
            Kind::FeatureRequest => self.feature_request,
            Kind::SupportTicket => self.support_ticket,
            Kind::SalesBlocker => self.sales_blocker,
        }
    }
}

impl Default for PriorityWeights {
    fn default() -> Self {
        Self {
            kind: KindWeights::default(),
            recency_half_life_days: default_half_life(),
            segments: BTreeMap::new(),
            default_segment_weight: one(),
            renewal_window_days: default_renewal_window(),
            renewal_boost: default_renewal_boost(),
            pipeline_weight: one(),
            parent_rollup: yes(),
        }
    }
}

impl PriorityWeights {
    /// Every weight finite and not negative, the half-life positive; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        let mut weights = vec![
            ("kind.bug".to_owned(), self.kind.bug),
            ("kind.feature_request".to_owned(), self.kind.feature_request),
            ("kind.support_ticket".to_owned(), self.kind.support_ticket),
            ("kind.sales_blocker".to_owned(), self.kind.sales_blocker),
            ("default_segment_weight".to_owned(), self.default_segment_weight),
            ("renewal_boost".to_owned(), self.renewal_boost),
            ("pipeline_weight".to_owned(), self.pipeline_weight),
        ];
        weights.extend(self.segments.iter().map(|(segment, w)| (format!("segments.{segment}"), *w)));
        if let Some((key, _)) = weights.iter().find(|(_, w)| !w.is_finite() || *w < 0.0) {
            return Err(format!("{key}: must be a finite number, zero or more"));
        }
        if !(self.recency_half_life_days.is_finite() && self.recency_half_life_days > 0.0) {
            return Err("recency_half_life_days: must be greater than zero".into());
        }
        Ok(())
    }

    pub(super) fn segment_weight(&self, segment: Option<&str>) -> f64 {
        let Some(segment) = segment else { return self.default_segment_weight };
        self.segments
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(segment.trim()))
            .map_or(self.default_segment_weight, |(_, w)| *w)
    }
}

//! Account health: what one account's feedback says about it, and the risks it shows.
//!
//! From plain inputs (the account's items, its open opportunities, its plan and renewal)
//! `account_health` computes items by kind and status over time, open bugs, open
//! blockers with the pipeline they hold up, CSAT, the ticket-volume trend, the requests
//! the account waits on, risk flags each with its reason, and upsell signals. Every
//! threshold comes from `[health]` (`HealthThresholds`). One pass over the items; no I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rustc_hash::FxHashSet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::money::{ExchangeRates, MoneyError};
use crate::priority::Opportunity;
use crate::Kind;

/// `[health]`: when an account is flagged, and what each plan includes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthThresholds {
    /// A renewal this close (days) with open sales blockers is a risk. Default 90.
    #[serde(default = "default_90")]
    pub renewal_risk_days: u32,
    /// Bug volume is compared over two windows of this many days. Default 30.
    #[serde(default = "default_30")]
    pub bug_window_days: u32,
    /// Bugs of the last window at least this many times those of the one before. Default 2.
    #[serde(default = "default_ratio")]
    pub bug_spike_ratio: f64,
    /// Fewest bugs in the last window for a spike (so 0 → 1 is no alarm). Default 3.
    #[serde(default = "default_3")]
    pub bug_spike_min: u32,
    /// Average CSAT (0 to 1) below this is a risk. Default 0.7.
    #[serde(default = "default_csat")]
    pub csat_threshold: f64,
    /// CSAT averages the ratings of items made in this many days. Default 90.
    #[serde(default = "default_90")]
    pub csat_window_days: u32,
    /// Fewest ratings for the CSAT flag. Default 3.
    #[serde(default = "default_3")]
    pub csat_min_ratings: u32,
    /// Support-ticket volume is compared over two windows of this many days. Default 30.
    #[serde(default = "default_30")]
    pub trend_window_days: u32,
    /// Length of a period of the history, days. Default 30.
    #[serde(default = "default_30")]
    pub period_days: u32,
    /// Periods of history, the last ending now. Default 6.
    #[serde(default = "default_6")]
    pub periods: u32,
    /// Plans from lowest to highest; each includes the capabilities of those below it.
    #[serde(default)]
    pub plans: Vec<Plan>,
}

/// A plan and the capabilities it adds (compared without case).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub name: String,
    #[serde(default)]
    pub capabilities: Vec<String>,
}

fn default_90() -> u32 {
    90
}
fn default_30() -> u32 {
    30
}
fn default_6() -> u32 {
    6
}
fn default_3() -> u32 {
    3
}
fn default_ratio() -> f64 {
    2.0
}
fn default_csat() -> f64 {
    0.7
}

impl Default for HealthThresholds {
    fn default() -> Self {
        Self {
            renewal_risk_days: default_90(),
            bug_window_days: default_30(),
            bug_spike_ratio: default_ratio(),
            bug_spike_min: default_3(),
            csat_threshold: default_csat(),
            csat_window_days: default_90(),
            csat_min_ratings: default_3(),
            trend_window_days: default_30(),
            period_days: default_30(),
            periods: default_6(),
            plans: Vec::new(),
        }
    }
}

/// The longest window or period, in days (a century): longer ones would reach past the
/// dates the calendar can hold.
const MAX_WINDOW_DAYS: u32 = 36_525;
/// The most periods of history.
const MAX_PERIODS: u32 = 120;

impl HealthThresholds {
    /// Checks what the types cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        let days = [
            ("bug_window_days", self.bug_window_days),
            ("csat_window_days", self.csat_window_days),
            ("trend_window_days", self.trend_window_days),
            ("period_days", self.period_days),
        ];
        if let Some((key, _)) = days.iter().find(|(_, d)| !(1..=MAX_WINDOW_DAYS).contains(d)) {
            return Err(format!("{key}: must be between 1 and {MAX_WINDOW_DAYS} days"));
        }
        if !(1..=MAX_PERIODS).contains(&self.periods) {
            return Err(format!("periods: must be between 1 and {MAX_PERIODS}"));
        }
        if !(self.bug_spike_ratio.is_finite() && self.bug_spike_ratio > 0.0) {
            return Err("bug_spike_ratio: must be greater than zero".into());
        }
        if !(0.0..=1.0).contains(&self.csat_threshold) {
            return Err("csat_threshold: must be between 0 and 1".into());
        }
        let mut names = BTreeSet::new();
        for (n, plan) in self.plans.iter().enumerate() {
            if plan.name.trim().is_empty() || !names.insert(plan.name.trim().to_ascii_lowercase()) {
                return Err(format!("plans[{n}].name: must be present and unique"));
            }
        }
        Ok(())
    }
}

/// Statuses, across the sources, that mean an item needs nothing more (compared without
/// case): Zendesk `solved`/`closed`, Jira's done category, Salesforce `Closed`, ...
const DONE_STATUSES: &[&str] = &[
    "cancelled",
    "canceled",
    "closed",
    "complete",
    "completed",
    "declined",
    "deleted",
    "done",
    "duplicate",
    "fixed",
    "rejected",
    "released",
    "resolved",
    "shipped",
    "solved",
    "won't do",
    "won't fix",
    "wontfix",
];

/// Whether an item's source status leaves it open (anything not known to be done).
pub fn is_open_status(status: &str) -> bool {
    let status = status.trim().to_ascii_lowercase();
    !DONE_STATUSES.contains(&status.as_str()) && !status.starts_with("closed")
}

/// One item of the account, as health needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthItem {
    pub kind: Kind,
    /// Not yet solved, done or closed at the source.
    pub open: bool,
    pub created_at: DateTime<Utc>,
    /// Satisfaction rating in `[0, 1]`, if rated.
    pub csat: Option<f64>,
    /// For a sales blocker: the opportunity it holds up, if the source names one.
    pub opportunity_id: Option<i64>,
    /// Requests this item links to that are neither shipped nor declined.
    pub open_request_ids: Vec<i64>,
    /// What the item asks for, as capability names (its tags, its requests' names).
    pub capabilities: Vec<String>,
}

/// What `account_health` reads about one account.
#[derive(Debug, Clone, Copy)]
pub struct HealthInput<'a> {
    pub account_id: i64,
    pub plan: Option<&'a str>,
    pub renewal_date: Option<NaiveDate>,
    pub items: &'a [HealthItem],
    /// The account's opportunities (closed ones are ignored).
    pub opportunities: &'a [Opportunity],
    pub now: DateTime<Utc>,
}

/// Items of one kind made in a period, by their status now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KindCount {
    pub kind: Kind,
    pub open: u32,
    pub closed: u32,
}

/// One period of the history: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// One entry per kind, in `Kind::ALL` order.
    pub kinds: Vec<KindCount>,
}

/// Counts of two consecutive windows, the last ending now.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Trend {
    pub recent: u32,
    pub previous: u32,
    /// `None` when the previous window had none.
    pub change_percent: Option<f64>,
}

impl Trend {
    fn new(recent: u32, previous: u32) -> Self {
        let change_percent =
            (previous > 0).then(|| (f64::from(recent) - f64::from(previous)) / f64::from(previous) * 100.0);
        Self { recent, previous, change_percent }
    }
}

/// Average satisfaction over a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Csat {
    pub average: f64,
    pub ratings: u32,
}

/// Why an account is at risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskKind {
    RenewalWithOpenBlockers,
    BugVolumeDoubled,
    LowCsat,
}

/// A risk flag and the reason, in words a CSM can act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Risk {
    pub kind: RiskKind,
    pub reason: String,
}

/// The account asks for a capability that a higher plan than its own has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Upsell {
    pub capability: String,
    /// The lowest plan above the account's that has it.
    pub plan: String,
    /// Items that asked for it.
    pub items: u32,
}

/// One account's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    pub account_id: i64,
    /// Oldest first.
    pub history: Vec<Period>,
    pub open_bugs: u32,
    pub open_blockers: u32,
    /// Open opportunities the open blockers hold up, each once, reporting currency minor units.
    pub blocked_pipeline_minor: i64,
    pub csat: Option<Csat>,
    pub bugs: Trend,
    pub tickets: Trend,
    /// Open requests the account's items link to, ascending.
    pub waiting_on: Vec<i64>,
    pub risks: Vec<Risk>,
    pub upsell: Vec<Upsell>,
}

/// Computes an account's health; fails only when an opportunity's currency has no rate.
pub fn account_health(
    input: &HealthInput<'_>,
    thresholds: &HealthThresholds,
    rates: &ExchangeRates,
) -> Result<Health, MoneyError> {
    let now = input.now;
    // Unvalidated thresholds must neither divide by zero nor reach past the calendar:
    // a window is one day to a century.
    let days = |n: u32| Duration::days(i64::from(n.clamp(1, MAX_WINDOW_DAYS)));
    let period = days(thresholds.period_days);
    let periods = thresholds.periods.min(MAX_PERIODS);
    let history_start = now - period * periods as i32;
    let mut history: Vec<Period> = (0..periods)
        .map(|n| {
            let start = history_start + period * n as i32;
            let kinds = Kind::ALL.iter().map(|kind| KindCount { kind: *kind, open: 0, closed: 0 }).collect();
            Period { start, end: start + period, kinds }
        })
        .collect();
    // 0 for the window ending now (a future time included), 1 for the one before, ...
    let windows_back = |at: DateTime<Utc>, window: Duration| (now - at).num_seconds().max(0) / window.num_seconds();

    let (mut open_bugs, mut open_blockers) = (0, 0);
    let (mut bugs_recent, mut bugs_previous, mut tickets_recent, mut tickets_previous) = (0, 0, 0, 0);
    let (mut csat_sum, mut csat_ratings) = (0.0, 0_u32);
    let mut named_opportunities: FxHashSet<i64> = FxHashSet::default();
    let mut blocks_account_pipeline = false;
    let mut waiting_on = BTreeSet::new();
    let mut asked: BTreeMap<String, u32> = BTreeMap::new();
    for item in input.items {
        if item.created_at >= history_start {
            let n = ((item.created_at - history_start).num_seconds() / period.num_seconds()) as usize;
            let last = history.len().saturating_sub(1);
            if let Some(slot) = history.get_mut(n.min(last)) {
                let count = &mut slot.kinds[item.kind as usize];
                if item.open {
                    count.open += 1;
                } else {
                    count.closed += 1;
                }
            }
        }
        match item.kind {
            Kind::Bug => {
                open_bugs += u32::from(item.open);
                match windows_back(item.created_at, days(thresholds.bug_window_days)) {
                    0 => bugs_recent += 1,
                    1 => bugs_previous += 1,
                    _ => {}
                }
            }
            Kind::SupportTicket => match windows_back(item.created_at, days(thresholds.trend_window_days)) {
                0 => tickets_recent += 1,
                1 => tickets_previous += 1,
                _ => {}
            },
            Kind::SalesBlocker if item.open => {
                open_blockers += 1;
                match item.opportunity_id {
                    Some(id) => {
                        named_opportunities.insert(id);
                    }
                    None => blocks_account_pipeline = true,
                }
            }
            _ => {}
        }
        if let Some(rating) = item.csat.filter(|r| (0.0..=1.0).contains(r)) {
            if item.created_at >= now - days(thresholds.csat_window_days) {
                csat_sum += rating;
                csat_ratings += 1;
            }
        }
        waiting_on.extend(item.open_request_ids.iter().copied());
        let mut seen_here = BTreeSet::new();
        for capability in &item.capabilities {
            let capability = capability.trim().to_ascii_lowercase();
            if !capability.is_empty() && seen_here.insert(capability.clone()) {
                *asked.entry(capability).or_default() += 1;
            }
        }
    }

    let mut blocked_pipeline_minor: i64 = 0;
    for opportunity in input.opportunities {
        if opportunity.open && (blocks_account_pipeline || named_opportunities.contains(&opportunity.id)) {
            let amount = rates.to_reporting(opportunity.amount)?;
            blocked_pipeline_minor = blocked_pipeline_minor.saturating_add(amount);
        }
    }

    let csat = (csat_ratings > 0).then(|| Csat { average: csat_sum / f64::from(csat_ratings), ratings: csat_ratings });
    let bugs = Trend::new(bugs_recent, bugs_previous);
    let mut risks = Vec::new();
    if let Some(renewal) = input.renewal_date {
        let in_days = (renewal - now.date_naive()).num_days();
        if open_blockers > 0 && (0..=i64::from(thresholds.renewal_risk_days)).contains(&in_days) {
            risks.push(Risk {
                kind: RiskKind::RenewalWithOpenBlockers,
                reason: format!("renews on {renewal} (in {in_days} days) with {open_blockers} open sales blocker(s)"),
            });
        }
    }
    if bugs.recent >= thresholds.bug_spike_min
        && f64::from(bugs.recent) >= thresholds.bug_spike_ratio * f64::from(bugs.previous)
    {
        risks.push(Risk {
            kind: RiskKind::BugVolumeDoubled,
            reason: format!(
                "{} bugs in the last {} days, {} in the {} days before",
                bugs.recent, thresholds.bug_window_days, bugs.previous, thresholds.bug_window_days
            ),
        });
    }
    if let Some(csat) =
        csat.filter(|c| c.ratings >= thresholds.csat_min_ratings && c.average < thresholds.csat_threshold)
    {
        risks.push(Risk {
            kind: RiskKind::LowCsat,
            reason: format!(
                "CSAT {:.2} over {} rating(s) in {} days, below {:.2}",
                csat.average, csat.ratings, thresholds.csat_window_days, thresholds.csat_threshold
            ),
        });
    }

    Ok(Health {
        account_id: input.account_id,
        history,
        open_bugs,
        open_blockers,
        blocked_pipeline_minor,
        csat,
        bugs,
        tickets: Trend::new(tickets_recent, tickets_previous),
        waiting_on: waiting_on.into_iter().collect(),
        risks,
        upsell: upsell(input.plan, &thresholds.plans, &asked),
    })
}

/// Capabilities asked for that the account's plan lacks and a higher plan has.
fn upsell(plan: Option<&str>, plans: &[Plan], asked: &BTreeMap<String, u32>) -> Vec<Upsell> {
    let Some(own) = plan.and_then(|p| plans.iter().position(|plan| plan.name.trim().eq_ignore_ascii_case(p.trim())))
    else {
        return Vec::new();
    };
    let has =
        |plan: &Plan, capability: &str| plan.capabilities.iter().any(|c| c.trim().eq_ignore_ascii_case(capability));
    asked
        .iter()
        .filter(|(capability, _)| !plans[..=own].iter().any(|plan| has(plan, capability)))
        .filter_map(|(capability, items)| {
            let higher = plans[own + 1..].iter().find(|plan| has(plan, capability))?;
            Some(Upsell { capability: capability.clone(), plan: higher.name.clone(), items: *items })
        })
        .collect()
}

#[cfg(test)]
mod tests;

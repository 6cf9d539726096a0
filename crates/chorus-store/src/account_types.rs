//! Values of the account graph that cross the `Store` interface: an account with where
//! it came from, the triage queue, and what account health reads.

use chorus_core::health::HealthItem;
use chorus_core::{Account, Kind, Source};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Opportunity;

/// One source record of an account, by its key in the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordKey {
    pub connector: String,
    pub external_id: String,
}

impl RecordKey {
    /// Reads `CONNECTOR:EXTERNAL_ID` (the external id may hold further colons).
    pub fn parse(text: &str) -> Option<Self> {
        let (connector, external_id) = text.split_once(':')?;
        let (connector, external_id) = (connector.trim(), external_id.trim());
        (!connector.is_empty() && !external_id.is_empty())
            .then(|| Self { connector: connector.to_owned(), external_id: external_id.to_owned() })
    }
}

impl std::fmt::Display for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.connector, self.external_id)
    }
}

/// How a source record came to belong to its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinedBy {
    /// It was the first record: the account was made from it.
    Created,
    /// Another source's record said it is this one (a Zendesk organization whose
    /// `external_id` is the Salesforce Account Id), or the reverse.
    SameAs,
    /// It shares a registered domain with the account.
    Domain,
    /// An import line named it.
    Import,
    /// A person merged its account into this one.
    Merge,
    /// A person split it off into this account.
    Split,
    /// Recorded before provenance was kept.
    Unknown,
}

impl JoinedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::SameAs => "same_as",
            Self::Domain => "domain",
            Self::Import => "import",
            Self::Merge => "merge",
            Self::Split => "split",
            Self::Unknown => "unknown",
        }
    }

    /// The value an `as_str` spelling names; anything else (and `NULL`) is `Unknown`.
    pub fn parse(text: Option<&str>) -> Self {
        [Self::Created, Self::SameAs, Self::Domain, Self::Import, Self::Merge, Self::Split]
            .into_iter()
            .find(|joined| Some(joined.as_str()) == text)
            .unwrap_or(Self::Unknown)
    }
}

/// One source record that formed an account, and how it joined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountSource {
    pub connector: String,
    pub source: Source,
    pub external_id: String,
    pub joined_by: JoinedBy,
    pub joined_at: Option<DateTime<Utc>>,
    /// The name and domains the record carried when it was last applied.
    pub name: Option<String>,
    pub domains: Vec<String>,
    /// Records of other sources this record says it is.
    pub same_as: Vec<String>,
}

/// An account with everything that explains it. A merged-away account's
/// `account.merged_into` names the live account it became (chains followed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountDetail {
    pub account: Account,
    pub deleted: bool,
    pub sources: Vec<AccountSource>,
    /// Live accounts whose parent this is, in id order.
    pub children: Vec<i64>,
    /// Records of other accounts that a person split from this one's records.
    pub kept_apart: Vec<RecordKey>,
}

/// Where a triage page starts: after this item of the queue's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriageCursor {
    pub day: i64,
    pub richness: i64,
    pub id: i64,
}

/// One unresolved item, as the triage queue shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriageItem {
    pub id: i64,
    pub connector: String,
    pub source: Source,
    pub external_id: String,
    pub kind: Kind,
    pub title: String,
    pub url: Option<String>,
    pub status: String,
    pub author_email: Option<String>,
    pub author_name: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Characters of body and comments: how much there is to read and act on.
    pub richness: i64,
    pub cursor: TriageCursor,
}

/// What `chorus_core::account_health` needs about one account, read in a fixed handful
/// of queries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountHealthData {
    /// The account's live items, as health reads them.
    pub items: Vec<HealthItem>,
    /// Its opportunities (closed ones included; health skips them).
    pub opportunities: Vec<Opportunity>,
    /// The open requests its items link to: `(id, title)`, by id.
    pub requests: Vec<(i64, String)>,
}

/// Why an account's health cannot be computed: an amount in a currency without a rate or
/// a bad probability. Names ids and currencies, never amounts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("health of account {account_id}: {reason}")]
pub struct HealthError {
    pub account_id: i64,
    pub reason: String,
}

impl AccountHealthData {
    /// The account's health from these reads under `thresholds` and `rates`: the one place
    /// its opportunities become health input (an opportunity without a currency is in the
    /// account's). The CLI and the API both show this.
    pub fn health(
        &self,
        detail: &AccountDetail,
        thresholds: &chorus_core::HealthThresholds,
        rates: &chorus_core::ExchangeRates,
        now: DateTime<Utc>,
    ) -> Result<chorus_core::Health, HealthError> {
        use chorus_core::priority::{Opportunity as PriorityOpportunity, Probability};
        let account_id = detail.account.id;
        let fail = |reason: String| HealthError { account_id, reason };
        let opportunities = self
            .opportunities
            .iter()
            .map(|o| {
                let currency = o.currency.as_deref().unwrap_or(&detail.account.currency);
                let amount = chorus_core::Money::parse(o.amount_minor.unwrap_or(0), currency)
                    .map_err(|e| fail(format!("opportunity {}: {e}", o.id)))?;
                let probability = Probability::from_percent(o.probability.unwrap_or(0.0).clamp(0.0, 100.0))
                    .map_err(|e| fail(format!("opportunity {}: {e}", o.id)))?;
                Ok(PriorityOpportunity { id: o.id, account_id, amount, probability, open: !o.closed })
            })
            .collect::<Result<Vec<_>, HealthError>>()?;
        let input = chorus_core::health::HealthInput {
            account_id,
            plan: detail.account.plan.as_deref(),
            renewal_date: detail.account.renewal_date,
            items: &self.items,
            opportunities: &opportunities,
            now,
        };
        chorus_core::account_health(&input, thresholds, rates).map_err(|e| fail(e.to_string()))
    }
}

/// What `Store::find_accounts` found: the best matches, and how many match in all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountMatches {
    pub accounts: Vec<chorus_core::Account>,
    pub total: u64,
}

//! Accounts (customer companies) and contacts (the people who belong to them).
//!
//! ARR is an integer in minor units (cents) with an ISO 4217 currency, never a float.
//! An account gathers external ids from every source that knows it; the store merges
//! sources into one account by those ids, then by domain.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Source;

crate::string_enum! {
    /// Where an account stands in the customer lifecycle.
    pub enum LifecycleStage ("lifecycle stage") {
        Reach => "reach",
        Acquisition => "acquisition",
        Conversion => "conversion",
        Retention => "retention",
        Loyalty => "loyalty",
        Advocacy => "advocacy",
    }
}

/// One source's identifier for an account or contact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ExternalId {
    pub connector: String,
    pub source: Source,
    pub id: String,
}

/// A customer company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    pub id: i64,
    pub name: String,
    /// Lowercase email/web domains, e.g. `acme.com`.
    pub domains: Vec<String>,
    /// Annual recurring revenue in minor units of `currency`.
    pub arr_minor: i64,
    pub currency: String,
    pub segment: Option<String>,
    /// The plan the account is on (`enterprise`, `pro`): upsell signals compare it.
    pub plan: Option<String>,
    pub lifecycle_stage: Option<LifecycleStage>,
    pub csm_owner: Option<String>,
    pub renewal_date: Option<NaiveDate>,
    pub parent_id: Option<i64>,
    /// Set when a merge folded this account into another: the live account it became.
    /// Lists and exports hold live accounts only, so there it is always `null`.
    pub merged_into: Option<i64>,
    pub external_ids: Vec<ExternalId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A person, identified by email, who may belong to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Contact {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub account_id: Option<i64>,
    pub external_ids: Vec<ExternalId>,
}

// Domain rules live in `domain.rs`; these names stay here for the code that calls them.
pub use crate::domain::{is_free_mail, normalize_domain, FREE_MAIL_DOMAINS};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalized_and_validated() {
        assert_eq!(normalize_domain(" WWW.Acme.COM "), Some("acme.com".into()));
        assert_eq!(normalize_domain("@acme.io"), Some("acme.io".into()));
        assert_eq!(normalize_domain("localhost"), None);
        assert_eq!(normalize_domain("a b.com"), None);
        assert!(is_free_mail("gmail.com"));
        assert!(!is_free_mail("acme.com"));
    }
}

//! What account resolution reads about an item, shared by the item upsert and the resolver.
//!
//! A leaf module: `items` writes these columns and returns the first resolution step
//! with its upsert, `resolve` reads them to resolve the rest, and neither imports the
//! other. Invariant: the external-id rule (the lowest-numbered live account that owns
//! the id) is written once, here, for both the batch lookup and the upsert's subquery.

use crate::drivers::AnyRow;

use super::get;
use crate::Result;

/// What the account resolver needs to know about an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hints {
    pub(crate) connector: String,
    pub(crate) account_external_id: Option<String>,
    pub(crate) account_name_key: Option<String>,
    pub(crate) author_email: Option<String>,
    /// The author's email domain, `None` for free-mail providers.
    pub(crate) author_domain: Option<String>,
}

impl Hints {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Self {
            connector: get(row, "connector")?,
            account_external_id: get(row, "account_external_id")?,
            account_name_key: get(row, "account_name_key")?,
            author_email: get(row, "author_email")?,
            author_domain: get(row, "author_domain")?,
        })
    }
}

/// Which account an external id names: the lowest-numbered live account that owns it.
/// The one rule behind both forms of the first resolution step, the page's batch lookup
/// (`Lookup::ExternalId`) and the item upsert's (`item_source_account`).
pub(crate) const LIVE_EXTERNAL_OWNERS: &str =
    "FROM account_external_ids x JOIN accounts a ON a.id = x.account_id WHERE a.deleted_at IS NULL";

/// The first resolution step as a scalar subquery over the `items` row in scope: the
/// account its `account_external_id` names. The item upsert returns it, so a page's items
/// need no separate external-id lookup.
pub(crate) fn item_source_account() -> String {
    format!(
        "(SELECT MIN(x.account_id) {LIVE_EXTERNAL_OWNERS} \
         AND x.connector = items.connector AND x.external_id = items.account_external_id)"
    )
}

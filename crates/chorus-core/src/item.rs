//! Items: normalized pieces of feedback, whatever tool they came from.
//!
//! An item is identified by `(connector, external_id)`; the store gives it a numeric
//! `id`. It keeps the raw source payload so it can be re-normalized later without a
//! re-sync. Times are UTC.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

crate::string_enum! {
    /// What a piece of feedback is.
    pub enum Kind ("kind") {
        Bug => "bug",
        FeatureRequest => "feature_request",
        SupportTicket => "support_ticket",
        SalesBlocker => "sales_blocker",
    }
}

crate::string_enum! {
    /// The tool an item or account came from.
    pub enum Source ("source") {
        Jira => "jira",
        Zendesk => "zendesk",
        Salesforce => "salesforce",
        Slack => "slack",
        /// A generic paged JSON feed (any tool without a dedicated connector).
        Feed => "feed",
        /// Records brought in by `chorus import`.
        Import => "import",
    }
}

/// Someone who wrote feedback or a comment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Person {
    pub email: Option<String>,
    pub name: Option<String>,
}

impl Person {
    /// The email, lowercased and trimmed, if it looks like an address.
    pub fn normalized_email(&self) -> Option<String> {
        let email = self.email.as_deref()?.trim().to_ascii_lowercase();
        let (local, domain) = email.split_once('@')?;
        (!local.is_empty() && domain.contains('.')).then_some(email)
    }
}

/// A comment on an item, as plain text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Comment {
    pub external_id: String,
    pub author: Person,
    pub body: String,
    /// `false` for internal notes (Zendesk) or restricted comments (Jira).
    pub public: bool,
    pub created_at: DateTime<Utc>,
}

/// A stored item, as the store returns it and `chorus export items` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Item {
    pub id: i64,
    pub connector: String,
    pub source: Source,
    pub external_id: String,
    /// A human key such as `PROD-123`, when the source has one.
    pub key: Option<String>,
    pub kind: Kind,
    pub title: String,
    pub body: String,
    pub comments: Vec<Comment>,
    pub url: Option<String>,
    pub status: String,
    pub priority: Option<String>,
    pub tags: Vec<String>,
    pub author_email: Option<String>,
    pub author_name: Option<String>,
    /// Customer satisfaction score in `[0, 1]` (Zendesk rating good = 1, bad = 0).
    pub csat: Option<f64>,
    pub account_id: Option<i64>,
    pub request_ids: Vec<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when the source deleted the item; such items are tombstones.
    pub deleted_at: Option<DateTime<Utc>>,
    pub raw: serde_json::Value,
}

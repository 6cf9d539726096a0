//! Requests: things to build or fix, which many items can point at.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

crate::string_enum! {
    /// Where a request stands.
    pub enum RequestStatus ("request status") {
        Open => "open",
        Planned => "planned",
        InProgress => "in_progress",
        Shipped => "shipped",
        Declined => "declined",
    }
}

/// A thing to build or fix; its priority is computed from the items linked to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Request {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub status: RequestStatus,
    /// The item (typically a Jira issue) that anchors the request, if any.
    pub anchor_item_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

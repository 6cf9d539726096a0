//! Requests: things to build or fix, which many items can point at, and the issue keys
//! (`PROD-123`) an item's text mentions, which link it to the request a key anchors.

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
    /// The request this one was merged into (its links moved there); `None` while live.
    #[serde(default)]
    pub merged_into: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RequestStatus {
    /// The request status an anchoring issue's status implies (`Done` → shipped), or
    /// `None` when the issue status says nothing the request can use. Compared without
    /// case; covers Jira's default workflows and the usual custom names.
    pub fn from_issue_status(status: &str) -> Option<Self> {
        let status = status.trim().to_ascii_lowercase();
        match status.as_str() {
            "done" | "closed" | "resolved" | "released" | "shipped" | "complete" | "completed" => Some(Self::Shipped),
            "in progress" | "in review" | "in development" | "in qa" | "in testing" => Some(Self::InProgress),
            "won't do" | "won't fix" | "wont do" | "wont fix" | "declined" | "rejected" | "cancelled" | "canceled" => {
                Some(Self::Declined)
            }
            "selected for development" | "planned" | "scheduled" => Some(Self::Planned),
            "to do" | "open" | "backlog" | "new" | "reopened" => Some(Self::Open),
            _ => None,
        }
    }
}

/// The issue keys (`PROD-123`: a project key of an upper-case letter then upper-case
/// letters, digits or `_`, a dash, a number without leading zero) that `text` mentions,
/// each once, in order first seen. A key must stand alone: `XPROD-1` mentions `XPROD-1`,
/// never `PROD-1`, and `PROD-12a` mentions nothing. One pass over the text.
pub fn mentioned_issue_keys(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut keys: Vec<String> = Vec::new();
    let mut at = 0;
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while at < bytes.len() {
        let starts_word = at == 0 || !word(bytes[at - 1]);
        if !starts_word || !bytes[at].is_ascii_uppercase() {
            at += 1;
            continue;
        }
        let project_end =
            at + bytes[at..].iter().take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b'_').count();
        let digits_start = project_end + 1;
        let digits = bytes.get(digits_start..).map_or(0, |rest| rest.iter().take_while(|b| b.is_ascii_digit()).count());
        let end = digits_start + digits;
        let well_formed = project_end - at >= 2
            && bytes.get(project_end) == Some(&b'-')
            && digits > 0
            && bytes[digits_start] != b'0'
            && bytes.get(end).is_none_or(|b| !word(*b));
        if well_formed {
            let key = &text[at..end];
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_owned());
            }
        }
        at = end.max(at + 1);
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::{mentioned_issue_keys, RequestStatus};

    #[test]
    fn keys_are_found_once_and_only_standing_alone() {
        let text = "See PROD-123 and (PROD-123), also WEB_2-7: not prod-5, XPROD-1x, PROD-012, A-1, PROD-";
        assert_eq!(mentioned_issue_keys(text), vec!["PROD-123", "WEB_2-7"]);
        assert_eq!(mentioned_issue_keys("PROD-9"), vec!["PROD-9"]);
        assert!(mentioned_issue_keys("").is_empty());
        assert_eq!(mentioned_issue_keys("é PROD-4 ü"), vec!["PROD-4"]);
    }

    #[test]
    fn issue_status_flows_to_the_request() {
        assert_eq!(RequestStatus::from_issue_status("Done"), Some(RequestStatus::Shipped));
        assert_eq!(RequestStatus::from_issue_status(" In Progress "), Some(RequestStatus::InProgress));
        assert_eq!(RequestStatus::from_issue_status("Won't Do"), Some(RequestStatus::Declined));
        assert_eq!(RequestStatus::from_issue_status("To Do"), Some(RequestStatus::Open));
        assert_eq!(RequestStatus::from_issue_status("Waiting for vendor"), None);
    }
}

//! Jira issue JSON → `ItemRecord`.
//!
//! The issue is read as untyped JSON with lenient accessors: any field may be
//! missing, null or of an unexpected type (the vendor's own examples have numbers
//! where dates belong), and mapping still produces an item. Only an issue without an
//! id cannot be mapped: `MapError` names it so the caller reports that one issue as
//! unmapped (`MapError::unmapped`) and keeps the page. The raw issue is kept verbatim in `ItemRecord::raw`.

use chorus_core::{Comment, ItemRecord, Person};
use chorus_sync::Unmapped;
use chrono::{DateTime, Utc};
use serde_json::Value;
use url::Url;

use crate::adf;
use crate::config::{AccountFieldHolds, MappingConfig};

/// The fields every search asks for (the API returns only `id` by default).
pub const BASE_FIELDS: &[&str] = &[
    "summary",
    "issuetype",
    "status",
    "priority",
    "labels",
    "description",
    "comment",
    "reporter",
    "creator",
    "created",
    "updated",
    "project",
];

/// Why one issue could not become an item.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MapError {
    #[error("issue without an id (key {key:?})")]
    MissingId { key: Option<String> },
}

/// Longest issue key named in a run's history (a real key is `PROJECT-123`).
const KEY_CHARS: usize = 40;

impl MapError {
    /// The issue as the run's history names it: its key (the only identifier an
    /// id-less issue has, cut to a sane length) and a reason that quotes no field value.
    pub fn unmapped(&self) -> Unmapped {
        match self {
            Self::MissingId { key } => Unmapped {
                external_id: key
                    .as_deref()
                    .map(|k| k.chars().filter(|c| !c.is_control()).take(KEY_CHARS).collect::<String>())
                    .filter(|k| !k.is_empty())
                    .unwrap_or_else(|| "(no id, no key)".to_owned()),
                reason: "issue has no id".to_owned(),
            },
        }
    }
}

/// The site and the mapping rules: everything needed to turn an issue into an item.
#[derive(Debug, Clone)]
pub struct Mapper {
    pub site: Url,
    pub mapping: MappingConfig,
}

impl Mapper {
    /// The `fields` list for a search: the base fields plus the account field.
    pub fn search_fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = BASE_FIELDS.iter().map(|f| (*f).to_owned()).collect();
        if let Some(field) = &self.mapping.account_field {
            if !fields.contains(field) {
                fields.push(field.clone());
            }
        }
        fields
    }

    /// Maps one issue; `comments` replaces the embedded comment page when the
    /// caller fetched the complete list.
    pub fn item(&self, issue: &Value, comments: Option<&[Value]>) -> Result<ItemRecord, MapError> {
        let key = str_at(issue, "key").map(str::to_owned);
        let external_id = issue_id(issue).ok_or_else(|| MapError::MissingId { key: key.clone() })?;
        let fields = issue.get("fields").unwrap_or(&Value::Null);

        let created = fields.get("created").and_then(parse_time);
        let updated = issue_updated(issue);
        let updated_at = updated.or(created).unwrap_or(DateTime::UNIX_EPOCH);
        let created_at = created.unwrap_or(updated_at);

        let issue_type = fields.get("issuetype").and_then(|t| str_at(t, "name"));
        let status = fields.get("status");
        let status_name = status.and_then(|s| str_at(s, "name")).unwrap_or("unknown").to_owned();
        let mut tags: Vec<String> = fields
            .get("labels")
            .and_then(Value::as_array)
            .map(|labels| labels.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        if self.mapping.status_category_tag {
            if let Some(category) = status.and_then(|s| s.get("statusCategory")).and_then(|c| str_at(c, "key")) {
                tags.push(format!("status-category:{category}"));
            }
        }

        let title = str_at(fields, "summary")
            .map(str::to_owned)
            .or_else(|| key.clone())
            .unwrap_or_else(|| format!("Jira issue {external_id}"));
        let author = fields
            .get("reporter")
            .filter(|r| r.is_object())
            .or_else(|| fields.get("creator").filter(|c| c.is_object()))
            .map(person)
            .unwrap_or_default();

        let embedded = embedded_comments(fields);
        let comment_values = comments.unwrap_or(embedded);
        let comments =
            chorus_sync::children::comment_list(comment_values.iter().filter_map(|c| comment(c, updated_at)));

        let (account_name, account_external_id) = self.account(fields);
        Ok(ItemRecord {
            url: key.as_deref().map(|k| self.browse_url(k)),
            key,
            external_id,
            kind: self.mapping.kind_of(issue_type),
            title,
            body: fields.get("description").map(adf::to_text).unwrap_or_default(),
            comments,
            status: status_name,
            priority: fields.get("priority").and_then(|p| str_at(p, "name")).map(str::to_owned),
            tags,
            author,
            account_external_id,
            account_name,
            csat: None,
            created_at,
            updated_at,
            raw: issue.clone(),
        })
    }

    fn browse_url(&self, key: &str) -> String {
        format!("{}/browse/{key}", self.site.as_str().trim_end_matches('/'))
    }

    /// `(account_name, account_external_id)` from the configured field, if it holds one.
    fn account(&self, fields: &Value) -> (Option<String>, Option<String>) {
        let Some(field) = &self.mapping.account_field else {
            return (None, None);
        };
        let value = match fields.get(field) {
            Some(Value::Array(values)) => values.iter().find(|v| !v.is_null()),
            Some(other) => Some(other),
            None => None,
        };
        let Some(value) = value else {
            return (None, None);
        };
        match self.mapping.account_field_holds {
            AccountFieldHolds::Names => {
                let name = match value {
                    Value::Object(_) => ["name", "value", "displayName"].iter().find_map(|k| str_at(value, k)),
                    Value::String(s) => Some(s.as_str()),
                    _ => None,
                };
                (name.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned), None)
            }
            AccountFieldHolds::Ids => {
                let id = match value {
                    Value::Object(_) => value.get("id").and_then(scalar_string),
                    other => scalar_string(other),
                };
                (None, id.filter(|i| !i.is_empty()))
            }
        }
    }
}

/// The issue id as a string (Jira sends a string; tolerate a number).
pub fn issue_id(issue: &Value) -> Option<String> {
    issue.get("id").and_then(scalar_string).filter(|id| !id.is_empty())
}

/// The issue's `updated`, whether in `fields` or at the top level.
pub fn issue_updated(issue: &Value) -> Option<DateTime<Utc>> {
    issue
        .get("fields")
        .and_then(|f| f.get("updated"))
        .and_then(parse_time)
        .or_else(|| issue.get("updated").and_then(parse_time))
}

/// `(total, returned)` of the embedded comment page, when it is a page.
pub fn comment_page_counts(issue: &Value) -> Option<(u64, u64)> {
    let page = issue.get("fields")?.get("comment")?;
    let returned = page.get("comments")?.as_array()?.len() as u64;
    let total = page.get("total").and_then(Value::as_u64).unwrap_or(returned);
    Some((total, returned))
}

fn embedded_comments(fields: &Value) -> &[Value] {
    match fields.get("comment") {
        Some(Value::Object(page)) => page.get("comments").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]),
        Some(Value::Array(list)) => list,
        _ => &[],
    }
}

fn comment(value: &Value, fallback_time: DateTime<Utc>) -> Option<Comment> {
    let external_id = value.get("id").and_then(scalar_string)?;
    let restricted = value.get("visibility").is_some_and(|v| !v.is_null());
    let jsd_public = value.get("jsdPublic").and_then(Value::as_bool).unwrap_or(true);
    Some(Comment {
        external_id,
        author: value.get("author").map(person).unwrap_or_default(),
        body: value.get("body").map(adf::to_text).unwrap_or_default(),
        public: jsd_public && !restricted,
        created_at: value.get("created").and_then(parse_time).unwrap_or(fallback_time),
    })
}

fn person(user: &Value) -> Person {
    Person {
        email: str_at(user, "emailAddress").filter(|e| !e.is_empty()).map(str::to_owned),
        name: str_at(user, "displayName").filter(|n| !n.is_empty()).map(str::to_owned),
    }
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses Jira's `2022-06-09T16:29:31.871-0700` (and RFC 3339) into UTC.
pub fn parse_time(value: &Value) -> Option<DateTime<Utc>> {
    let text = value.as_str()?.trim();
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
}

#[cfg(test)]
mod tests {
    use chorus_core::Kind;
    use serde_json::json;

    use super::*;

    fn mapper(mapping: MappingConfig) -> Mapper {
        Mapper { site: Url::parse("https://acme.atlassian.net/").expect("url"), mapping }
    }

    fn issue() -> Value {
        json!({
            "id": "10042", "key": "PROD-7",
            "fields": {
                "summary": "Export to CSV",
                "issuetype": {"name": "Feature Request"},
                "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate", "name": "In Progress"}},
                "priority": {"name": "High"},
                "labels": ["export", "enterprise"],
                "description": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Please add CSV."}]}]},
                "reporter": {"accountId": "a1", "emailAddress": "Jo@Globex.com", "displayName": "Jo"},
                "created": "2024-05-01T09:00:00.000-0700",
                "updated": "2024-05-02T10:30:15.250+1000",
                "customfield_10002": [{"id": "7", "name": "Globex"}],
                "comment": {"comments": [
                    {"id": "1", "author": {"displayName": "Agent"}, "body": "plain", "created": "2024-05-01T10:00:00.000+0000", "jsdPublic": false},
                    {"id": "2", "body": {"type": "doc", "content": []}, "visibility": {"type": "role", "value": "Developers"}},
                    {"id": "3", "body": "ok"},
                    {"body": "no id"}
                ], "total": 4, "maxResults": 4, "startAt": 0}
            }
        })
    }

    #[test]
    fn maps_every_field() {
        let mapping = MappingConfig { account_field: Some("customfield_10002".into()), ..MappingConfig::default() };
        let item = mapper(mapping).item(&issue(), None).expect("maps");
        assert_eq!(item.external_id, "10042");
        assert_eq!(item.key.as_deref(), Some("PROD-7"));
        assert_eq!(item.kind, Kind::FeatureRequest);
        assert_eq!(item.title, "Export to CSV");
        assert_eq!(item.body, "Please add CSV.");
        assert_eq!(item.status, "In Progress");
        assert_eq!(item.priority.as_deref(), Some("High"));
        assert_eq!(item.tags, ["export", "enterprise", "status-category:indeterminate"]);
        assert_eq!(item.url.as_deref(), Some("https://acme.atlassian.net/browse/PROD-7"));
        assert_eq!(item.author.email.as_deref(), Some("Jo@Globex.com"));
        assert_eq!(item.account_name.as_deref(), Some("Globex"));
        assert_eq!(item.account_external_id, None);
        assert_eq!(item.created_at.to_rfc3339(), "2024-05-01T16:00:00+00:00");
        assert_eq!(item.updated_at.to_rfc3339(), "2024-05-02T00:30:15.250+00:00");
        let publics: Vec<_> = item.comments.iter().map(|c| (c.external_id.as_str(), c.public)).collect();
        assert_eq!(publics, [("1", false), ("2", false), ("3", true)]);
        assert_eq!(item.raw, issue());
    }

    #[test]
    fn account_ids_and_fallbacks() {
        let mapping = MappingConfig {
            account_field: Some("customfield_10002".into()),
            account_field_holds: AccountFieldHolds::Ids,
            ..MappingConfig::default()
        };
        let item = mapper(mapping.clone()).item(&issue(), None).expect("maps");
        assert_eq!((item.account_name, item.account_external_id.as_deref()), (None, Some("7")));
        let mut empty = issue();
        empty["fields"]["customfield_10002"] = json!([]);
        let item = mapper(mapping).item(&empty, None).expect("maps");
        assert_eq!((item.account_name, item.account_external_id), (None, None));
        assert_eq!(item.author.normalized_email().as_deref(), Some("jo@globex.com"));
    }

    #[test]
    fn odd_issues_still_map_and_idless_ones_are_named() {
        let odd = json!({"id": 5, "fields": {"updated": 1, "description": "Main order flow broken", "comment": [{"id": "9", "body": "b"}], "labels": "x"}});
        let item = mapper(MappingConfig::default()).item(&odd, None).expect("maps");
        assert_eq!(
            (item.external_id.as_str(), item.title.as_str(), item.status.as_str()),
            ("5", "Jira issue 5", "unknown")
        );
        assert_eq!(item.body, "Main order flow broken");
        assert_eq!(item.comments.len(), 1);
        assert_eq!(item.kind, Kind::SupportTicket);
        let err = mapper(MappingConfig::default()).item(&json!({"key": "X-1"}), None).expect_err("no id");
        assert_eq!(err, MapError::MissingId { key: Some("X-1".into()) });
        assert_eq!(err.unmapped(), Unmapped { external_id: "X-1".into(), reason: "issue has no id".into() });
        let err = mapper(MappingConfig::default()).item(&json!({"fields": {"summary": "s3cr3t"}}), None).expect_err("");
        let unmapped = err.unmapped();
        assert_eq!(unmapped.external_id, "(no id, no key)");
        assert!(!format!("{unmapped:?}").contains("s3cr3t"), "no field value in the history");
    }

    #[test]
    fn fetched_comments_replace_the_embedded_page() {
        let full = [json!({"id": "1", "body": "a"}), json!({"id": "2", "body": "b"})];
        let item = mapper(MappingConfig::default()).item(&issue(), Some(&full)).expect("maps");
        assert_eq!(item.comments.len(), 2);
        assert_eq!(comment_page_counts(&issue()), Some((4, 4)));
    }
}

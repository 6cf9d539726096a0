//! The feed's wire format and its mapping to Chorus records.
//!
//! Unknown fields are ignored and every optional field may be absent, so a feed can
//! grow without breaking us; a missing `id` or `updated_at` makes the page malformed.

use chorus_core::{EntityKind, ItemRecord, Kind, Person, Record};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One page of `GET /api/items`.
#[derive(Debug, Clone, Deserialize)]
pub struct FeedPage {
    pub items: Vec<FeedRecord>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// One record of a feed page.
#[derive(Debug, Clone, Deserialize)]
pub struct FeedRecord {
    pub id: String,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub author_email: Option<String>,
    #[serde(default)]
    pub author_name: Option<String>,
    /// The account's id in the feed's tool; matched against accounts whose
    /// `external_ids` name this connector (see `chorus import accounts`).
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// The record as received, kept verbatim.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl FeedRecord {
    /// The Chorus record: a tombstone for a deleted entry, else an item.
    pub fn into_record(self) -> Record {
        if self.deleted {
            return Record::Deleted { entity: EntityKind::Item, external_id: self.id };
        }
        let raw = self.raw();
        let kind = self.kind.as_deref().and_then(|k| k.parse::<Kind>().ok()).unwrap_or(Kind::SupportTicket);
        Record::Item(ItemRecord {
            key: None,
            kind,
            title: self.title.unwrap_or_default(),
            body: self.body.unwrap_or_default(),
            comments: Vec::new(),
            url: self.url,
            status: self.status.unwrap_or_else(|| "open".to_owned()),
            priority: None,
            tags: self.tags,
            author: Person { email: self.author_email, name: self.author_name },
            account_external_id: self.account_id,
            account_name: None,
            csat: None,
            created_at: self.created_at.unwrap_or(self.updated_at),
            updated_at: self.updated_at,
            external_id: self.id,
            raw,
        })
    }

    fn raw(&self) -> serde_json::Value {
        let mut raw = self.extra.clone();
        let known = [
            ("id", serde_json::json!(self.id)),
            ("updated_at", serde_json::json!(self.updated_at)),
            ("deleted", serde_json::json!(self.deleted)),
            ("type", serde_json::json!(self.kind)),
            ("title", serde_json::json!(self.title)),
            ("body", serde_json::json!(self.body)),
            ("status", serde_json::json!(self.status)),
            ("url", serde_json::json!(self.url)),
            ("author_email", serde_json::json!(self.author_email)),
            ("author_name", serde_json::json!(self.author_name)),
            ("account_id", serde_json::json!(self.account_id)),
            ("tags", serde_json::json!(self.tags)),
            ("created_at", serde_json::json!(self.created_at)),
        ];
        for (key, value) in known {
            if !value.is_null() {
                raw.insert(key.to_owned(), value);
            }
        }
        serde_json::Value::Object(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_items_and_tombstones() {
        let page: FeedPage = serde_json::from_str(
            r#"{"items":[
                {"id":"FB-1","type":"feature_request","title":"SSO","body":"please","status":"open",
                 "author_email":"ann@acme.com","account_id":"ACME","tags":["sso"],
                 "created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z","votes":3},
                {"id":"FB-2","deleted":true,"updated_at":"2026-01-03T00:00:00Z"}
            ],"next_page_token":null}"#,
        )
        .expect("page parses");
        let records: Vec<Record> = page.items.into_iter().map(FeedRecord::into_record).collect();
        let Record::Item(item) = &records[0] else { panic!("an item") };
        assert_eq!(item.kind, Kind::FeatureRequest);
        assert_eq!(item.account_external_id.as_deref(), Some("ACME"));
        assert_eq!(item.raw["votes"], 3, "unknown fields stay in raw");
        assert_eq!(records[1], Record::Deleted { entity: EntityKind::Item, external_id: "FB-2".into() });
    }

    #[test]
    fn a_record_without_id_makes_the_page_malformed() {
        assert!(serde_json::from_str::<FeedPage>(r#"{"items":[{"updated_at":"2026-01-01T00:00:00Z"}]}"#).is_err());
    }
}

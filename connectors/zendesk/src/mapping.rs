//! Zendesk JSON → Chorus records: tickets → items, organizations → accounts, users →
//! contacts, deleted tickets → tombstones.
//!
//! Mapping reads the payloads as untyped JSON through lenient accessors: the API may
//! omit or null any field, and ids may be numbers or strings. Invariant: one odd
//! object never fails its page — a ticket without an id is skipped with a warning,
//! anything else missing falls back to a documented default — and every item keeps the
//! ticket JSON verbatim in `raw`. A page of tickets is mapped on a blocking thread
//! (`map_ticket_page`): converting bodies is CPU work proportional to their size, and
//! it must not hold up the async runtime that serves the other connectors.

use std::collections::HashMap;

use chorus_core::account::normalize_domain;
use chorus_core::source_id::salesforce_id_key;
use chorus_core::{
    AccountRecord, Comment, ContactRecord, EntityKind, ItemRecord, Kind, Person, Record, Source, SourceRef,
};
use chorus_sync::children::{comment_list, merge_comments};
use chorus_sync::ConnectorError;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::body::body_to_text;
use crate::config::{AccountFieldsConfig, MappingConfig, ZendeskConfig};

/// Zendesk users by id, as far as this run has seen them (sideloads and the users export).
#[derive(Debug, Clone, Default)]
pub struct People {
    by_id: HashMap<String, Person>,
}

impl People {
    /// Remembers every user object in `users` that has an id.
    pub fn learn(&mut self, users: &[Value]) {
        for user in users {
            if let Some(id) = id_field(user, "id") {
                let person = Person { email: str_field(user, "email"), name: str_field(user, "name") };
                self.by_id.insert(id, person);
            }
        }
    }

    /// Marks every id of `ids` not learned yet as looked up but unknown (its person
    /// has no email or name), so it is not looked up again.
    pub fn remember_unknown(&mut self, ids: &[String]) {
        for id in ids {
            self.by_id.entry(id.clone()).or_default();
        }
    }

    pub fn get(&self, id: Option<&str>) -> Person {
        id.and_then(|id| self.by_id.get(id)).cloned().unwrap_or_default()
    }

    pub fn knows(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }
}

/// Turns Zendesk objects into records, with the connector's mapping settings.
#[derive(Debug, Clone)]
pub struct Mapper {
    mapping: MappingConfig,
    accounts: AccountFieldsConfig,
    contact_roles: Vec<String>,
    public_comments_only: bool,
    /// `base_url` without a trailing slash, for `{base}/agent/tickets/{id}`.
    agent_base: String,
}

impl Mapper {
    pub fn new(config: &ZendeskConfig) -> Self {
        Self {
            mapping: config.mapping.clone(),
            accounts: config.accounts.clone(),
            contact_roles: config.contact_roles.clone(),
            public_comments_only: config.comments == crate::config::CommentScope::Public,
            agent_base: config.base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The item kind for a ticket's tags and `type` (first matching rule wins).
    pub fn kind(&self, tags: &[String], ticket_type: Option<&str>) -> Kind {
        let has_tag = |wanted: &[String]| tags.iter().any(|tag| wanted.iter().any(|w| w.eq_ignore_ascii_case(tag)));
        if has_tag(&self.mapping.sales_blocker_tags) {
            return Kind::SalesBlocker;
        }
        if has_tag(&self.mapping.feature_request_tags) {
            return Kind::FeatureRequest;
        }
        if has_tag(&self.mapping.bug_tags) {
            return Kind::Bug;
        }
        let is_bug_type = ticket_type.is_some_and(|t| self.mapping.bug_types.iter().any(|b| b.eq_ignore_ascii_case(t)));
        if is_bug_type {
            return Kind::Bug;
        }
        self.mapping.default_kind
    }

    /// A ticket from an export page, with its comments as `thread` has them.
    pub fn ticket(&self, ticket: &Value, people: &People, thread: Thread<'_>) -> Option<Record> {
        let Some(id) = id_field(ticket, "id") else {
            tracing::warn!("zendesk ticket without an id skipped");
            return None;
        };
        let status = str_field(ticket, "status").map(|s| s.to_ascii_lowercase()).unwrap_or_else(|| "unknown".into());
        if status == "deleted" {
            return Some(Record::Deleted { entity: EntityKind::Item, external_id: id });
        }
        let tags = string_list(ticket, "tags");
        let ticket_type = str_field(ticket, "type");
        let description = str_field(ticket, "description").unwrap_or_default();
        let (body, comments) = match thread {
            // With `comments = "public"` a ticket opened by an internal note keeps that
            // note out of the item: no body, the subject still names the ticket.
            Thread::Full([first, rest @ ..]) if self.public_comments_only && !is_public(first) => {
                (String::new(), comment_list(self.comments(rest, people)))
            }
            Thread::Full([first, rest @ ..]) => (comment_text(first), comment_list(self.comments(rest, people))),
            Thread::Continued { body, comments, new } => {
                (body.to_owned(), merge_comments(comments, self.comments(new, people)))
            }
            Thread::Full([]) | Thread::Description => (body_to_text(&description), Vec::new()),
        };
        let title = str_field(ticket, "subject")
            .or_else(|| str_field(ticket, "raw_subject"))
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| fallback_title(&body, &id));
        let created_at = time_field(ticket, "created_at");
        let updated_at = time_field(ticket, "updated_at")
            .or_else(|| ticket.get("generated_timestamp").and_then(Value::as_i64).and_then(unix))
            .or(created_at);
        let requester = id_field(ticket, "requester_id");
        Some(Record::Item(ItemRecord {
            key: None,
            kind: self.kind(&tags, ticket_type.as_deref()),
            title: title.trim().to_owned(),
            body,
            comments,
            url: Some(format!("{}/agent/tickets/{id}", self.agent_base)),
            status,
            priority: str_field(ticket, "priority"),
            tags,
            author: people.get(requester.as_deref()),
            account_external_id: id_field(ticket, "organization_id"),
            account_name: None,
            csat: csat(ticket.get("satisfaction_rating")),
            created_at: created_at.or(updated_at).unwrap_or(DateTime::UNIX_EPOCH),
            updated_at: updated_at.unwrap_or(DateTime::UNIX_EPOCH),
            raw: ticket.clone(),
            external_id: id,
        }))
    }

    fn comments(&self, comments: &[Value], people: &People) -> Vec<Comment> {
        comments
            .iter()
            .filter_map(|comment| {
                let external_id = id_field(comment, "id")?;
                let public = is_public(comment);
                if self.public_comments_only && !public {
                    return None;
                }
                Some(Comment {
                    external_id,
                    author: people.get(id_field(comment, "author_id").as_deref()),
                    body: comment_text(comment),
                    public,
                    created_at: time_field(comment, "created_at").unwrap_or(DateTime::UNIX_EPOCH),
                })
            })
            .collect()
    }

    /// An organization → an account (or a tombstone when Zendesk deleted it).
    pub fn organization(&self, org: &Value) -> Option<Record> {
        let id = id_field(org, "id")?;
        if org.get("deleted_at").is_some_and(|d| !d.is_null()) {
            return Some(Record::Deleted { entity: EntityKind::Account, external_id: id });
        }
        let fields = org.get("organization_fields").unwrap_or(&Value::Null);
        let field = |name: &Option<String>| name.as_deref().and_then(|n| fields.get(n)).filter(|v| !v.is_null());
        let arr_minor = field(&self.accounts.arr_field).and_then(arr_minor_units);
        let text = |name: &Option<String>| field(name).and_then(value_text);
        let domains: Vec<String> =
            string_list(org, "domain_names").iter().filter_map(|d| normalize_domain(d)).collect();
        Some(Record::Account(AccountRecord {
            name: str_field(org, "name")
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| format!("organization {id}")),
            domains,
            currency: arr_minor.map(|_| self.accounts.currency.clone()),
            arr_minor,
            segment: text(&self.accounts.segment_field),
            lifecycle_stage: self
                .accounts
                .lifecycle
                .stage(text(&self.accounts.lifecycle_stage_field).as_deref(), arr_minor),
            csm_owner: None,
            renewal_date: text(&self.accounts.renewal_date_field).and_then(|s| date(&s)),
            parent_external_id: None,
            plan: text(&self.accounts.plan_field),
            same_as: same_as(org),
            raw: org.clone(),
            external_id: id,
        }))
    }

    /// A user → a contact; inactive (deleted) users → a tombstone; users without an
    /// email or with a role that is not configured → nothing.
    pub fn user(&self, user: &Value) -> Option<Record> {
        let id = id_field(user, "id")?;
        if user.get("active").and_then(Value::as_bool) == Some(false) {
            return Some(Record::Deleted { entity: EntityKind::Contact, external_id: id });
        }
        let role = str_field(user, "role").unwrap_or_else(|| "end-user".into());
        if !self.contact_roles.iter().any(|r| r.eq_ignore_ascii_case(&role)) {
            return None;
        }
        let email = str_field(user, "email").filter(|e| e.contains('@'))?;
        Some(Record::Contact(ContactRecord {
            external_id: id,
            email: email.trim().to_ascii_lowercase(),
            name: str_field(user, "name"),
            account_external_id: id_field(user, "organization_id"),
        }))
    }
}

/// Maps a page of tickets on tokio's blocking pool, so a huge or hostile body never
/// stalls a runtime worker; `thread_of(&threads, ticket_id)` says what each ticket's
/// comments are. Returns the records and `people`, handed back for the next page.
pub async fn map_ticket_page<T: Send + 'static>(
    mapper: Mapper,
    tickets: Vec<Value>,
    people: People,
    threads: T,
    thread_of: for<'a> fn(&'a T, &str) -> Thread<'a>,
) -> Result<(Vec<Record>, People), ConnectorError> {
    let task = tokio::task::spawn_blocking(move || {
        let records = tickets
            .iter()
            .filter_map(|ticket| {
                let thread = id_field(ticket, "id").map_or(Thread::Description, |id| thread_of(&threads, &id));
                mapper.ticket(ticket, &people, thread)
            })
            .collect();
        (records, people)
    });
    task.await.map_err(|error| {
        let endpoint = "/api/v2/incremental/tickets/cursor.json";
        if error.is_panic() {
            ConnectorError::permanent(endpoint, "mapping the ticket page panicked")
        } else {
            ConnectorError::transient(endpoint, "mapping the ticket page was cancelled")
        }
    })
}

/// `good` → 1.0, `bad` → 0.0; `offered`, `unoffered` or no rating → `None`.
pub fn csat(rating: Option<&Value>) -> Option<f64> {
    let score = match rating? {
        Value::Object(map) => map.get("score")?.as_str()?.to_ascii_lowercase(),
        Value::String(score) => score.to_ascii_lowercase(),
        _ => return None,
    };
    match score.as_str() {
        "good" => Some(1.0),
        "bad" => Some(0.0),
        _ => None,
    }
}

/// What is known of a ticket's comments when it is mapped.
#[derive(Debug, Clone, Copy)]
pub enum Thread<'a> {
    /// Comments were not read (`comments = "none"`, or unreadable and nothing stored):
    /// the body is the ticket's `description`.
    Description,
    /// All comments in order; the first is the description.
    Full(&'a [Value]),
    /// The stored body and comments, and the comments added since: merged by comment
    /// id, a new version of a comment replacing the stored one.
    Continued { body: &'a str, comments: &'a [Comment], new: &'a [Value] },
}

/// A comment's `public` flag; a missing one counts as internal.
/// An organization's `external_id` that is a Salesforce Account Id (15 or 18 characters)
/// says the organization is that account; any other external id names nothing we sync.
fn same_as(org: &Value) -> Vec<SourceRef> {
    str_field(org, "external_id")
        .and_then(|id| salesforce_id_key(&id).map(|_| id.trim().to_owned()))
        .map(|id| vec![SourceRef { source: Source::Salesforce, id }])
        .unwrap_or_default()
}

fn is_public(comment: &Value) -> bool {
    comment.get("public").and_then(Value::as_bool).unwrap_or(false)
}

fn comment_text(comment: &Value) -> String {
    let raw = str_field(comment, "html_body")
        .or_else(|| str_field(comment, "body"))
        .or_else(|| str_field(comment, "plain_body"))
        .unwrap_or_default();
    body_to_text(&raw)
}

fn fallback_title(body: &str, id: &str) -> String {
    let first_line = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if first_line.is_empty() {
        return format!("ticket {id}");
    }
    first_line.chars().take(120).collect()
}

/// ARR in minor units from a number or numeric text in major units.
///
/// Text is read strictly, so a misread never becomes a wrong number: an optional
/// currency sign (`$`, `€`, `£`, `¥`) or three-letter code (`USD 12,500`, `12,500 EUR`),
/// then digits, optionally grouped by `,` in threes (`12,500`), an optional `.`
/// decimal part, and an optional `k` or `m` suffix (`100k`, `1.2m`). Without a suffix
/// at most two decimals are accepted: `12.500` may be European thousands. Anything else
/// (`12.500,50`, `1,5`, `ten`) is no ARR, logged at debug level.
fn arr_minor_units(value: &Value) -> Option<i64> {
    let minor = match value {
        Value::Number(n) => (n.as_f64()? * 100.0).round(),
        Value::String(s) => match arr_text_minor_units(s) {
            Some(minor) => minor as f64,
            None => {
                tracing::debug!(arr = %s, "ARR text not understood; account ARR left unset");
                return None;
            }
        },
        _ => return None,
    };
    (minor.is_finite() && minor.abs() < 9.0e15).then_some(minor as i64)
}

/// Parses ARR text (see `arr_minor_units`) into minor units.
fn arr_text_minor_units(text: &str) -> Option<i64> {
    let mut text = text.trim();
    text = text.trim_start_matches(['$', '€', '£', '¥']).trim_start();
    let is_code = |word: &str| word.len() == 3 && word.chars().all(|c| c.is_ascii_alphabetic());
    if let Some((_, rest)) = text.split_once(char::is_whitespace).filter(|(code, _)| is_code(code)) {
        text = rest.trim_start();
    } else if let Some((rest, _)) = text.rsplit_once(char::is_whitespace).filter(|(_, code)| is_code(code)) {
        text = rest.trim_end();
    }
    let (text, multiplier) = match text.strip_suffix(['k', 'K']) {
        Some(rest) => (rest, 1_000),
        None => match text.strip_suffix(['m', 'M']) {
            Some(rest) => (rest, 1_000_000),
            None => (text, 1),
        },
    };
    let (integer, fraction) = text.split_once('.').unwrap_or((text, ""));
    if text.contains('.') && (fraction.is_empty() || (multiplier == 1 && fraction.len() > 2)) {
        return None;
    }
    let mut groups = integer.split(',');
    let first = groups.next()?;
    let grouped = integer.contains(',');
    let first_ok = !first.is_empty() && (!grouped || first.len() <= 3);
    if !first_ok || !groups.all(|g| g.len() == 3) {
        return None;
    }
    let digits: String = integer.chars().filter(|c| *c != ',').chain(fraction.chars()).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || digits.len() > 30 {
        return None;
    }
    let mantissa: i128 = digits.parse().ok()?;
    let scale = 10i128.pow(fraction.len() as u32);
    let scaled = mantissa.checked_mul(multiplier * 100)?;
    // Round half up to whole minor units.
    let minor = (scaled + scale / 2) / scale;
    i64::try_from(minor).ok()
}

fn date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text.get(..10).unwrap_or(text), "%Y-%m-%d").ok()
}

fn unix(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}

/// A field as text: strings as they are, numbers and booleans printed.
fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A non-empty string field.
pub fn str_field(object: &Value, name: &str) -> Option<String> {
    object.get(name)?.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// An id that may be a number or a string.
pub fn id_field(object: &Value, name: &str) -> Option<String> {
    match object.get(name)? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// A list of strings; other elements and a missing or null list are ignored.
pub fn string_list(object: &Value, name: &str) -> Vec<String> {
    match object.get(name) {
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// An RFC 3339 time field.
pub fn time_field(object: &Value, name: &str) -> Option<DateTime<Utc>> {
    let text = object.get(name)?.as_str()?;
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use chorus_core::LifecycleStage;

    #[test]
    fn arr_text_is_parsed_strictly() {
        let arr = |text: &str| arr_minor_units(&json!(text));
        assert_eq!(arr("12,500.50"), Some(1_250_050));
        assert_eq!(arr("1,234,567"), Some(123_456_700));
        assert_eq!(arr("12500"), Some(1_250_000));
        assert_eq!(arr(" $12,500 "), Some(1_250_000));
        assert_eq!(arr("EUR 12,500.5"), Some(1_250_050));
        assert_eq!(arr("12,500 USD"), Some(1_250_000));
        assert_eq!(arr("100k"), Some(10_000_000));
        assert_eq!(arr("1.2m"), Some(120_000_000));
        assert_eq!(arr("1.125M"), Some(112_500_000));
        assert_eq!(arr("2.5K"), Some(250_000));
        assert_eq!(arr_minor_units(&json!(12_500.5)), Some(1_250_050));
        // Ambiguous or unparsable: no ARR rather than a wrong one.
        for bad in [
            "12.500,50",
            "12.500",
            "1,5",
            "1,2345",
            ",500",
            "12,50.0",
            "1.",
            ".5.5",
            "ten",
            "",
            "k",
            "12 500",
            "-5",
            "1e6",
            "100kk",
            "9999999999999999999999999999999",
        ] {
            assert_eq!(arr(bad), None, "{bad:?}");
        }
    }

    fn mapper() -> Mapper {
        let config: ZendeskConfig = serde_json::from_value(json!({
            "base_url": "https://acme.zendesk.com/",
            "auth": {"type": "bearer", "token": "t"},
            "comments": "public",
            "accounts": {"arr_field": "arr", "segment_field": "plan", "renewal_date_field": "renewal",
                         "lifecycle_stage_field": "stage", "currency": "EUR", "plan_field": "tier",
                         "lifecycle": {"values": {"Paying customer": "retention"},
                                       "by_arr": {"paying": "retention", "not_paying": "reach"}}},
        }))
        .unwrap_or_else(|e| panic!("test config: {e}"));
        Mapper::new(&config)
    }

    fn item(record: Option<Record>) -> ItemRecord {
        match record {
            Some(Record::Item(item)) => item,
            other => panic!("expected an item, got {other:?}"),
        }
    }

    #[test]
    fn kind_rules_apply_in_order() {
        let m = mapper();
        let tags = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(m.kind(&tags(&["feature_request", "sales_blocker"]), Some("problem")), Kind::SalesBlocker);
        assert_eq!(m.kind(&tags(&["Feature_Request"]), Some("incident")), Kind::FeatureRequest);
        assert_eq!(m.kind(&tags(&[]), Some("incident")), Kind::Bug);
        assert_eq!(m.kind(&tags(&["bug"]), Some("question")), Kind::Bug);
        assert_eq!(m.kind(&tags(&["billing"]), None), Kind::SupportTicket);
    }

    #[test]
    fn a_continued_thread_keeps_stored_comments_and_merges_new_ones_by_id() {
        let people = People::default();
        let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or(DateTime::UNIX_EPOCH);
        let stored = |id: &str, body: &str, s: i64| Comment {
            external_id: id.into(),
            author: Person::default(),
            body: body.into(),
            public: true,
            created_at: at(s),
        };
        let kept = [stored("11", "first reply", 100), stored("12", "old text", 200)];
        let new = [
            json!({"id": 13, "public": true, "body": "newest", "created_at": "2025-01-01T00:00:00Z"}),
            json!({"id": 12, "public": true, "body": "edited", "created_at": "1970-01-01T00:03:20Z"}),
        ];
        let ticket = json!({"id": 9, "subject": "s", "status": "open", "description": "plain"});
        let thread = Thread::Continued { body: "the description", comments: &kept, new: &new };
        let merged = item(mapper().ticket(&ticket, &people, thread));
        assert_eq!(merged.body, "the description");
        let bodies: Vec<&str> = merged.comments.iter().map(|c| c.body.as_str()).collect();
        assert_eq!(bodies, ["first reply", "edited", "newest"]);
        let nothing_new = Thread::Continued { body: "the description", comments: &kept, new: &[] };
        assert_eq!(item(mapper().ticket(&ticket, &people, nothing_new)).comments.len(), 2, "a failed read keeps them");
    }

    #[test]
    fn a_ticket_maps_with_comments_csat_and_requester() {
        let mut people = People::default();
        people
            .learn(&[json!({"id": 5, "email": "ana@acme.example", "name": "Ana"}), json!({"id": 9, "name": "Agent"})]);
        let ticket = json!({
            "id": 42, "subject": "Export fails", "status": "solved", "type": "problem", "tags": ["api"],
            "requester_id": 5, "organization_id": 700, "priority": "high",
            "created_at": "2025-01-01T10:00:00Z", "updated_at": "2025-01-02T10:00:00Z",
            "satisfaction_rating": {"score": "good"}, "description": "ignored when comments exist",
        });
        let comments = [
            json!({"id": 1, "author_id": 5, "html_body": "<p>It <b>fails</b></p>", "public": true}),
            json!({"id": 2, "author_id": 9, "html_body": "<p>internal</p>", "public": false}),
            json!({"id": 3, "author_id": 9, "html_body": "<p>Fixed, see <a href=\"https://s.example/1\">notes</a></p>", "public": true, "created_at": "2025-01-02T09:00:00Z"}),
        ];
        let item = item(mapper().ticket(&ticket, &people, Thread::Full(&comments)));
        assert_eq!(item.external_id, "42");
        assert_eq!(item.kind, Kind::Bug);
        assert_eq!(item.body, "It fails");
        assert_eq!(item.comments.len(), 1, "internal notes are left out with comments = public");
        assert_eq!(item.comments[0].body, "Fixed, see notes (https://s.example/1)");
        assert_eq!(item.comments[0].author.name.as_deref(), Some("Agent"));
        assert_eq!(item.author.email.as_deref(), Some("ana@acme.example"));
        assert_eq!(item.account_external_id.as_deref(), Some("700"));
        assert_eq!(item.csat, Some(1.0));
        assert_eq!(item.url.as_deref(), Some("https://acme.zendesk.com/agent/tickets/42"));
    }

    #[test]
    fn an_internal_first_comment_stays_out_when_only_public_comments_are_wanted() {
        let ticket = json!({"id": 43, "subject": "Escalation", "status": "open",
                            "description": "internal: customer is about to churn"});
        let comments = [
            json!({"id": 1, "html_body": "<p>internal: customer is about to churn</p>", "public": false}),
            json!({"id": 2, "html_body": "<p>Hi, we are on it</p>", "public": true}),
        ];
        let item = item(mapper().ticket(&ticket, &People::default(), Thread::Full(&comments)));
        assert!(!item.body.contains("churn"), "internal note leaked: {}", item.body);
        assert!(item.comments.iter().all(|c| !c.body.contains("churn")));
        assert_eq!(item.comments.len(), 1);
        assert_eq!(item.title, "Escalation");
    }

    #[test]
    fn odd_tickets_degrade_instead_of_failing() {
        let people = People::default();
        assert_eq!(mapper().ticket(&json!({"subject": "no id"}), &people, Thread::Description), None);
        let odd = json!({"id": "77", "tags": "not-a-list", "subject": null, "description": "**Hi**\nsecond",
                         "satisfaction_rating": {"score": "offered"}, "generated_timestamp": 1_700_000_000});
        let item = item(mapper().ticket(&odd, &people, Thread::Description));
        assert_eq!(item.title, "Hi");
        assert_eq!(item.body, "Hi\nsecond");
        assert!(item.tags.is_empty());
        assert_eq!(item.csat, None);
        assert_eq!(item.status, "unknown");
        assert_eq!(item.updated_at.timestamp(), 1_700_000_000);
        let deleted = mapper().ticket(&json!({"id": 8, "status": "deleted"}), &people, Thread::Description);
        assert_eq!(deleted, Some(Record::Deleted { entity: EntityKind::Item, external_id: "8".into() }));
    }

    #[test]
    fn organizations_and_users_map_with_configured_fields() {
        let org = json!({"id": 700, "name": "Acme", "domain_names": ["www.Acme.example", "bad domain"],
            "organization_fields": {"arr": "12,500.50", "plan": "enterprise", "renewal": "2026-03-31", "stage": "Retention"}});
        match mapper().organization(&org) {
            Some(Record::Account(account)) => {
                assert_eq!(account.domains, ["acme.example"]);
                assert_eq!(account.arr_minor, Some(1_250_050));
                assert_eq!(account.currency.as_deref(), Some("EUR"));
                assert_eq!(account.segment.as_deref(), Some("enterprise"));
                assert_eq!(account.renewal_date.map(|d| d.to_string()).as_deref(), Some("2026-03-31"));
                assert_eq!(account.lifecycle_stage, Some(LifecycleStage::Retention));
            }
            other => panic!("expected an account, got {other:?}"),
        }
        let stage_and_plan =
            |fields: Value| match mapper().organization(&json!({"id": 9, "organization_fields": fields})) {
                Some(Record::Account(account)) => (account.lifecycle_stage, account.plan),
                other => panic!("expected an account, got {other:?}"),
            };
        assert_eq!(
            stage_and_plan(json!({"stage": "paying CUSTOMER", "tier": "Pro"})),
            (Some(LifecycleStage::Retention), Some("Pro".into())),
            "a mapped value, in any case"
        );
        assert_eq!(stage_and_plan(json!({"stage": "unheard of"})).0, Some(LifecycleStage::Reach), "no ARR: not paying");
        assert_eq!(stage_and_plan(json!({"arr": 10})).0, Some(LifecycleStage::Retention), "paying, no stage value");
        let gone = mapper().organization(&json!({"id": 1, "deleted_at": "2025-01-01T00:00:00Z"}));
        assert_eq!(gone, Some(Record::Deleted { entity: EntityKind::Account, external_id: "1".into() }));
        let user = json!({"id": 5, "email": " Ana@Acme.example ", "role": "end-user", "organization_id": 700});
        match mapper().user(&user) {
            Some(Record::Contact(c)) => {
                assert_eq!((c.email.as_str(), c.account_external_id.as_deref()), ("ana@acme.example", Some("700")))
            }
            other => panic!("expected a contact, got {other:?}"),
        }
        assert_eq!(mapper().user(&json!({"id": 6, "email": "a@b.example", "role": "agent"})), None);
        let inactive = mapper().user(&json!({"id": 7, "active": false}));
        assert_eq!(inactive, Some(Record::Deleted { entity: EntityKind::Contact, external_id: "7".into() }));
    }

    /// A current-thread runtime keeps serving its timers while a page with two 1 MiB
    /// hostile bodies is mapped: the conversion runs on the blocking pool.
    #[tokio::test(flavor = "current_thread")]
    async fn a_page_is_mapped_off_the_runtime_thread() {
        let hostile = |id: u64, body: String| json!({"id": id, "subject": "s", "status": "open", "description": body});
        let tickets = vec![hostile(1, "[".repeat(1 << 20)), hostile(2, "<a b='".repeat(1 << 18))];
        let mut comments = HashMap::new();
        comments
            .insert("2".to_owned(), vec![json!({"id": 20, "public": true, "html_body": "<p>a</p>".repeat(1 << 17)})]);
        fn full<'a>(comments: &'a HashMap<String, Vec<Value>>, id: &str) -> Thread<'a> {
            comments.get(id).map_or(Thread::Description, |c| Thread::Full(c))
        }
        let mapping = map_ticket_page(mapper(), tickets, People::default(), comments, full);
        tokio::pin!(mapping);
        let mut timer = tokio::time::interval(std::time::Duration::from_millis(1));
        let mut ticks = 0u32;
        let mapped = loop {
            tokio::select! {
                biased;
                mapped = &mut mapping => break mapped,
                _ = timer.tick() => ticks += 1,
            }
        };
        // The first tick is immediate; any later one fired while the page was mapped.
        assert!(ticks > 1, "the runtime thread was blocked while mapping ({ticks} ticks)");
        let (records, _people) = mapped.unwrap_or_else(|e| panic!("mapping failed: {e}"));
        assert_eq!(records.len(), 2);
        assert_eq!(item(records.into_iter().next()).body.len(), 1 << 20);
    }

    #[test]
    fn csat_scores() {
        assert_eq!(csat(Some(&json!({"score": "good"}))), Some(1.0));
        assert_eq!(csat(Some(&json!({"score": "bad"}))), Some(0.0));
        assert_eq!(csat(Some(&json!({"score": "unoffered"}))), None);
        assert_eq!(csat(Some(&Value::Null)), None);
        assert_eq!(csat(None), None);
    }
}

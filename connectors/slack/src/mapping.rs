//! Slack threads → items: one item per thread.
//!
//! A top-level message is one item (its external id `{channel id}:{ts}`); its text is
//! the title (first line) and body, its replies are the item's comments, in order. A
//! message without replies is an item without comments. Joins, topic changes and
//! other channel events are not feedback and are skipped; a broadcast reply
//! (`thread_broadcast`) is read as the reply it is, in its thread; a `tombstone` (a
//! parent deleted under its replies) deletes the item. Authors come from `users.info`
//! (`People`): the email is what links the item to a contact and an account; bots and
//! members without an address stay unresolved. Invariant: `updated_at` is the newest of
//! the thread's `ts` and edit stamps, so an edit or a new reply always changes it.

use std::collections::HashMap;

use chorus_core::{Comment, ItemRecord, Kind, Person, Record};
use chorus_sync::children::comment_list;
use chorus_sync::Unmapped;
use serde_json::Value;

use crate::cursor::Ts;
use crate::mrkdwn::{self, Names};

/// Longest title, in characters, before it is cut with `…`.
const TITLE_CHARS: usize = 120;

/// What a top-level message is to the connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRole {
    /// A message (possibly a thread's parent): an item.
    Item,
    /// A parent deleted under its replies: the item is deleted.
    Tombstone,
    /// A channel event or a broadcast copy of a reply: not an item.
    Skip,
}

/// Subtypes that are feedback someone wrote (the rest are channel events).
const CONTENT_SUBTYPES: &[&str] = &["bot_message", "me_message", "file_share", "thread_broadcast"];

pub fn role(message: &Value) -> MessageRole {
    match message.get("subtype").and_then(Value::as_str) {
        None => MessageRole::Item,
        Some("tombstone") => MessageRole::Tombstone,
        Some("thread_broadcast") => MessageRole::Skip,
        Some(subtype) if CONTENT_SUBTYPES.contains(&subtype) => MessageRole::Item,
        Some(_) => MessageRole::Skip,
    }
}

pub fn ts_of(message: &Value, key: &str) -> Option<Ts> {
    message.get(key).and_then(Value::as_str).and_then(Ts::parse)
}

/// Whether a parent has replies to read.
pub fn has_replies(message: &Value) -> bool {
    message.get("reply_count").and_then(Value::as_u64).unwrap_or(0) > 0 || message.get("latest_reply").is_some()
}

/// The item's external id.
pub fn external_id(channel: &str, ts: Ts) -> String {
    format!("{channel}:{ts}")
}

/// The `ts` of an item of `channel` from its external id.
pub fn ts_of_external_id(channel: &str, external_id: &str) -> Option<Ts> {
    external_id.strip_prefix(channel)?.strip_prefix(':').and_then(Ts::parse)
}

/// Users as `users.info` showed them this run (`None`: unknown to Slack).
#[derive(Debug, Default)]
pub struct People {
    known: HashMap<String, Option<Person>>,
    pub channel_names: HashMap<String, String>,
}

impl People {
    pub fn knows(&self, id: &str) -> bool {
        self.known.contains_key(id)
    }

    /// Learns a `users.info` answer's `user` (or that the id is unknown: `None`).
    pub fn learn(&mut self, id: &str, user: Option<&Value>) {
        let person = user.map(|user| {
            let profile = user.get("profile");
            let text = |v: Option<&Value>, key: &str| {
                v.and_then(|v| v.get(key)).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
            };
            let is_bot = user.get("is_bot").and_then(Value::as_bool).unwrap_or(false);
            Person {
                email: if is_bot { None } else { text(profile, "email") },
                name: text(Some(user), "real_name")
                    .or_else(|| text(profile, "real_name"))
                    .or_else(|| text(Some(user), "name")),
            }
        });
        self.known.insert(id.to_owned(), person);
    }

    fn author(&self, message: &Value) -> Person {
        let user = message.get("user").and_then(Value::as_str);
        match user.and_then(|id| self.known.get(id)).cloned().flatten() {
            Some(person) => person,
            None => Person {
                email: None,
                name: message.get("username").and_then(Value::as_str).or(user).map(str::to_owned),
            },
        }
    }
}

impl Names for People {
    fn user(&self, id: &str) -> Option<String> {
        self.known.get(id).cloned().flatten().and_then(|p| p.name)
    }

    fn channel(&self, id: &str) -> Option<String> {
        self.channel_names.get(id).cloned()
    }
}

/// The user ids a page's messages need named (authors and mentions).
pub fn users_wanted<'a>(messages: impl Iterator<Item = &'a Value>) -> Vec<String> {
    let mut ids = Vec::new();
    for message in messages {
        if let Some(user) = message.get("user").and_then(Value::as_str) {
            ids.push(user.to_owned());
        }
        if let Some(text) = message.get("text").and_then(Value::as_str) {
            ids.extend(mrkdwn::mentioned_users(text));
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The channel an item belongs to, as the run resolved it.
#[derive(Debug, Clone)]
pub struct ChannelContext {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    pub account: Option<String>,
    /// `https://{workspace}.slack.com/` from `auth.test`.
    pub team_url: Option<String>,
}

fn newest_stamp(message: &Value) -> Option<Ts> {
    let edited = message.get("edited").and_then(|e| ts_of(e, "ts"));
    ts_of(message, "ts").max(edited)
}

/// A thread as an item: `parent` from history, `replies` from `conversations.replies`
/// (the parent itself left out).
pub fn thread(
    channel: &ChannelContext,
    parent: &Value,
    replies: &[Value],
    people: &People,
) -> Result<Record, Unmapped> {
    let Some(ts) = ts_of(parent, "ts") else {
        return Err(Unmapped {
            external_id: format!("{}:?", channel.id),
            reason: "a message without a valid ts".into(),
        });
    };
    let external_id = external_id(&channel.id, ts);
    if role(parent) == MessageRole::Tombstone {
        return Ok(Record::Deleted { entity: chorus_core::EntityKind::Item, external_id });
    }
    let text = |message: &Value| {
        let raw = message.get("text").and_then(Value::as_str).unwrap_or_default();
        mrkdwn::to_text(raw, people)
    };
    let body = text(parent);
    let mut updated = newest_stamp(parent).unwrap_or(ts);
    let mut comments = Vec::with_capacity(replies.len());
    for reply in replies {
        let Some(reply_ts) = ts_of(reply, "ts").filter(|r| *r != ts) else { continue };
        updated = updated.max(newest_stamp(reply).unwrap_or(reply_ts));
        comments.push(Comment {
            external_id: reply_ts.to_string(),
            author: people.author(reply),
            body: text(reply),
            public: true,
            created_at: reply_ts.to_datetime(),
        });
    }
    let url = channel
        .team_url
        .as_deref()
        .map(|root| format!("{}/archives/{}/{}", root.trim_end_matches('/'), channel.id, ts.permalink_id()));
    Ok(Record::Item(ItemRecord {
        external_id,
        key: None,
        kind: channel.kind,
        title: title(&body),
        body,
        comments: comment_list(comments),
        url,
        status: "open".into(),
        priority: None,
        tags: vec![format!("#{}", channel.name)],
        author: people.author(parent),
        account_external_id: None,
        account_name: channel.account.clone(),
        csat: None,
        created_at: ts.to_datetime(),
        updated_at: updated.to_datetime(),
        raw: parent.clone(),
    }))
}

/// The first non-empty line, at most `TITLE_CHARS` characters.
fn title(body: &str) -> String {
    let line = body.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(no text)");
    if line.chars().count() <= TITLE_CHARS {
        return line.to_owned();
    }
    line.chars().take(TITLE_CHARS - 1).collect::<String>() + "…"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn channel() -> ChannelContext {
        ChannelContext {
            id: "C1".into(),
            name: "bugs".into(),
            kind: Kind::Bug,
            account: Some("Globex".into()),
            team_url: Some("https://acme.slack.com/".into()),
        }
    }

    #[test]
    fn a_thread_is_one_item_with_its_replies() {
        let mut people = People::default();
        people.learn("U1", Some(&json!({"real_name": "Ana Chen", "profile": {"email": "ana@globex.example"}})));
        people.learn("U2", None);
        let parent = json!({"type": "message", "user": "U1", "text": "Export *fails* &amp; <@U1> knows\nmore", "ts": "100.000001",
            "edited": {"user": "U1", "ts": "150.000000"}, "reply_count": 1, "latest_reply": "200.000002"});
        let replies =
            [parent.clone(), json!({"user": "U2", "text": "same", "ts": "200.000002", "thread_ts": "100.000001"})];
        let Ok(Record::Item(item)) = thread(&channel(), &parent, &replies, &people) else { panic!("an item") };
        assert_eq!(item.external_id, "C1:100.000001");
        assert_eq!(item.title, "Export *fails* & @Ana Chen knows");
        assert_eq!(item.comments.len(), 1, "the parent is not its own comment");
        assert_eq!(item.comments[0].author.email, None, "an unknown user stays unresolved");
        assert_eq!(item.author.email.as_deref(), Some("ana@globex.example"));
        assert_eq!(item.account_name.as_deref(), Some("Globex"));
        assert_eq!(item.updated_at.timestamp(), 200, "the newest reply dates the item");
        assert_eq!(item.url.as_deref(), Some("https://acme.slack.com/archives/C1/p100000001"));
    }

    #[test]
    fn roles_of_subtypes() {
        assert_eq!(role(&json!({"subtype": "tombstone"})), MessageRole::Tombstone);
        assert_eq!(role(&json!({"subtype": "channel_join"})), MessageRole::Skip);
        assert_eq!(role(&json!({"subtype": "thread_broadcast"})), MessageRole::Skip);
        assert_eq!(role(&json!({"subtype": "bot_message"})), MessageRole::Item);
        let tomb = json!({"subtype": "tombstone", "ts": "5.000000"});
        assert!(matches!(thread(&channel(), &tomb, &[], &People::default()), Ok(Record::Deleted { .. })));
        assert_eq!(ts_of_external_id("C1", "C1:5.000000"), Ts::parse("5"));
        assert_eq!(ts_of_external_id("C1", "C12:5.000000"), None);
    }
}

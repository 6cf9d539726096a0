//! Ticket comments from the incremental ticket-events export, kept until their ticket
//! comes by in the ticket export.
//!
//! One run reads the events export (`include=comment_events`) forward from the
//! cursor's events position `E`, as far as the ticket page at hand needs: past the
//! newest `updated_at` of the page. Adding a comment updates its ticket, so a ticket's
//! comments are never newer than the ticket as the export shows it, and every comment a
//! ticket page needs is read before the page is mapped. Comments wait in
//! `CommentBuffer`, by ticket, until their ticket is mapped (or the run ends).
//!
//! Invariant (with the stored cursor): every comment event older than `E` is in the
//! stored item of its ticket, or its ticket is not stored. So a stored ticket's comments
//! are its stored ones plus the buffered ones, and a ticket created at or after the
//! run's `E` has all of its comments in the buffer. Any other ticket (created earlier and
//! not stored, newer than what the export has yet, or whose buffered comments were
//! evicted to bound memory) is read with `tickets/{id}/comments.json`. The position
//! committed with a page is held back to the oldest comment still waiting in the
//! buffer, so a run that stops leaves nothing unapplied behind `E`.

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Value};

use crate::mapping::{id_field, str_field};

/// Most comments kept waiting for their ticket; past it the tickets with the most
/// waiting comments are read per ticket instead (memory stays bounded).
pub const MAX_BUFFERED_COMMENTS: usize = 100_000;

/// One comment from a `Comment` child event, in the shape of `comments.json`.
#[derive(Debug, Clone)]
pub struct EventComment {
    pub at: i64,
    pub id: String,
    pub value: Value,
}

/// The comments of one events page, by ticket id. Events without a ticket or a comment
/// id are skipped (nothing to file them under).
pub fn comments_of_page(events: &[Value]) -> Vec<(String, EventComment)> {
    let mut out = Vec::new();
    for event in events {
        let Some(ticket_id) = id_field(event, "ticket_id") else { continue };
        let at = event.get("timestamp").and_then(Value::as_i64).unwrap_or(0);
        let created_at = str_field(event, "created_at");
        let children = event.get("child_events").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for child in children {
            if str_field(child, "event_type").as_deref() != Some("Comment") {
                continue;
            }
            let Some(id) = id_field(child, "id") else { continue };
            let value = json!({
                "id": child.get("id"), "author_id": child.get("author_id"), "body": child.get("body"),
                "html_body": child.get("html_body"), "public": child.get("public"), "created_at": created_at,
            });
            out.push((ticket_id.clone(), EventComment { at, id, value }));
        }
    }
    out
}

/// Comments read from the events export whose ticket has not been mapped yet.
#[derive(Debug, Default)]
pub struct CommentBuffer {
    by_ticket: BTreeMap<String, Vec<EventComment>>,
    /// Ids of the buffered comments (a comment id is unique across an account), so a
    /// comment read twice is kept once without scanning its ticket's list.
    ids: HashSet<String>,
    len: usize,
    /// Tickets whose buffered comments were evicted: read per ticket this run.
    evicted: HashSet<String>,
    /// The oldest evicted comment (the committed position must not pass it).
    evicted_since: Option<i64>,
}

impl CommentBuffer {
    /// Files comments under their tickets (a comment read twice, from a repeated
    /// second, is kept once), evicting whole tickets past `MAX_BUFFERED_COMMENTS`.
    pub fn add(&mut self, comments: Vec<(String, EventComment)>) {
        for (ticket, comment) in comments {
            if self.evicted.contains(&ticket) {
                continue;
            }
            if self.ids.insert(comment.id.clone()) {
                self.by_ticket.entry(ticket).or_default().push(comment);
                self.len += 1;
            }
        }
        while self.len > MAX_BUFFERED_COMMENTS {
            let Some(largest) = self.by_ticket.iter().max_by_key(|(_, list)| list.len()).map(|(id, _)| id.clone())
            else {
                break;
            };
            let list = self.remove(&largest);
            let oldest = list.iter().map(|c| c.at).min();
            self.evicted_since = match (self.evicted_since, oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.evicted.insert(largest);
        }
    }

    /// Whether this ticket's comments were evicted (it needs a per-ticket read).
    pub fn evicted(&self, ticket: &str) -> bool {
        self.evicted.contains(ticket)
    }

    /// Takes a ticket's buffered comments, oldest first.
    pub fn take(&mut self, ticket: &str) -> Vec<Value> {
        let mut list = self.remove(ticket);
        list.sort_by_key(|c| (c.at, numeric(&c.id)));
        list.into_iter().map(|c| c.value).collect()
    }

    /// The oldest second still waiting (buffered or evicted), which bounds the
    /// position a page may commit.
    pub fn oldest_waiting(&self) -> Option<i64> {
        let buffered = self.by_ticket.values().flatten().map(|c| c.at).min();
        match (buffered, self.evicted_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Tickets with comments still waiting, and the oldest second of each.
    pub fn waiting(&self) -> Vec<(String, Vec<i64>)> {
        self.by_ticket.iter().map(|(id, list)| (id.clone(), list.iter().map(|c| c.at).collect())).collect()
    }

    /// Forgets what waits for these tickets (resolved at the end of a run).
    pub fn forget(&mut self, tickets: &[String]) {
        for ticket in tickets {
            self.remove(ticket);
        }
    }

    fn remove(&mut self, ticket: &str) -> Vec<EventComment> {
        let list = self.by_ticket.remove(ticket).unwrap_or_default();
        self.len -= list.len();
        for comment in &list {
            self.ids.remove(&comment.id);
        }
        list
    }
}

fn numeric(id: &str) -> u64 {
    id.parse().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ticket: u64, at: i64, comment: u64) -> Value {
        json!({"ticket_id": ticket, "timestamp": at, "created_at": "2025-01-01T00:00:00Z", "event_type": "Audit",
               "child_events": [{"id": comment, "event_type": "Comment", "body": "b", "public": true, "author_id": 5},
                                {"id": comment + 1, "event_type": "Change", "field_name": "status"}]})
    }

    #[test]
    fn comments_are_filed_by_ticket_once_and_taken_in_order() {
        let mut buffer = CommentBuffer::default();
        buffer.add(comments_of_page(&[event(1, 20, 300), event(1, 10, 200), event(2, 15, 400)]));
        buffer.add(comments_of_page(&[event(1, 20, 300), json!({"child_events": []})]));
        assert_eq!(buffer.oldest_waiting(), Some(10));
        let ids: Vec<Option<u64>> = buffer.take("1").iter().map(|c| c["id"].as_u64()).collect();
        assert_eq!(ids, [Some(200), Some(300)], "oldest first, the repeated one once");
        assert_eq!(buffer.oldest_waiting(), Some(15));
        assert!(buffer.take("1").is_empty());
    }

    #[test]
    fn past_the_bound_the_biggest_ticket_is_evicted_and_holds_the_position() {
        let mut buffer = CommentBuffer::default();
        let many: Vec<Value> = (0..MAX_BUFFERED_COMMENTS as u64).map(|n| event(7, 100 + n as i64, n * 2)).collect();
        buffer.add(comments_of_page(&many));
        buffer.add(comments_of_page(&[event(8, 50_000_000, 1)]));
        assert!(buffer.evicted("7") && !buffer.evicted("8"));
        assert!(buffer.take("7").is_empty());
        assert_eq!(buffer.oldest_waiting(), Some(100), "the evicted comments still hold the position back");
    }
}

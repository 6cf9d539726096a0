//! `GET /api/v2/incremental/ticket_events.json`: the time-based ticket-events export.
//!
//! Every comment of a ticket is one `Audit` event at the comment's time, with a
//! `Comment` child event (`body`, `html_body`, `public`, `author_id`) only when the
//! request says `include=comment_events`; a ticket updated after its last comment also
//! has a `Change` audit at `updated_at` (a status change), so pages hold more audits than
//! comments. Traps, as other connectors met them: `events_page_size` audits a page (1000)
//! run to the end of their last second, and `end_time` names that second, so the next
//! page repeats it; the export shares the incremental limit with the other exports; a
//! `start_time` under a minute old is refused; audits of the last `withhold_secs` are
//! withheld (and `events_lag_secs` more, an export that lags); comments of purged tickets stay (events of a ticket no export shows).
//! Invariant: audits are ordered by `(second, audit id)`, and a ticket's comment is
//! exported no later than the ticket itself.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::api::{guarded, time, time_based_start, whole_seconds, ExportQuery};
use super::{SimComment, ZendeskSim};

/// Audit ids are apart from comment ids, as in Zendesk, where a comment's audit is its
/// parent event.
const AUDIT_ID_BASE: u64 = 900_000_000_000;
const CHANGE_ID_BASE: u64 = 800_000_000_000;

/// One audit: its second, id, ticket, and the comment it carries (if any).
struct Audit<'a> {
    at: i64,
    id: u64,
    ticket_id: u64,
    comment: Option<&'a SimComment>,
}

pub(super) async fn ticket_events(
    State(sim): State<ZendeskSim>,
    headers: HeaderMap,
    Query(query): Query<ExportQuery>,
) -> Response {
    guarded(&sim.clone(), &headers, true, move || {
        let mut state = sim.lock();
        let now = sim.now();
        let start = match time_based_start(&mut state, query.start_time.as_deref(), now) {
            Ok(start) => start,
            Err(refusal) => return *refusal,
        };
        let comments_wanted =
            query.include.as_deref().is_some_and(|i| i.split(',').any(|part| part.trim() == "comment_events"));
        let cutoff = now - state.config.withhold_secs - state.config.events_lag_secs.max(0);
        let canonical = state.config.canonical_url.clone();
        let size = state.config.events_page_size.max(1);
        let mut audits: Vec<Audit<'_>> = Vec::new();
        for ticket in state.tickets.values() {
            let comments = ticket.comments.iter().map(|c| Audit {
                at: c.created_at,
                id: AUDIT_ID_BASE + c.id,
                ticket_id: ticket.id,
                comment: Some(c),
            });
            audits.extend(comments);
            let last_comment = ticket.comments.iter().map(|c| c.created_at).max().unwrap_or(i64::MIN);
            if ticket.updated_at > last_comment {
                let id = CHANGE_ID_BASE + ticket.id;
                audits.push(Audit { at: ticket.updated_at, id, ticket_id: ticket.id, comment: None });
            }
        }
        let orphans = state.orphan_comments.iter().map(|(ticket_id, c)| Audit {
            at: c.created_at,
            id: AUDIT_ID_BASE + c.id,
            ticket_id: *ticket_id,
            comment: Some(c),
        });
        audits.extend(orphans);
        audits.retain(|a| a.at >= start && a.at <= cutoff);
        audits.sort_by_key(|a| (a.at, a.id));
        let seconds: Vec<i64> = audits.iter().map(|a| a.at).collect();
        let take = whole_seconds(&seconds, size);
        let end_of_stream = take == audits.len();
        let end_time = seconds.get(..take).and_then(|s| s.last()).copied().unwrap_or(start);
        let events: Vec<Value> = audits[..take].iter().map(|a| audit_json(a, comments_wanted)).collect();
        Json(json!({
            "ticket_events": events,
            "next_page": format!("{canonical}/api/v2/incremental/ticket_events.json?start_time={end_time}"),
            "count": take,
            "end_of_stream": end_of_stream,
            "end_time": end_time,
        }))
        .into_response()
    })
}

fn audit_json(audit: &Audit<'_>, comments_wanted: bool) -> Value {
    let child_events: Vec<Value> = match audit.comment {
        Some(c) if comments_wanted => vec![json!({
            "id": c.id, "via": "Web form", "via_reference_id": null, "comment_present": true,
            "comment_public": c.public, "event_type": "Comment", "body": super::plain_text(&c.html_body),
            "html_body": c.html_body, "public": c.public, "author_id": c.author_id, "attachments": [],
            "audit_id": audit.id,
        })],
        Some(_) => Vec::new(),
        None => vec![json!({
            "id": audit.id + 1, "via": "Web form", "via_reference_id": null, "field_name": "status",
            "event_type": "Change", "previous_value": "new", "value": "open",
        })],
    };
    let updater = audit.comment.map_or(-1_i64, |c| i64::try_from(c.author_id).unwrap_or(-1));
    json!({
        "id": audit.id, "ticket_id": audit.ticket_id, "timestamp": audit.at, "created_at": time(audit.at),
        "updater_id": updater, "via": "Web form", "system": {}, "metadata": {"system": {}, "custom": {}},
        "event_type": "Audit", "child_events": child_events, "merged_ticket_ids": [],
    })
}

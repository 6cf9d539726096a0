//! Which comments a ticket page is mapped with: from the ticket-events export where it
//! covers the ticket (`events`), else from one `tickets/{id}/comments.json` read, and
//! from the store when a read fails.
//!
//! Invariant: a live ticket is mapped either with every comment it has (a `Full` list,
//! or its stored ones plus the new ones, `Continued`), or — only when a per-ticket read
//! failed — with exactly what the store already holds for it; a ticket is never mapped
//! with fewer comments than are stored, so a failed read cannot wipe them.

use std::collections::{BTreeSet, HashMap};

use chorus_core::Item;
use chorus_sync::{ConnectorError, Credentials};
use futures::stream::{self, StreamExt};
use serde_json::Value;

use crate::client::{self, ZendeskClient};
use crate::cursor::StreamPosition;
use crate::events::{comments_of_page, CommentBuffer};
use crate::mapping::{id_field, time_field, Thread};

/// How many per-ticket comment reads run at once.
const COMMENT_CONCURRENCY: usize = 4;

/// How far before Zendesk's "now" a run whose stored cursor predates the events
/// position starts reading events; every ticket of that run is read per ticket.
const LEGACY_LOOKBACK_SECS: i64 = 86_400;

/// One run's reading of the ticket-events export.
#[derive(Debug)]
pub struct EventsRun {
    /// The run's `E`: comment events older than it are stored (`None`: the stored
    /// cursor predates the events position, so nothing is known to be stored).
    since: Option<i64>,
    /// Where the next events request starts.
    next: StreamPosition,
    /// Every comment event older than this second has been read.
    covered: i64,
    /// The export had nothing more this run.
    ended: bool,
    buffer: CommentBuffer,
    /// The position last handed out with a page.
    committed: StreamPosition,
}

impl EventsRun {
    /// The run from the stored position (`None` for a cursor from before it existed).
    pub fn new(stored: Option<&StreamPosition>, server_now: i64) -> Self {
        let legacy_start = server_now.saturating_sub(client::MIN_START_TIME_AGE_SECS + LEGACY_LOOKBACK_SECS);
        let committed = stored.cloned().unwrap_or_else(|| StreamPosition::start(legacy_start.max(0)));
        Self {
            since: stored.map(|p| p.start_time),
            next: committed.clone(),
            covered: committed.start_time,
            ended: false,
            buffer: CommentBuffer::default(),
            committed,
        }
    }

    /// The position to commit with the page just mapped: nothing older than a comment
    /// still waiting for its ticket, never backwards.
    pub fn commit_position(&mut self) -> StreamPosition {
        let waiting = self.buffer.oldest_waiting().unwrap_or(self.covered);
        let start_time = waiting.min(self.covered).max(self.committed.start_time);
        self.committed = StreamPosition { seq: self.committed.seq + 1, start_time, after_cursor: None };
        self.committed.clone()
    }
}

/// A live ticket's comments, as gathered.
pub enum Gathered {
    /// Every comment, the description first.
    Full(Vec<Value>),
    /// Comments added since the stored version.
    New(Vec<Value>),
    /// Could not be read.
    Unread,
}

impl Gathered {
    /// The thread to map `id` with, given what is stored for it.
    pub fn thread<'a>(&'a self, stored: Option<&'a Item>) -> Thread<'a> {
        match (self, stored) {
            (Gathered::Full(all), _) => Thread::Full(all),
            (Gathered::New(new), Some(item)) => Thread::Continued { body: &item.body, comments: &item.comments, new },
            (Gathered::Unread, Some(item)) => {
                Thread::Continued { body: &item.body, comments: &item.comments, new: &[] }
            }
            (Gathered::New(_) | Gathered::Unread, None) => Thread::Description,
        }
    }

    /// The comment values gathered (for their authors).
    pub fn values(&self) -> &[Value] {
        match self {
            Gathered::Full(values) | Gathered::New(values) => values,
            Gathered::Unread => &[],
        }
    }
}

/// What `gather` found for a page: comments by ticket, the stored items, and the users
/// sideloaded by per-ticket reads.
pub struct PageComments {
    pub by_ticket: HashMap<String, Gathered>,
    pub stored: HashMap<String, Item>,
    pub users: Vec<Value>,
}

fn seconds(ticket: &Value, field: &str) -> Option<i64> {
    time_field(ticket, field).map(|t| t.timestamp())
}

/// Reads the events export on until it covers `through` (a page's newest ticket), or
/// has nothing more now.
async fn read_events_through(client: &ZendeskClient, run: &mut EventsRun, through: i64) -> Result<(), ConnectorError> {
    while !run.ended && run.covered <= through {
        let Some(page) = client.ticket_events(run.next.start_time).await? else {
            run.ended = true;
            break;
        };
        run.buffer.add(comments_of_page(&page.items));
        let next = run.next.after_time_page(page.end_time, !page.items.is_empty());
        if !page.end_of_stream && !page.items.is_empty() && next.start_time == run.next.start_time {
            return Err(ConnectorError::permanent(
                "/api/v2/incremental/ticket_events.json",
                "zendesk's ticket events page named no later end_time; the run stops instead of asking for it again",
            ));
        }
        let end = page.end_time.unwrap_or(run.next.start_time);
        let covered = if page.end_of_stream { end.saturating_add(1).max(next.start_time) } else { next.start_time };
        run.covered = run.covered.max(covered);
        run.ended = page.end_of_stream || page.items.is_empty();
        run.next = next;
    }
    Ok(())
}

/// Gathers the comments of a page's tickets (see the module docs); deleted tickets'
/// buffered comments are dropped.
pub async fn gather(
    client: &ZendeskClient,
    credentials: &Credentials,
    run: &mut EventsRun,
    tickets: &[Value],
) -> Result<PageComments, ConnectorError> {
    let is_live = |t: &&Value| crate::mapping::str_field(t, "status").as_deref() != Some("deleted");
    let live: Vec<&Value> = tickets.iter().filter(is_live).collect();
    for deleted in tickets.iter().filter(|t| !is_live(t)).filter_map(|t| id_field(t, "id")) {
        run.buffer.take(&deleted);
    }
    if let Some(through) = live.iter().filter_map(|t| seconds(t, "updated_at")).max() {
        read_events_through(client, run, through).await?;
    }
    let ids: Vec<String> = live.iter().filter_map(|t| id_field(t, "id")).collect();
    let stored = credentials.stored_items(&ids).await?;
    let mut by_ticket = HashMap::new();
    let mut per_ticket = Vec::new();
    for ticket in &live {
        let Some(id) = id_field(ticket, "id") else { continue };
        let updated = seconds(ticket, "updated_at").unwrap_or(i64::MAX);
        let created = seconds(ticket, "created_at").unwrap_or(i64::MIN);
        let since = run.since.filter(|_| !run.buffer.evicted(&id) && updated < run.covered);
        let buffered = run.buffer.take(&id);
        match since {
            Some(since) if created >= since && !buffered.is_empty() => {
                by_ticket.insert(id, Gathered::Full(buffered));
            }
            Some(_) if stored.contains_key(&id) => {
                by_ticket.insert(id, Gathered::New(buffered));
            }
            _ => per_ticket.push(id),
        }
    }
    let read: Vec<(String, Option<client::Comments>)> = stream::iter(per_ticket)
        .map(|id| async move { client.comments(&id).await.map(|comments| (id, comments)) })
        .buffered(COMMENT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let mut users = Vec::new();
    for (id, comments) in read {
        let gathered = match comments {
            Some(comments) => {
                users.extend(comments.users);
                Gathered::Full(comments.comments)
            }
            None => Gathered::Unread,
        };
        by_ticket.insert(id, gathered);
    }
    Ok(PageComments { by_ticket, stored, users })
}

/// At the end of the ticket export: comments still waiting whose ticket is not stored
/// (it is read per ticket whenever it comes, having been created before `E`) or whose
/// stored version is not older than them (already in it, e.g. a purged ticket's, or a
/// second read twice) are let go; the rest — a stored ticket changed after the export's
/// end — keep holding the position back, to be merged next run.
pub async fn settle(credentials: &Credentials, run: &mut EventsRun) -> Result<(), ConnectorError> {
    let waiting = run.buffer.waiting();
    let ids: Vec<String> = waiting.iter().map(|(id, _)| id.clone()).collect();
    let stored = credentials.stored_items(&ids).await?;
    let settled: Vec<String> = waiting
        .into_iter()
        .filter(|(id, times)| match stored.get(id) {
            None => true,
            Some(item) => times.iter().all(|at| *at <= item.updated_at.timestamp()),
        })
        .map(|(id, _)| id)
        .collect();
    run.buffer.forget(&settled);
    Ok(())
}

/// The author ids of gathered comments, for the people lookup.
pub fn authors(page: &PageComments) -> BTreeSet<String> {
    page.by_ticket.values().flat_map(|g| g.values().iter().filter_map(|c| id_field(c, "author_id"))).collect()
}

//! Zendesk Support connector (`kind = "zendesk"`).
//!
//! One run reads three incremental exports in this order — organizations (accounts),
//! users (contacts), then tickets (items, with their comments and CSAT) — so that a
//! ticket's organization and requester are known before the ticket is stored. Comments
//! come from a fourth export, ticket events, read alongside the tickets (`comments`). Each
//! page is yielded with the cursor that resumes right after it; the engine commits
//! both together. Deleted tickets arrive in the export with `status: "deleted"` and
//! become tombstones. Deleted organizations are not in the export at all: after it,
//! on full runs and on schedule, known organizations are checked (`reconcile`). A
//! run first reads Zendesk's clock (the `Date` of `users/me.json`)
//! and skips an export whose `start_time` is under a minute old by it, which Zendesk
//! would refuse: there is nothing new there yet. Invariant: the cursor of a page is
//! only ever built from that page's own response, and only after all of the page's
//! records (comments included) were read, so a page that fails leaves the stored
//! cursor where it was.

pub mod body;
pub mod client;
pub mod comments;
pub mod config;
pub mod cursor;
pub mod events;
pub mod html;
mod html_lexer;
pub mod mapping;
pub mod markdown;
pub mod reconcile;
mod text;

use std::collections::{BTreeSet, HashSet};

use chorus_core::{Record, Source};
use chorus_sync::endpoint::parse_endpoint;
use chorus_sync::{page_stream, Connector, ConnectorContext, ConnectorError, Credentials, Page, PageRun, SyncMode};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde_json::Value;

pub use crate::client::ZendeskClient;
use crate::comments::EventsRun;
pub use crate::config::ZendeskConfig;
use crate::config::{CommentScope, ReconcileConfig};
pub use crate::cursor::{StreamPosition, ZendeskCursor};
use crate::mapping::{id_field, str_field, Mapper, People, Thread};
use crate::reconcile::Check;

/// A configured Zendesk Support connection.
pub struct ZendeskConnector {
    client: ZendeskClient,
    mapper: Mapper,
    start_time: i64,
    comments: CommentScope,
    reconcile: ReconcileConfig,
    /// The store's view: stored tickets' comments, to merge new ones into.
    credentials: Credentials,
}

/// Which export a run is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Organizations,
    /// The deleted-organization check, when due (`reconcile`).
    Reconcile,
    Users,
    Tickets,
    Done,
}

struct RunState {
    cursor: ZendeskCursor,
    phase: Phase,
    people: People,
    /// Whether this run asked Zendesk for its time yet (once, before the first export).
    clock_read: bool,
    /// `(export, after_cursor)` of every cursor this run requested or was handed, so
    /// that a cursor export going round in circles is caught (`ensure_cursor_moved`).
    cursors_seen: HashSet<(&'static str, String)>,
    /// The ticket-events export as this run reads it (set once the clock is read).
    events: Option<EventsRun>,
    /// Whether this run checks known organizations after the export.
    check_due: bool,
    /// Organizations this run's export returned live (no need to check them).
    organizations_seen: HashSet<String>,
    /// The check under way (planned when the phase starts).
    check: Option<Check>,
}

/// One run: the connector and where the run is.
struct Run<'a> {
    connector: &'a ZendeskConnector,
    state: RunState,
}

impl PageRun<ZendeskCursor> for Run<'_> {
    async fn next_page(&mut self) -> Result<Option<Page<ZendeskCursor>>, ConnectorError> {
        self.connector.next_page(&mut self.state).await
    }
}

impl RunState {
    /// The phase after the organizations export.
    fn after_organizations(&self) -> Phase {
        if self.check_due {
            Phase::Reconcile
        } else {
            Phase::Users
        }
    }
}

impl ZendeskConnector {
    /// Reads the next page of the current export and moves the run state past it. An
    /// export that would start from a `start_time` Zendesk does not take yet has nothing
    /// new: the run moves on to the next export without a page (and ends without one
    /// when none has anything).
    async fn next_page(&self, state: &mut RunState) -> Result<Option<Page<ZendeskCursor>>, ConnectorError> {
        if !state.clock_read && state.phase != Phase::Done {
            let now = self.client.read_clock().await?;
            state.clock_read = true;
            state.events = Some(EventsRun::new(state.cursor.ticket_events.as_ref(), now));
        }
        loop {
            match state.phase {
                Phase::Organizations => {
                    let position = &state.cursor.organizations;
                    let Some(page) = self.client.organizations_export(position.start_time).await? else {
                        state.phase = state.after_organizations();
                        continue;
                    };
                    let records: Vec<Record> =
                        page.items.iter().filter_map(|org| self.mapper.organization(org)).collect();
                    if state.check_due {
                        let live = records.iter().filter_map(|record| match record {
                            Record::Account(account) => Some(account.external_id.clone()),
                            _ => None,
                        });
                        state.organizations_seen.extend(live);
                    }
                    let next = position.after_time_page(page.end_time, !page.items.is_empty());
                    if page.end_of_stream || page.items.is_empty() {
                        state.phase = state.after_organizations();
                    }
                    state.cursor.organizations = next;
                    return Ok(Some(Page::new(records, state.cursor.clone())));
                }
                Phase::Reconcile => {
                    let check = match &mut state.check {
                        Some(check) => check,
                        None => {
                            let after = state.cursor.reconcile.after.as_deref();
                            state.check.insert(Check::plan(&self.credentials, &state.organizations_seen, after).await?)
                        }
                    };
                    let (records, last) = check.next_batch(&self.client).await?;
                    let progress = &mut state.cursor.reconcile;
                    if check.is_done() {
                        *progress = progress.finished(chrono::Utc::now());
                        state.phase = Phase::Users;
                    } else if last.is_some() {
                        progress.after = last.clone().max(progress.after.take());
                    }
                    if last.is_none() {
                        // Nothing to ask for: no page of its own; the finished check rides
                        // along with the run's next page.
                        continue;
                    }
                    return Ok(Some(Page::new(records, state.cursor.clone())));
                }
                Phase::Users => {
                    let position = &state.cursor.users;
                    let Some(page) = self.client.cursor_export("users", position, false).await? else {
                        state.phase = Phase::Tickets;
                        continue;
                    };
                    ensure_cursor_moved("users", &page, position, &mut state.cursors_seen)?;
                    state.people.learn(&page.items);
                    let records = page.items.iter().filter_map(|user| self.mapper.user(user)).collect();
                    let next = position.after_cursor_page(page.after_cursor.clone());
                    if stream_ends(&page, position, &next) {
                        state.phase = Phase::Tickets;
                    }
                    state.cursor.users = next;
                    return Ok(Some(Page::new(records, state.cursor.clone())));
                }
                Phase::Tickets => {
                    let position = &state.cursor.tickets;
                    let Some(page) = self.client.cursor_export("tickets", position, true).await? else {
                        state.phase = Phase::Done;
                        continue;
                    };
                    ensure_cursor_moved("tickets", &page, position, &mut state.cursors_seen)?;
                    state.people.learn(&page.users);
                    let next = position.after_cursor_page(page.after_cursor.clone());
                    let ends = stream_ends(&page, position, &next);
                    let events = state.events.get_or_insert_with(|| EventsRun::new(None, self.client.server_now()));
                    let records = self.map_tickets(&page.items, &mut state.people, events).await?;
                    if self.comments != CommentScope::None {
                        if ends {
                            comments::settle(&self.credentials, events).await?;
                        }
                        state.cursor.ticket_events = Some(events.commit_position());
                    }
                    if ends {
                        state.phase = Phase::Done;
                    }
                    state.cursor.tickets = next;
                    return Ok(Some(Page::new(records, state.cursor.clone())));
                }
                Phase::Done => return Ok(None),
            }
        }
    }

    /// Maps a page of tickets: gathers the comments of every live ticket first
    /// (`comments::gather`), then looks up any requester or comment author this run has
    /// not seen yet.
    async fn map_tickets(
        &self,
        tickets: &[Value],
        people: &mut People,
        events: &mut EventsRun,
    ) -> Result<Vec<Record>, ConnectorError> {
        let live = |ticket: &&Value| str_field(ticket, "status").as_deref() != Some("deleted");
        let gathered = if self.comments == CommentScope::None {
            None
        } else {
            Some(comments::gather(&self.client, &self.credentials, events, tickets).await?)
        };
        let mut wanted: BTreeSet<String> =
            tickets.iter().filter(live).filter_map(|t| id_field(t, "requester_id")).collect();
        if let Some(page) = &gathered {
            people.learn(&page.users);
            wanted.extend(comments::authors(page));
        }
        self.look_up_people(wanted.into_iter(), people).await?;
        let page = mapping::map_ticket_page(
            self.mapper.clone(),
            tickets.to_vec(),
            std::mem::take(people),
            gathered,
            thread_of,
        );
        let (records, known) = page.await?;
        *people = known;
        Ok(records)
    }

    /// Fetches the users among `ids` that `people` does not know yet, at most
    /// `SHOW_MANY_MAX` a request. Ids Zendesk does not return (deleted users) are
    /// remembered as unknown, so they are asked for once per run.
    async fn look_up_people(
        &self,
        ids: impl Iterator<Item = String>,
        people: &mut People,
    ) -> Result<(), ConnectorError> {
        let missing: Vec<String> =
            ids.filter(|id| !people.knows(id)).collect::<BTreeSet<String>>().into_iter().collect();
        for batch in missing.chunks(client::SHOW_MANY_MAX) {
            let users = self.client.users_by_id(batch).await?;
            people.learn(&users);
            people.remember_unknown(batch);
        }
        Ok(())
    }
}

/// What `mapping` gets as a ticket's comments from the page's gathered comments.
fn thread_of<'a>(gathered: &'a Option<comments::PageComments>, ticket_id: &str) -> Thread<'a> {
    let found = gathered.as_ref().and_then(|page| Some((page.by_ticket.get(ticket_id)?, page)));
    match found {
        Some((found, page)) => found.thread(page.stored.get(ticket_id)),
        None => Thread::Description,
    }
}

/// Fails the run when a cursor export that is not finished (`end_of_stream: false`)
/// did not move on: a page with records but no `after_cursor`, or with the cursor it
/// was asked with, or (any page) with a cursor this run already requested (a cycle).
/// Asking again would return the same pages forever, and the engine cannot tell, since
/// the page counter still grows. Zendesk documents `end_of_stream` as the only end of
/// an export, so ending the export here instead would hide a broken API behind a run
/// that looks complete and would never progress; failing is the safe choice: the
/// repeated page is not committed, the stored cursor stays at the last good page, and
/// the run says why. (An empty page that did not move is the quiet end of
/// `stream_ends`: it holds nothing to lose and the cursor stays where it was.)
fn ensure_cursor_moved(
    entity: &'static str,
    page: &client::CursorPage,
    before: &StreamPosition,
    seen: &mut HashSet<(&'static str, String)>,
) -> Result<(), ConnectorError> {
    if let Some(asked) = &before.after_cursor {
        seen.insert((entity, asked.clone()));
    }
    if page.end_of_stream {
        return Ok(());
    }
    let next = page.after_cursor.as_deref().filter(|c| !c.is_empty());
    let problem = match next {
        None if page.items.is_empty() => None,
        None => Some("no `after_cursor`"),
        Some(next) if before.after_cursor.as_deref() == Some(next) => {
            (!page.items.is_empty()).then_some("the `after_cursor` it was asked with")
        }
        Some(next) if seen.contains(&(entity, next.to_owned())) => Some("an `after_cursor` this run already used"),
        Some(next) => {
            seen.insert((entity, next.to_owned()));
            None
        }
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(ConnectorError::permanent(
            format!("/api/v2/incremental/{entity}/cursor.json"),
            format!(
                "zendesk repeated its cursor: a page with end_of_stream false came with {problem}; the run stops \
                 instead of requesting the same page forever, and the stored cursor stays at the last complete page"
            ),
        )),
    }
}

/// Whether a cursor-based export is finished after `page`: Zendesk says so, or the
/// page neither held records nor moved the cursor (a guard against looping forever;
/// a page with records that does not move fails the run in `ensure_cursor_moved`).
fn stream_ends(page: &client::CursorPage, before: &StreamPosition, after: &StreamPosition) -> bool {
    page.end_of_stream || (page.items.is_empty() && before.after_cursor == after.after_cursor)
}

impl Connector for ZendeskConnector {
    const KIND: &'static str = "zendesk";
    const SOURCE: Source = Source::Zendesk;

    type Config = ZendeskConfig;
    type Cursor = ZendeskCursor;

    fn validate(config: &ZendeskConfig, allow_insecure_endpoints: bool) -> Result<(), ConnectorError> {
        config.validate(allow_insecure_endpoints)
    }

    fn build(config: ZendeskConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let base = parse_endpoint("base_url", &config.base_url, ctx.allow_insecure_endpoints)?;
        let http = ctx.http.clone().with_auth(client::auth_provider(&config.auth, &base, &ctx)?);
        Ok(Self {
            client: ZendeskClient::new(http, base, config.page_size, &config.rate_limit),
            mapper: Mapper::new(&config),
            start_time: config.start_time,
            comments: config.comments,
            reconcile: config.reconcile,
            credentials: ctx.credentials.clone(),
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        Box::pin(self.client.me())
    }

    fn pages(
        &self,
        from: Option<ZendeskCursor>,
        mode: SyncMode,
    ) -> BoxStream<'_, Result<Page<ZendeskCursor>, ConnectorError>> {
        // The exports report deleted tickets and users themselves; deleted
        // organizations only the check finds, always on a full run (`from: None`).
        let mut cursor = from.unwrap_or_else(|| ZendeskCursor::start(self.start_time));
        let schedule = &self.reconcile;
        let check_due =
            cursor.reconcile.due(mode == SyncMode::Full, schedule.every_runs, schedule.every_hours, chrono::Utc::now());
        if !check_due {
            // Counted by the first page this run commits (a run without one does not count).
            cursor.reconcile.runs_since = cursor.reconcile.runs_since.saturating_add(1);
        }
        let state = RunState {
            cursor,
            phase: Phase::Organizations,
            people: People::default(),
            clock_read: false,
            cursors_seen: HashSet::new(),
            events: None,
            check_due,
            organizations_seen: HashSet::new(),
            check: None,
        };
        page_stream(Run { connector: self, state })
    }
}

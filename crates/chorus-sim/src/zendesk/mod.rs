//! `ZendeskSim`: Zendesk Support's API as the connector meets it, traps included.
//!
//! Served routes (shapes copied from real recordings, URLs on the account's canonical
//! host, not the host the client called):
//! - `GET /api/v2/incremental/tickets/cursor.json` (`start_time`, then `cursor`;
//!   `per_page`; `include=users`) and `/api/v2/incremental/users/cursor.json`:
//!   `after_cursor`, `after_url`, `before_cursor`, `before_url`, `end_of_stream`;
//! - `GET /api/v2/incremental/organizations.json?start_time=` (time-based: `end_time`,
//!   `next_page`, `count`, `end_of_stream`);
//! - `GET /api/v2/tickets/{id}/comments.json` (cursor pagination, `include=users`);
//! - `GET /api/v2/incremental/ticket_events.json?start_time=` (time-based, 1000
//!   audits a page, comment child events only with `include=comment_events`; see
//!   `events`);
//! - `GET /api/v2/users/show_many.json?ids=` and `organizations/show_many.json?ids=`
//!   (at most 100 ids);
//! - `GET /api/v2/users/me.json`;
//! - `POST /oauth/tokens` when `oauth_refresh` is set: a rotating `TokenAuthority`
//!   whose access tokens are accepted next to the static `oauth_token`.
//!
//! Traps: records updated in the last `withhold` seconds of the sim clock are not
//! exported yet; a `start_time` under a minute old is refused (400 `InvalidValue`,
//! "Too recent start_time"), judged by the sim clock, which every answer's `Date`
//! header carries; a cursor page repeats the record the cursor points at; deleted
//! tickets are exported with `status: "deleted"`; the incremental endpoints allow
//! `incremental_limit` requests per `incremental_window` (429 + `Retry-After` beyond);
//! an optional account-wide limit per minute; sideloaded requesters can be left out;
//! Basic `{email}/token` and bearer auth; `X-Rate-Limit` and `RateLimit-*` headers on
//! every answer (see `limits`); on request (`set_cursor_fault`) cursor pages that do
//! not move on; a time-based page runs to the end of its last second and names that
//! second as `end_time` (so the next page repeats it, and a page all of one second
//! answers `end_time == start_time`); deleted organizations vanish from the export and
//! from `show_many` (real organization objects carry no `deleted_at`); purged tickets
//! leave the ticket export but keep their events. Invariant: every
//! mutation stamps what it changes with the clock's "now" (or the explicit time given),
//! so the exports order changes exactly as Zendesk's `generated_timestamp` would.

mod api;
mod data;
mod events;
mod limits;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::clock::SimClock;
use crate::token::{AuthorityConfig, TokenAuthority};

/// How the simulated account is seeded and how strict it is.
#[derive(Debug, Clone)]
pub struct ZendeskSimConfig {
    pub seed: u64,
    pub organizations: usize,
    pub users: usize,
    pub tickets: usize,
    /// Basic auth: `{email}/token` with `api_token`.
    pub email: String,
    pub api_token: String,
    /// Bearer auth.
    pub oauth_token: String,
    /// Incremental export requests allowed per `incremental_window` (Zendesk: 10/min).
    pub incremental_limit: u32,
    pub incremental_window: Duration,
    /// Requests a minute the whole account allows (`X-Rate-Limit`); beyond it every
    /// endpoint answers 429 with `Retry-After` until the minute is over. `None` (the
    /// default) advertises 700 in the headers but never refuses.
    pub account_limit: Option<u32>,
    /// Whether `include=users` on the ticket export sideloads requesters. Zendesk may
    /// leave some out; with `false` none are, and a client must look them up itself
    /// (`users/show_many`).
    pub sideload_users: bool,
    /// Records updated this many seconds before "now" or later are withheld (60).
    pub withhold_secs: i64,
    /// The host written into `url`, `after_url`, `next_page` (never the one called).
    pub canonical_url: String,
    /// Audits per page of the ticket-events export (Zendesk: 1000).
    pub events_page_size: usize,
    /// The events export lags the ticket export by this many seconds more (0).
    pub events_lag_secs: i64,
    /// Serve `POST /oauth/tokens` with rotating refresh tokens and expiring access
    /// tokens (Zendesk since 2026); `None`: only the static `oauth_token`.
    pub oauth_refresh: Option<AuthorityConfig>,
}

impl Default for ZendeskSimConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            organizations: 8,
            users: 40,
            tickets: 120,
            email: "agent@chorus-sim.example".into(),
            api_token: "sim-api-token".into(),
            oauth_token: "sim-oauth-token".into(),
            incremental_limit: 10,
            incremental_window: Duration::from_secs(60),
            account_limit: None,
            sideload_users: true,
            withhold_secs: 60,
            canonical_url: "https://chorus-sim.zendesk.com".into(),
            events_page_size: 1000,
            events_lag_secs: 0,
            oauth_refresh: None,
        }
    }
}

/// A broken cursor export (users and tickets), for clients that must not loop on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorFault {
    /// A page asked for with a `cursor` names that same cursor as its `after_cursor`
    /// (its records as usual) and says `end_of_stream: false`.
    Repeat,
    /// Every page has `after_cursor: null` and `end_of_stream: false`.
    Null,
}

/// An organization as the simulator stores it (times are unix seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct SimOrganization {
    pub id: u64,
    pub name: String,
    pub domain_names: Vec<String>,
    pub external_id: Option<String>,
    pub tags: Vec<String>,
    pub organization_fields: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

/// A user (end user or agent).
#[derive(Debug, Clone, PartialEq)]
pub struct SimUser {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    pub role: String,
    pub organization_id: Option<u64>,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A ticket comment; the first one of a ticket is its description.
#[derive(Debug, Clone, PartialEq)]
pub struct SimComment {
    pub id: u64,
    pub author_id: u64,
    pub html_body: String,
    pub public: bool,
    pub created_at: i64,
}

/// A ticket; `status == "deleted"` once deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct SimTicket {
    pub id: u64,
    pub subject: String,
    pub description: String,
    pub ticket_type: Option<String>,
    pub priority: Option<String>,
    pub status: String,
    pub tags: Vec<String>,
    pub requester_id: Option<u64>,
    pub assignee_id: Option<u64>,
    pub organization_id: Option<u64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// `(rating id, score)`: `good`, `bad`, `offered`.
    pub satisfaction: Option<(u64, String)>,
    pub comments: Vec<SimComment>,
}

#[derive(Debug)]
struct State {
    config: ZendeskSimConfig,
    organizations: BTreeMap<u64, SimOrganization>,
    users: BTreeMap<u64, SimUser>,
    tickets: BTreeMap<u64, SimTicket>,
    next_ticket_id: u64,
    next_comment_id: u64,
    /// Arrival times of the incremental requests answered within the window.
    incremental_hits: VecDeque<Instant>,
    incremental_rejections: u64,
    /// Start of the current account-limit minute (real time) and requests in it.
    account_window: Option<(Instant, u64)>,
    account_rejections: u64,
    /// Every `users/show_many` call's id count, in order.
    show_many_calls: Vec<usize>,
    /// Export requests refused for a `start_time` under a minute old.
    too_recent_rejections: u64,
    /// How the cursor exports misbehave (`None`: they do not).
    cursor_fault: Option<CursorFault>,
    /// Comments of purged tickets: gone from the ticket export, still in its events.
    orphan_comments: Vec<(u64, SimComment)>,
    /// Every `organizations/show_many` call's id count, in order.
    organization_lookups: Vec<usize>,
    /// Tickets whose `comments.json` answers 404 (the agent lost access to them).
    denied_comments: BTreeSet<u64>,
}

/// The simulator: data, mutations and the router. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ZendeskSim {
    inner: Arc<Mutex<State>>,
    clock: SimClock,
    authority: Option<TokenAuthority>,
}

/// What a synced store must equal after the export caught up.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZendeskTruth {
    /// Live organizations by id.
    pub organizations: BTreeMap<String, SimOrganization>,
    /// Active users by id.
    pub users: BTreeMap<String, SimUser>,
    /// Live (not deleted) tickets by id.
    pub tickets: BTreeMap<String, SimTicket>,
    /// Ids of deleted tickets.
    pub deleted_tickets: BTreeSet<String>,
}

impl ZendeskSim {
    /// A seeded account on `clock`; everything seeded is older than the withheld minute.
    pub fn new(config: ZendeskSimConfig, clock: SimClock) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let until = clock.now().timestamp() - config.withhold_secs - 3_600;
        let orgs = data::organizations(&mut rng, config.organizations, 360_000_000_000, until);
        let users = data::users(&mut rng, config.users, 380_000_000_000, &orgs, until);
        let tickets = data::tickets(&mut rng, config.tickets, 1, &users, until);
        let next_ticket_id = tickets.iter().map(|t| t.id).max().unwrap_or(0) + 1;
        let next_comment_id = tickets.iter().flat_map(|t| t.comments.iter().map(|c| c.id)).max().unwrap_or(0) + 1;
        let state = State {
            config,
            organizations: orgs.into_iter().map(|o| (o.id, o)).collect(),
            users: users.into_iter().map(|u| (u.id, u)).collect(),
            tickets: tickets.into_iter().map(|t| (t.id, t)).collect(),
            next_ticket_id,
            next_comment_id,
            incremental_hits: VecDeque::new(),
            incremental_rejections: 0,
            account_window: None,
            account_rejections: 0,
            show_many_calls: Vec::new(),
            too_recent_rejections: 0,
            cursor_fault: None,
            orphan_comments: Vec::new(),
            organization_lookups: Vec::new(),
            denied_comments: BTreeSet::new(),
        };
        let authority = state.config.oauth_refresh.clone().map(TokenAuthority::new);
        Self { inner: Arc::new(Mutex::new(state)), clock, authority }
    }

    /// The default account on the system clock.
    pub fn seeded(seed: u64) -> Self {
        Self::new(ZendeskSimConfig { seed, ..ZendeskSimConfig::default() }, SimClock::system())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The clock that stamps mutations and decides what is withheld.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    pub fn config(&self) -> ZendeskSimConfig {
        self.lock().config.clone()
    }

    /// The routes listed in the module docs.
    pub fn router(&self) -> Router {
        let router = api::router(self.clone());
        match &self.authority {
            Some(authority) => router.merge(authority.router_at("/oauth/tokens")),
            None => router,
        }
    }

    /// How many incremental requests were refused for exceeding the per-window limit.
    pub fn incremental_rejections(&self) -> u64 {
        self.lock().incremental_rejections
    }

    /// How many requests were refused for exceeding `account_limit`.
    pub fn account_rejections(&self) -> u64 {
        self.lock().account_rejections
    }

    /// How many export requests were refused for a `start_time` under a minute old.
    pub fn too_recent_rejections(&self) -> u64 {
        self.lock().too_recent_rejections
    }

    /// Makes the users and tickets exports misbehave (`None`, the default: they do not).
    pub fn set_cursor_fault(&self, fault: Option<CursorFault>) {
        self.lock().cursor_fault = fault;
    }

    /// The token authority behind `POST /oauth/tokens`, when `oauth_refresh` is set.
    pub fn authority(&self) -> Option<&TokenAuthority> {
        self.authority.as_ref()
    }

    /// Makes `tickets/{id}/comments.json` answer 404 for this ticket from now on, as
    /// Zendesk does for a ticket the agent can no longer see.
    pub fn deny_comments(&self, id: u64) {
        self.lock().denied_comments.insert(id);
    }

    /// Changes how far the events export lags the ticket export.
    pub fn set_events_lag(&self, secs: i64) {
        self.lock().config.events_lag_secs = secs;
    }

    /// How many ids each `organizations/show_many` call asked for, in call order.
    pub fn organization_lookups(&self) -> Vec<usize> {
        self.lock().organization_lookups.clone()
    }

    /// Deletes an organization: it leaves the export and `show_many` (Zendesk reports
    /// no deletion of its own); `false` if there is no such live organization.
    pub fn delete_organization(&self, id: u64) -> bool {
        let now = self.now();
        let mut state = self.lock();
        let Some(org) = state.organizations.get_mut(&id).filter(|o| o.deleted_at.is_none()) else { return false };
        org.deleted_at = Some(now);
        org.updated_at = now;
        true
    }

    /// Adds `count` organizations all updated in the same second `at`; returns their ids.
    pub fn add_organizations_at(&self, at: DateTime<Utc>, count: usize) -> Vec<u64> {
        let ts = at.timestamp();
        let mut state = self.lock();
        let first = state.organizations.keys().max().map_or(360_000_000_000, |id| id + 1);
        let ids: Vec<u64> = (first..first + count as u64).collect();
        for id in &ids {
            let org = SimOrganization {
                id: *id,
                name: format!("Burst Org {id}"),
                domain_names: vec![format!("burst{id}.example")],
                external_id: None,
                tags: Vec::new(),
                organization_fields: serde_json::json!({}),
                created_at: ts,
                updated_at: ts,
                deleted_at: None,
            };
            state.organizations.insert(*id, org);
        }
        ids
    }

    /// Permanently deletes a ticket: it leaves the ticket export entirely, while its
    /// comments stay in the ticket-events export (events for a ticket no run will see).
    pub fn purge_ticket(&self, id: u64) -> bool {
        let mut state = self.lock();
        let Some(ticket) = state.tickets.remove(&id) else { return false };
        state.orphan_comments.extend(ticket.comments.into_iter().map(|c| (id, c)));
        true
    }

    /// How many ids each `users/show_many` call asked for, in call order.
    pub fn show_many_calls(&self) -> Vec<usize> {
        self.lock().show_many_calls.clone()
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    /// The newest second the exports currently show (what a caught-up cursor points at).
    pub fn export_boundary(&self) -> Option<DateTime<Utc>> {
        let cutoff = self.now() - self.lock().config.withhold_secs;
        let state = self.lock();
        let newest = state.tickets.values().map(|t| t.updated_at).filter(|ts| *ts <= cutoff).max()?;
        DateTime::from_timestamp(newest, 0)
    }

    /// Changes a ticket and stamps it now; `false` if there is no such live ticket.
    pub fn edit_ticket(&self, id: u64, change: impl FnOnce(&mut SimTicket)) -> bool {
        let now = self.now();
        let mut state = self.lock();
        let Some(ticket) = state.tickets.get_mut(&id).filter(|t| t.status != "deleted") else { return false };
        change(ticket);
        ticket.id = id;
        ticket.updated_at = now;
        true
    }

    /// Moves a ticket to another organization (or none).
    pub fn move_ticket(&self, id: u64, organization_id: Option<u64>) -> bool {
        self.edit_ticket(id, |t| t.organization_id = organization_id)
    }

    /// Deletes a ticket: it stays in the export with `status: "deleted"`.
    pub fn delete_ticket(&self, id: u64) -> bool {
        self.edit_ticket(id, |t| t.status = "deleted".into())
    }

    /// Adds a comment (stamps the ticket now).
    pub fn add_comment(&self, ticket_id: u64, html_body: &str, public: bool) -> bool {
        let now = self.now();
        let comment_id = {
            let mut state = self.lock();
            state.next_comment_id += 1;
            state.next_comment_id - 1
        };
        self.edit_ticket(ticket_id, |t| {
            let author_id = t.assignee_id.or(t.requester_id).unwrap_or(0);
            t.comments.push(SimComment {
                id: comment_id,
                author_id,
                html_body: html_body.into(),
                public,
                created_at: now,
            });
        })
    }

    /// Adds a ticket created and updated exactly at `at` (e.g. the export boundary),
    /// copying requester and organization from `like` when given; returns its id.
    pub fn add_ticket_at(
        &self,
        at: DateTime<Utc>,
        subject: &str,
        html_body: &str,
        organization_id: Option<u64>,
    ) -> u64 {
        let ts = at.timestamp();
        let mut state = self.lock();
        let id = state.next_ticket_id;
        state.next_ticket_id += 1;
        let comment_id = state.next_comment_id;
        state.next_comment_id += 1;
        let requester = state
            .users
            .values()
            .find(|u| u.role == "end-user" && u.organization_id == organization_id && organization_id.is_some())
            .map(|u| u.id);
        let ticket = SimTicket {
            id,
            subject: subject.into(),
            description: plain_text(html_body),
            ticket_type: Some("task".into()),
            priority: Some("normal".into()),
            status: "new".into(),
            tags: vec!["feature_request".into()],
            requester_id: requester,
            assignee_id: None,
            organization_id,
            created_at: ts,
            updated_at: ts,
            satisfaction: None,
            comments: vec![SimComment {
                id: comment_id,
                author_id: requester.unwrap_or(0),
                html_body: html_body.into(),
                public: true,
                created_at: ts,
            }],
        };
        state.tickets.insert(id, ticket);
        id
    }

    /// Changes an organization and stamps it now.
    pub fn edit_organization(&self, id: u64, change: impl FnOnce(&mut SimOrganization)) -> bool {
        let now = self.now();
        let mut state = self.lock();
        let Some(org) = state.organizations.get_mut(&id) else { return false };
        change(org);
        org.id = id;
        org.updated_at = now;
        true
    }

    /// Changes a user and stamps it now (`active = false` deletes them).
    pub fn edit_user(&self, id: u64, change: impl FnOnce(&mut SimUser)) -> bool {
        let now = self.now();
        let mut state = self.lock();
        let Some(user) = state.users.get_mut(&id) else { return false };
        change(user);
        user.id = id;
        user.updated_at = now;
        true
    }

    /// One ticket, deleted or not.
    pub fn ticket(&self, id: u64) -> Option<SimTicket> {
        self.lock().tickets.get(&id).cloned()
    }

    pub fn organizations(&self) -> Vec<SimOrganization> {
        self.lock().organizations.values().cloned().collect()
    }

    pub fn users(&self) -> Vec<SimUser> {
        self.lock().users.values().cloned().collect()
    }

    /// Everything that exists now (withheld or not).
    pub fn truth(&self) -> ZendeskTruth {
        let state = self.lock();
        let (deleted, live): (Vec<&SimTicket>, Vec<&SimTicket>) =
            state.tickets.values().partition(|t| t.status == "deleted");
        ZendeskTruth {
            organizations: state
                .organizations
                .values()
                .filter(|o| o.deleted_at.is_none())
                .map(|o| (o.id.to_string(), o.clone()))
                .collect(),
            users: state.users.values().filter(|u| u.active).map(|u| (u.id.to_string(), u.clone())).collect(),
            tickets: live.into_iter().map(|t| (t.id.to_string(), t.clone())).collect(),
            deleted_tickets: deleted.into_iter().map(|t| t.id.to_string()).collect(),
        }
    }
}

/// The plain text Zendesk keeps in `description` for an HTML first comment.
pub(crate) fn plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&").replace("&quot;", "\"").replace("&mdash;", "—")
}

#[cfg(test)]
mod tests;

//! `SlackSim`: Slack's Web API as a feedback connector meets it, traps included.
//!
//! Served methods, under `/api/` as on `https://slack.com/api/` (GET with a query
//! string; a bearer token in `Authorization`): `auth.test`, `conversations.list`,
//! `conversations.info`, `conversations.history`, `conversations.replies` and
//! `users.info`, in the shapes of Slack's OpenAPI examples and SDK recordings
//! (`../shared/fixtures/slack`).
//!
//! Traps: every error is HTTP 200 with `{"ok": false, "error"}` (`not_authed`,
//! `invalid_auth`, `not_in_channel`, `channel_not_found`, `thread_not_found`,
//! `invalid_cursor`, and `missing_scope` with `needed` and `provided`), except a rate
//! limit, which is HTTP 429 with `Retry-After` and `{"ok": false, "error": "ratelimited"}`
//! (see `limits`: one budget per method and tier, and the 2025 non-Marketplace mode
//! with 1 request a window and at most 15 messages a page on history and replies);
//! history pages run newest first and end with `next_cursor: ""`; `oldest` and
//! `latest` are exclusive unless `inclusive=true`; a thread's parent carries
//! `reply_count` and `latest_reply`, and a reply posted to a thread weeks old changes
//! only that parent's `latest_reply` (the parent's own `ts` stays old); a deleted
//! parent with replies turns into a `tombstone`; a deleted message without replies
//! simply vanishes; a reply sent "also to the channel" appears in history as
//! `thread_broadcast`; joins appear as `channel_join`; bots post `bot_message`s
//! without `user`; users without `users:read.email` (or without an address) have no
//! `profile.email`. A bot token sees only the channels its bot was invited to (a public
//! one answers `not_in_channel`, a private one `channel_not_found`); a user token sees
//! every channel. On demand (`set_repeat_cursor`), a channel's history hands back the
//! cursor it was asked with. Invariant: every mutation stamps what it creates with the sim clock's
//! "now" (plus a microsecond counter, so two messages in one second get distinct,
//! increasing `ts`), so a scan's order is exactly Slack's.

mod api;
mod data;
mod limits;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;

use crate::clock::SimClock;

/// Slack's message timestamp: seconds and microseconds, written `"1512085950.000216"`.
/// It is also a message's id within its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts {
    pub secs: i64,
    pub micros: u32,
}

impl Ts {
    pub fn new(secs: i64, micros: u32) -> Self {
        Self { secs, micros: micros.min(999_999) }
    }

    /// Parses `"1512085950.000216"` (or whole seconds, `"1512085950"`).
    pub fn parse(text: &str) -> Option<Self> {
        let (secs, micros) = text.split_once('.').unwrap_or((text, "0"));
        let secs = secs.parse::<i64>().ok()?;
        if micros.is_empty() || micros.len() > 6 || !micros.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let scale = 10_u32.pow(6 - u32::try_from(micros.len()).ok()?);
        Some(Self::new(secs, micros.parse::<u32>().ok()? * scale))
    }
}

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.secs, self.micros)
    }
}

/// Which rate limits the simulated workspace applies to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateMode {
    /// An internal (or Marketplace-approved) app: `conversations.history` and
    /// `conversations.replies` are Tier 3 (50 a window), pages up to 999 messages.
    #[default]
    Internal,
    /// A non-Marketplace distributed app since 2025: those two methods allow 1
    /// request a window, and `limit` is capped (and defaults) to 15.
    NonMarketplace,
}

/// How the simulated workspace is seeded and how strict it is.
#[derive(Debug, Clone)]
pub struct SlackSimConfig {
    pub seed: u64,
    /// Threads seeded in each readable channel (the archived one gets a third).
    pub threads_per_channel: usize,
    /// `xoxb-…`: the bot, a member only of the channels it was invited to.
    pub bot_token: String,
    /// `xoxp-…`: a workspace member who is in every channel.
    pub user_token: String,
    /// The OAuth scopes both tokens carry.
    pub scopes: Vec<String>,
    pub mode: RateMode,
    /// The length of one rate-limit window (Slack: a minute). Measured in real time,
    /// like a client's pacing, so a test may shorten it instead of waiting minutes.
    pub window: Duration,
    /// The workspace URL `auth.test` names (permalinks are built on it).
    pub team_url: String,
}

impl Default for SlackSimConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            threads_per_channel: 24,
            bot_token: "xoxb-sim-bot-token".into(),
            user_token: "xoxp-sim-user-token".into(),
            scopes: [
                "channels:history",
                "groups:history",
                "channels:read",
                "groups:read",
                "users:read",
                "users:read.email",
            ]
            .map(str::to_owned)
            .to_vec(),
            mode: RateMode::Internal,
            window: Duration::from_secs(60),
            team_url: "https://chorus-sim.slack.com/".into(),
        }
    }
}

/// A workspace member, a guest from a Slack Connect partner, or a bot user.
#[derive(Debug, Clone, PartialEq)]
pub struct SimUser {
    pub id: String,
    pub team_id: String,
    pub name: String,
    pub real_name: String,
    /// `None`: the profile shows no address (hidden, or never set).
    pub email: Option<String>,
    pub is_bot: bool,
    pub deleted: bool,
}

/// A message: a top-level one (possibly a thread's parent) or a reply.
#[derive(Debug, Clone, PartialEq)]
pub struct SimMessage {
    pub ts: Ts,
    /// `None` for bot messages.
    pub user: Option<String>,
    pub bot_id: Option<String>,
    /// `bot_message`, `channel_join`, `thread_broadcast`, … (`None`: a plain message).
    pub subtype: Option<String>,
    pub text: String,
    /// `(user, ts)` of the last edit.
    pub edited: Option<(String, Ts)>,
    /// Replies by `ts` (a parent's only).
    pub replies: BTreeMap<Ts, SimMessage>,
    /// A deleted parent whose replies live on: shown as a `tombstone`.
    pub deleted: bool,
}

impl SimMessage {
    fn new(ts: Ts, user: Option<&str>, text: &str) -> Self {
        Self {
            ts,
            user: user.map(str::to_owned),
            bot_id: None,
            subtype: None,
            text: text.to_owned(),
            edited: None,
            replies: BTreeMap::new(),
            deleted: false,
        }
    }

    /// The newest reply's `ts`.
    pub fn latest_reply(&self) -> Option<Ts> {
        self.replies.keys().next_back().copied()
    }
}

/// A channel and its messages.
#[derive(Debug, Clone, PartialEq)]
pub struct SimChannel {
    pub id: String,
    pub name: String,
    pub is_private: bool,
    pub is_archived: bool,
    /// A Slack Connect channel shared with another organization.
    pub is_ext_shared: bool,
    /// Whether the bot was invited.
    pub bot_member: bool,
    pub created: i64,
    pub purpose: String,
    pub messages: BTreeMap<Ts, SimMessage>,
}

#[derive(Debug)]
struct State {
    config: SlackSimConfig,
    users: BTreeMap<String, SimUser>,
    channels: BTreeMap<String, SimChannel>,
    /// The last `ts` handed out, so the next one is strictly later.
    last_ts: Ts,
    /// Arrivals per method within its window (real time).
    hits: BTreeMap<&'static str, VecDeque<Instant>>,
    rejections: BTreeMap<&'static str, u64>,
    /// Requests answered per method (refusals included).
    calls: BTreeMap<&'static str, u64>,
    /// The largest `limit` a history or replies page was served with.
    largest_page: usize,
    /// Channels whose history pages asked with a cursor hand that same cursor back.
    repeat_cursor: BTreeSet<String>,
    vanishing_threads: BTreeSet<String>,
}

/// The simulator: data, mutations and the router. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SlackSim {
    inner: Arc<Mutex<State>>,
    clock: SimClock,
}

/// A thread (or a lone message) as a synced store must show it.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthThread {
    pub channel: String,
    pub parent: SimMessage,
}

/// What a synced store must equal: the live top-level messages of the given channels
/// (joins left out), by `(channel id, ts)`, and the parents deleted while their
/// replies live on (tombstones).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlackTruth {
    pub threads: BTreeMap<(String, Ts), TruthThread>,
    pub tombstones: BTreeSet<(String, Ts)>,
    pub users: BTreeMap<String, SimUser>,
}

/// The demo customers' domains: Slack users there resolve to those accounts.
pub const CUSTOMER_DOMAINS: &[&str] =
    &["acme.example", "globex.example", "initech.example", "umbrella.example", "hooli.example", "stark.example"];

/// Channel ids of the seeded workspace.
pub mod channels {
    /// `#feature-requests`.
    pub const FEATURE_REQUESTS: &str = "C01FEATREQ";
    /// `#bugs`.
    pub const BUGS: &str = "C02BUGS";
    /// `#ext-globex`, a Slack Connect channel shared with Globex.
    pub const GLOBEX_SHARED: &str = "C03GLOBEX";
    /// `#old-roadmap`, archived.
    pub const ARCHIVED: &str = "C04OLDROAD";
    /// `#random`, which the bot was never invited to.
    pub const NOT_INVITED: &str = "C05RANDOM";
}

impl SlackSim {
    /// A seeded workspace on `clock`; everything seeded is older than an hour.
    pub fn new(config: SlackSimConfig, clock: SimClock) -> Self {
        let now = clock.now().timestamp();
        let seeded = data::workspace(config.seed, config.threads_per_channel, now - 3_600);
        let last_ts = seeded
            .channels
            .values()
            .flat_map(|c| c.messages.values().flat_map(|m| std::iter::once(m.ts).chain(m.replies.keys().copied())))
            .max()
            .unwrap_or(Ts::new(0, 0));
        let state = State {
            config,
            users: seeded.users.into_iter().map(|u| (u.id.clone(), u)).collect(),
            channels: seeded.channels,
            last_ts,
            hits: BTreeMap::new(),
            rejections: BTreeMap::new(),
            calls: BTreeMap::new(),
            largest_page: 0,
            repeat_cursor: BTreeSet::new(),
            vanishing_threads: BTreeSet::new(),
        };
        Self { inner: Arc::new(Mutex::new(state)), clock }
    }

    /// The default workspace on the system clock.
    pub fn seeded(seed: u64) -> Self {
        Self::new(SlackSimConfig { seed, ..SlackSimConfig::default() }, SimClock::system())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    pub fn config(&self) -> SlackSimConfig {
        self.lock().config.clone()
    }

    /// The methods listed in the module docs, under `/api/`.
    pub fn router(&self) -> Router {
        api::router(self.clone())
    }

    /// Switches between the internal and the non-Marketplace limits.
    pub fn set_mode(&self, mode: RateMode) {
        self.lock().config.mode = mode;
    }

    /// Replaces the scopes the tokens carry (e.g. to drop `channels:history`).
    pub fn set_scopes(&self, scopes: &[&str]) {
        self.lock().config.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Invites the bot to a channel (or removes it).
    pub fn set_bot_member(&self, channel: &str, member: bool) -> bool {
        let mut state = self.lock();
        let Some(found) = state.channels.get_mut(channel) else { return false };
        found.bot_member = member;
        true
    }

    /// Arms (or disarms) the repeated-cursor trap on `channel`: every history page
    /// asked with a cursor is served, with `has_more: true` and the very cursor it was
    /// asked with as its `next_cursor`, so a client that follows cursors without
    /// remembering them reads that page forever.
    pub fn set_repeat_cursor(&self, channel: &str, on: bool) {
        let mut state = self.lock();
        if on {
            state.repeat_cursor.insert(channel.to_owned());
        } else {
            state.repeat_cursor.remove(channel);
        }
    }

    /// While on, `conversations.replies` answers `thread_not_found` for every thread of
    /// `channel` that history still lists: the race of a thread deleted between the
    /// history page that named it and the replies call that reads it.
    pub fn set_vanishing_threads(&self, channel: &str, on: bool) {
        let mut state = self.lock();
        if on {
            state.vanishing_threads.insert(channel.to_owned());
        } else {
            state.vanishing_threads.remove(channel);
        }
    }

    /// Requests refused with 429, by method.
    pub fn rejections(&self) -> BTreeMap<&'static str, u64> {
        self.lock().rejections.clone()
    }

    /// Requests answered, by method.
    pub fn calls(&self) -> BTreeMap<&'static str, u64> {
        self.lock().calls.clone()
    }

    /// The largest number of messages a history or replies page held.
    pub fn largest_page(&self) -> usize {
        self.lock().largest_page
    }

    /// A new, strictly increasing `ts` at the clock's now.
    fn next_ts(state: &mut State, now: i64) -> Ts {
        let candidate = Ts::new(now, 100);
        let ts = if candidate > state.last_ts {
            candidate
        } else if state.last_ts.micros < 999_999 {
            Ts::new(state.last_ts.secs, state.last_ts.micros + 1)
        } else {
            Ts::new(state.last_ts.secs + 1, 0)
        };
        state.last_ts = ts;
        ts
    }

    /// Posts a top-level message now; `None` if there is no such channel.
    pub fn post(&self, channel: &str, user: &str, text: &str) -> Option<Ts> {
        let now = self.clock.now().timestamp();
        let mut state = self.lock();
        let ts = Self::next_ts(&mut state, now);
        let found = state.channels.get_mut(channel)?;
        found.messages.insert(ts, SimMessage::new(ts, Some(user), text));
        Some(ts)
    }

    /// Replies to the thread of `parent` now (`broadcast`: also to the channel, as
    /// `thread_broadcast`); `None` if there is no such live message.
    pub fn reply(&self, channel: &str, parent: Ts, user: &str, text: &str, broadcast: bool) -> Option<Ts> {
        let now = self.clock.now().timestamp();
        let mut state = self.lock();
        let ts = Self::next_ts(&mut state, now);
        let found = state.channels.get_mut(channel)?.messages.get_mut(&parent).filter(|m| !m.deleted)?;
        let mut reply = SimMessage::new(ts, Some(user), text);
        if broadcast {
            reply.subtype = Some("thread_broadcast".into());
        }
        found.replies.insert(ts, reply);
        Some(ts)
    }

    /// Edits a message or a reply (`thread: Some(parent)`) now.
    pub fn edit(&self, channel: &str, thread: Option<Ts>, ts: Ts, text: &str) -> bool {
        let now = self.clock.now().timestamp();
        let mut state = self.lock();
        let edited_at = Self::next_ts(&mut state, now);
        let Some(found) = state.channels.get_mut(channel) else { return false };
        let message = match thread {
            Some(parent) => found.messages.get_mut(&parent).and_then(|p| p.replies.get_mut(&ts)),
            None => found.messages.get_mut(&ts),
        };
        let Some(message) = message.filter(|m| !m.deleted) else { return false };
        message.text = text.to_owned();
        message.edited = Some((message.user.clone().unwrap_or_default(), edited_at));
        true
    }

    /// Deletes a message or a reply (`thread: Some(parent)`). A parent with replies
    /// becomes a tombstone; anything else vanishes.
    pub fn delete(&self, channel: &str, thread: Option<Ts>, ts: Ts) -> bool {
        let mut state = self.lock();
        let Some(found) = state.channels.get_mut(channel) else { return false };
        match thread {
            Some(parent) => found.messages.get_mut(&parent).and_then(|p| p.replies.remove(&ts)).is_some(),
            None => match found.messages.get_mut(&ts) {
                Some(message) if !message.replies.is_empty() => {
                    message.deleted = true;
                    true
                }
                Some(_) => found.messages.remove(&ts).is_some(),
                None => false,
            },
        }
    }

    /// One channel as it is now.
    pub fn channel(&self, id: &str) -> Option<SimChannel> {
        self.lock().channels.get(id).cloned()
    }

    pub fn users(&self) -> Vec<SimUser> {
        self.lock().users.values().cloned().collect()
    }

    /// The live top-level messages of `channels` that a feedback connector keeps (not
    /// joins), and the tombstoned parents apart.
    pub fn truth(&self, channels: &[&str]) -> SlackTruth {
        let state = self.lock();
        let mut truth = SlackTruth { users: state.users.clone(), ..SlackTruth::default() };
        for id in channels {
            let Some(channel) = state.channels.get(*id) else { continue };
            for message in channel.messages.values().filter(|m| m.subtype.as_deref() != Some("channel_join")) {
                let key = (channel.id.clone(), message.ts);
                if message.deleted {
                    truth.tombstones.insert(key);
                } else {
                    truth.threads.insert(key, TruthThread { channel: channel.id.clone(), parent: message.clone() });
                }
            }
        }
        truth
    }

    /// Ids of the channels the bot can read.
    pub fn readable_channels(&self) -> BTreeSet<String> {
        self.lock().channels.values().filter(|c| c.bot_member).map(|c| c.id.clone()).collect()
    }
}

#[cfg(test)]
mod tests;

//! The HTTP face of `SlackSim`: auth and scopes, the per-method limits (`limits`), and
//! the six methods in the JSON shapes of Slack's examples and SDK recordings.
//!
//! Invariant: whatever goes wrong short of a rate limit is HTTP 200 with
//! `{"ok": false, "error"}`, as Slack answers; a history page holds top-level messages
//! (and broadcast replies) newest first, a replies page the parent then its replies
//! oldest first, and a cursor resumes exactly at the next message, so a client that
//! follows `next_cursor` until it is `""` sees every message of the range once.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};

use super::data::HOME_TEAM;
use super::{limits, SimChannel, SimMessage, SimUser, SlackSim, State as SimState, Ts};

type Params = Query<HashMap<String, String>>;

pub(super) fn router(sim: SlackSim) -> Router {
    Router::new()
        .route("/api/auth.test", get(auth_test))
        .route("/api/conversations.list", get(conversations_list))
        .route("/api/conversations.info", get(conversations_info))
        .route("/api/conversations.history", get(conversations_history))
        .route("/api/conversations.replies", get(conversations_replies))
        .route("/api/users.info", get(users_info))
        .with_state(sim)
}

/// Slack's error answer: HTTP 200, `ok: false`.
fn fail(error: &str) -> Response {
    Json(json!({"ok": false, "error": error})).into_response()
}

fn missing_scope(needed: &str, provided: &[String]) -> Response {
    Json(json!({"ok": false, "error": "missing_scope", "needed": needed, "provided": provided.join(",")}))
        .into_response()
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Bot,
    User,
}

/// Checks the token and counts the request against the method's budget; the answer
/// to send instead of serving, if any.
fn admit(state: &mut SimState, headers: &HeaderMap, method: &'static str) -> Result<Caller, Box<Response>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let caller = match token {
        None | Some("") => return Err(Box::new(fail("not_authed"))),
        Some(t) if t == state.config.bot_token => Caller::Bot,
        Some(t) if t == state.config.user_token => Caller::User,
        Some(_) => return Err(Box::new(fail("invalid_auth"))),
    };
    if let Some(wait) = limits::gate(state, method) {
        return Err(Box::new(limits::too_many(wait)));
    }
    Ok(caller)
}

fn require_scope(state: &SimState, needed: &str) -> Result<(), Box<Response>> {
    if state.config.scopes.iter().any(|s| s == needed) {
        Ok(())
    } else {
        Err(Box::new(missing_scope(needed, &state.config.scopes)))
    }
}

/// The channel, if this caller may read it: a bot must have been invited (Slack
/// answers `not_in_channel` for a public channel, `channel_not_found` for a private one).
fn readable<'a>(
    state: &'a SimState,
    caller: Caller,
    id: Option<&String>,
    history: bool,
) -> Result<&'a SimChannel, Box<Response>> {
    let Some(channel) = id.and_then(|id| state.channels.get(id)) else {
        return Err(Box::new(fail("channel_not_found")));
    };
    let (read, history_scope) =
        if channel.is_private { ("groups:read", "groups:history") } else { ("channels:read", "channels:history") };
    require_scope(state, if history { history_scope } else { read })?;
    if caller == Caller::Bot && !channel.bot_member {
        return Err(Box::new(fail(if channel.is_private || !history {
            "channel_not_found"
        } else {
            "not_in_channel"
        })));
    }
    Ok(channel)
}

fn encode_cursor(prefix: &str, value: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{prefix}:{value}"))
}

fn decode_cursor(prefix: &str, cursor: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(prefix)?.strip_prefix(':').map(str::to_owned)
}

fn ts_cursor(ts: Ts) -> String {
    encode_cursor("next_ts", &format!("{}{:06}", ts.secs, ts.micros))
}

fn parse_ts_cursor(cursor: &str) -> Option<Ts> {
    let digits = decode_cursor("next_ts", cursor)?;
    if digits.len() < 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (secs, micros) = digits.split_at(digits.len() - 6);
    Some(Ts::new(secs.parse().ok()?, micros.parse().ok()?))
}

async fn auth_test(State(sim): State<SlackSim>, headers: HeaderMap) -> Response {
    let mut state = sim.lock();
    let caller = match admit(&mut state, &headers, "auth.test") {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let mut body = json!({
        "ok": true,
        "url": state.config.team_url,
        "team": "Chorus Sim",
        "team_id": HOME_TEAM,
        "is_enterprise_install": false,
    });
    if caller == Caller::Bot {
        body["user"] = json!("chorus");
        body["user_id"] = json!("U0CHORUSBOT");
        body["bot_id"] = json!("B0CHORUSBOT");
    } else {
        body["user"] = json!("priya.natarajan");
        body["user_id"] = json!(super::data::PM_USER);
    }
    Json(body).into_response()
}

fn channel_json(channel: &SimChannel, caller: Caller) -> Value {
    let mut teams = vec![HOME_TEAM];
    if channel.is_ext_shared {
        teams.push(super::data::GLOBEX_TEAM);
    }
    json!({
        "id": channel.id,
        "name": channel.name,
        "is_channel": !channel.is_private,
        "is_group": channel.is_private,
        "is_im": false,
        "is_mpim": false,
        "is_private": channel.is_private,
        "created": channel.created,
        "is_archived": channel.is_archived,
        "is_general": false,
        "unlinked": 0,
        "name_normalized": channel.name,
        "is_shared": channel.is_ext_shared,
        "is_ext_shared": channel.is_ext_shared,
        "is_org_shared": false,
        "shared_team_ids": teams,
        "pending_shared": [],
        "pending_connected_team_ids": [],
        "is_pending_ext_shared": false,
        "is_member": caller == Caller::User || channel.bot_member,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": channel.purpose, "creator": "", "last_set": 0},
        "previous_names": [],
        "num_members": 8,
    })
}

async fn conversations_list(State(sim): State<SlackSim>, headers: HeaderMap, Query(params): Params) -> Response {
    let mut state = sim.lock();
    let caller = match admit(&mut state, &headers, "conversations.list") {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let types = params.get("types").map_or("public_channel", String::as_str);
    let public = types.split(',').any(|t| t.trim() == "public_channel");
    let private = types.split(',').any(|t| t.trim() == "private_channel");
    if public {
        if let Err(answer) = require_scope(&state, "channels:read") {
            return *answer;
        }
    }
    if private {
        if let Err(answer) = require_scope(&state, "groups:read") {
            return *answer;
        }
    }
    let exclude_archived = params.get("exclude_archived").is_some_and(|v| v == "true" || v == "1");
    let limit = params.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(100).clamp(1, 1000);
    let after = match params.get("cursor").filter(|c| !c.is_empty()) {
        Some(cursor) => match decode_cursor("next_id", cursor) {
            Some(id) => Some(id),
            None => return fail("invalid_cursor"),
        },
        None => None,
    };
    let visible: Vec<&SimChannel> = state
        .channels
        .values()
        .filter(|c| if c.is_private { private && (caller == Caller::User || c.bot_member) } else { public })
        .filter(|c| !(exclude_archived && c.is_archived))
        .filter(|c| after.as_ref().is_none_or(|a| c.id >= *a))
        .collect();
    let page: Vec<Value> = visible.iter().take(limit).map(|c| channel_json(c, caller)).collect();
    let next = visible.get(limit).map_or(String::new(), |c| encode_cursor("next_id", &c.id));
    Json(json!({"ok": true, "channels": page, "response_metadata": {"next_cursor": next}})).into_response()
}

async fn conversations_info(State(sim): State<SlackSim>, headers: HeaderMap, Query(params): Params) -> Response {
    let mut state = sim.lock();
    let caller = match admit(&mut state, &headers, "conversations.info") {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    match readable(&state, caller, params.get("channel"), false) {
        Ok(channel) => Json(json!({"ok": true, "channel": channel_json(channel, caller)})).into_response(),
        Err(answer) => *answer,
    }
}

/// A top-level message as history shows it (a tombstone for a deleted parent).
fn message_json(message: &SimMessage, state: &SimState) -> Value {
    let team = message.user.as_ref().and_then(|u| state.users.get(u)).map_or(HOME_TEAM, |u| u.team_id.as_str());
    let mut body = if message.deleted {
        json!({
            "type": "message",
            "subtype": "tombstone",
            "text": "This message was deleted.",
            "user": "USLACKBOT",
            "hidden": true,
            "ts": message.ts.to_string(),
        })
    } else {
        json!({"type": "message", "text": message.text, "ts": message.ts.to_string()})
    };
    if !message.deleted {
        match (&message.user, &message.bot_id) {
            (_, Some(bot)) => {
                body["bot_id"] = json!(bot);
                body["username"] = json!("feedback-form");
            }
            (Some(user), None) => {
                body["user"] = json!(user);
                body["team"] = json!(team);
                body["client_msg_id"] = json!(format!("{:08x}-sim", message.ts.secs ^ i64::from(message.ts.micros)));
            }
            (None, None) => {}
        }
        if let Some(subtype) = &message.subtype {
            body["subtype"] = json!(subtype);
        }
        if let Some((user, ts)) = &message.edited {
            body["edited"] = json!({"user": user, "ts": ts.to_string()});
        }
    }
    if let Some(latest) = message.latest_reply() {
        let mut reply_users: Vec<&str> = message.replies.values().filter_map(|r| r.user.as_deref()).collect();
        reply_users.sort_unstable();
        reply_users.dedup();
        body["thread_ts"] = json!(message.ts.to_string());
        body["reply_count"] = json!(message.replies.len());
        body["reply_users_count"] = json!(reply_users.len());
        body["reply_users"] = json!(reply_users);
        body["latest_reply"] = json!(latest.to_string());
        body["is_locked"] = json!(false);
        body["subscribed"] = json!(false);
    }
    body
}

fn reply_json(parent: &SimMessage, reply: &SimMessage) -> Value {
    let mut body = json!({
        "type": "message",
        "user": reply.user,
        "text": reply.text,
        "ts": reply.ts.to_string(),
        "thread_ts": parent.ts.to_string(),
        "parent_user_id": if parent.deleted { "USLACKBOT" } else { parent.user.as_deref().unwrap_or("USLACKBOT") },
    });
    if let Some(subtype) = &reply.subtype {
        body["subtype"] = json!(subtype);
    }
    if let Some((user, ts)) = &reply.edited {
        body["edited"] = json!({"user": user, "ts": ts.to_string()});
    }
    body
}

/// The `oldest`/`latest`/`inclusive` range of a history or replies request.
struct Range {
    oldest: Option<Ts>,
    latest: Option<Ts>,
    inclusive: bool,
}

impl Range {
    fn from(params: &HashMap<String, String>) -> Result<Self, Box<Response>> {
        let bound = |name: &str| match params.get(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) if v == "0" => Ok(None),
            Some(v) => Ts::parse(v).map(Some).ok_or_else(|| Box::new(fail("invalid_ts_oldest"))),
        };
        Ok(Self {
            oldest: bound("oldest")?,
            latest: bound("latest")?,
            inclusive: params.get("inclusive").is_some_and(|v| v == "true" || v == "1"),
        })
    }

    fn contains(&self, ts: Ts) -> bool {
        let above = self.oldest.is_none_or(|o| if self.inclusive { ts >= o } else { ts > o });
        let below = self.latest.is_none_or(|l| if self.inclusive { ts <= l } else { ts < l });
        above && below
    }
}

/// A history or replies request, admitted: who asks, the range, where its cursor
/// resumes and the page size the current mode allows.
struct PageRequest {
    caller: Caller,
    range: Range,
    cursor: Option<Ts>,
    limit: usize,
}

impl PageRequest {
    /// Admits the caller to `method`, then reads the paging parameters.
    fn admit(
        state: &mut SimState,
        headers: &HeaderMap,
        params: &HashMap<String, String>,
        method: &'static str,
    ) -> Result<Self, Box<Response>> {
        let caller = admit(state, headers, method)?;
        let range = Range::from(params)?;
        let cursor = match params.get("cursor").filter(|c| !c.is_empty()) {
            Some(cursor) => Some(parse_ts_cursor(cursor).ok_or_else(|| Box::new(fail("invalid_cursor")))?),
            None => None,
        };
        let (cap, default) = limits::page_cap(state.config.mode);
        let limit = params.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| *l > 0).unwrap_or(default);
        Ok(Self { caller, range, cursor, limit: limit.min(cap) })
    }
}

async fn conversations_history(State(sim): State<SlackSim>, headers: HeaderMap, Query(params): Params) -> Response {
    let mut state = sim.lock();
    let PageRequest { caller, range, cursor: below, limit } =
        match PageRequest::admit(&mut state, &headers, &params, "conversations.history") {
            Ok(request) => request,
            Err(answer) => return *answer,
        };
    let channel = match readable(&state, caller, params.get("channel"), true) {
        Ok(channel) => channel,
        Err(answer) => return *answer,
    };
    // The repeated-cursor trap: a page asked with a cursor hands that cursor back.
    let repeat = params.get("cursor").filter(|_| below.is_some() && state.repeat_cursor.contains(&channel.id)).cloned();
    // Top-level messages and the replies also sent to the channel, newest first.
    let mut entries: Vec<Value> = Vec::new();
    let mut listed: Vec<(Ts, Option<&SimMessage>, &SimMessage)> = Vec::new();
    for message in channel.messages.values() {
        listed.push((message.ts, None, message));
        for reply in message.replies.values().filter(|r| r.subtype.as_deref() == Some("thread_broadcast")) {
            listed.push((reply.ts, Some(message), reply));
        }
    }
    listed.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    let mut in_range = listed.into_iter().filter(|(ts, _, _)| range.contains(*ts) && below.is_none_or(|b| *ts <= b));
    let mut next = None;
    for (ts, parent, message) in in_range.by_ref() {
        if entries.len() == limit {
            next = Some(ts);
            break;
        }
        entries.push(match parent {
            Some(parent) => {
                let mut body = reply_json(parent, message);
                body["root"] = message_json(parent, &state);
                body
            }
            None => message_json(message, &state),
        });
    }
    let served = entries.len();
    state.largest_page = state.largest_page.max(served);
    let has_more = next.is_some() || repeat.is_some();
    let cursor = repeat.or_else(|| next.map(ts_cursor)).unwrap_or_default();
    Json(json!({
        "ok": true,
        "messages": entries,
        "has_more": has_more,
        "pin_count": 0,
        "channel_actions_ts": null,
        "channel_actions_count": 0,
        "response_metadata": {"next_cursor": cursor},
    }))
    .into_response()
}

async fn conversations_replies(State(sim): State<SlackSim>, headers: HeaderMap, Query(params): Params) -> Response {
    let mut state = sim.lock();
    let PageRequest { caller, range, cursor: from, limit } =
        match PageRequest::admit(&mut state, &headers, &params, "conversations.replies") {
            Ok(request) => request,
            Err(answer) => return *answer,
        };
    let channel = match readable(&state, caller, params.get("channel"), true) {
        Ok(channel) => channel,
        Err(answer) => return *answer,
    };
    let parent = params.get("ts").and_then(|ts| Ts::parse(ts)).and_then(|ts| channel.messages.get(&ts));
    let Some(parent) = parent.filter(|_| !state.vanishing_threads.contains(&channel.id)) else {
        return fail("thread_not_found");
    };
    let mut entries = Vec::new();
    if from.is_none() {
        entries.push(message_json(parent, &state));
    }
    let mut next = None;
    let replies = parent.replies.values().filter(|r| range.contains(r.ts) && from.is_none_or(|f| r.ts >= f));
    for reply in replies {
        if entries.len() == limit {
            next = Some(reply.ts);
            break;
        }
        entries.push(reply_json(parent, reply));
    }
    state.largest_page = state.largest_page.max(entries.len());
    let cursor = next.map(ts_cursor).unwrap_or_default();
    Json(json!({
        "ok": true,
        "messages": entries,
        "has_more": next.is_some(),
        "response_metadata": {"next_cursor": cursor},
    }))
    .into_response()
}

fn user_json(user: &SimUser, with_email: bool) -> Value {
    let mut profile = json!({
        "avatar_hash": "g0sim",
        "display_name": user.name,
        "display_name_normalized": user.name,
        "real_name": user.real_name,
        "real_name_normalized": user.real_name,
        "status_emoji": "",
        "status_text": "",
        "team": user.team_id,
        "image_48": "https://avatars.slack-edge.example/48.png",
    });
    if let Some(email) = user.email.as_ref().filter(|_| with_email && !user.is_bot) {
        profile["email"] = json!(email);
    }
    if user.is_bot {
        profile["bot_id"] = json!(super::data::BOT_ID);
        profile["always_active"] = json!(true);
    }
    json!({
        "id": user.id,
        "team_id": user.team_id,
        "name": user.name,
        "deleted": user.deleted,
        "color": "9f69e7",
        "real_name": user.real_name,
        "tz": "Europe/Berlin",
        "tz_label": "Central European Time",
        "tz_offset": 3600,
        "profile": profile,
        "is_admin": false,
        "is_owner": false,
        "is_primary_owner": false,
        "is_restricted": user.team_id != HOME_TEAM,
        "is_ultra_restricted": false,
        "is_bot": user.is_bot,
        "is_app_user": false,
        "updated": 1_700_000_000,
        "is_email_confirmed": user.email.is_some(),
    })
}

async fn users_info(State(sim): State<SlackSim>, headers: HeaderMap, Query(params): Params) -> Response {
    let mut state = sim.lock();
    if let Err(answer) = admit(&mut state, &headers, "users.info") {
        return *answer;
    }
    if let Err(answer) = require_scope(&state, "users:read") {
        return *answer;
    }
    let with_email = state.config.scopes.iter().any(|s| s == "users:read.email");
    match params.get("user").and_then(|id| state.users.get(id)) {
        Some(user) => Json(json!({"ok": true, "user": user_json(user, with_email)})).into_response(),
        None => fail("user_not_found"),
    }
}

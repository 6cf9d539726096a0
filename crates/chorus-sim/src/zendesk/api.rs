//! The HTTP face of `ZendeskSim`: auth, the rate limits (`limits`), the exports,
//! comments, `users/show_many`, `organizations/show_many` and `users/me`, in the JSON shapes of the real recordings.
//!
//! Invariant: an export page only ever contains records updated at or before
//! `now - withhold_secs`, ordered by `(updated second, id)`; a `cursor` request resumes
//! at the record the cursor names (repeating it) and a `start_time` request at the
//! first record of that second. A `start_time` less than a minute before the sim
//! clock's "now" is refused with Zendesk's 400, and every answer's `Date` header is
//! the sim clock, so a client can tell the server's time.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use chrono::DateTime;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{limits, CursorFault, SimOrganization, SimTicket, SimUser, ZendeskSim};

pub(super) fn router(sim: ZendeskSim) -> Router {
    Router::new()
        .route("/api/v2/incremental/tickets/cursor.json", get(tickets_export))
        .route("/api/v2/incremental/users/cursor.json", get(users_export))
        .route("/api/v2/incremental/organizations.json", get(organizations_export))
        .route("/api/v2/tickets/{id}/comments.json", get(comments))
        .route("/api/v2/incremental/ticket_events.json", get(super::events::ticket_events))
        .route("/api/v2/users/show_many.json", get(show_many))
        .route("/api/v2/organizations/show_many.json", get(organizations_show_many))
        .route("/api/v2/users/me.json", get(me))
        .layer(axum::middleware::map_response_with_state(sim.clone(), date_header))
        .with_state(sim)
}

/// Every answer carries the simulated clock in `Date`, as a server tells its own time.
async fn date_header(State(sim): State<ZendeskSim>, mut response: Response) -> Response {
    let date = sim.clock.now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(value) = header::HeaderValue::from_str(&date) {
        response.headers_mut().insert(header::DATE, value);
    }
    response
}

/// Zendesk refuses an export `start_time` less than this many seconds before its "now".
const MIN_START_TIME_AGE: i64 = 60;

/// The `start_time` of a time-based export request, or its 400 answer (counting a
/// refusal for a `start_time` under a minute old).
pub(super) fn time_based_start(
    state: &mut super::State,
    start_time: Option<&str>,
    now: i64,
) -> Result<i64, Box<Response>> {
    let Some(start) = start_time.and_then(|s| s.parse::<i64>().ok()) else {
        return Err(Box::new(error(StatusCode::BAD_REQUEST, "InvalidValue", "start_time is required")));
    };
    match too_recent(state, start_time, now) {
        Some(refusal) => Err(Box::new(refusal)),
        None => Ok(start),
    }
}

/// How many of `seconds` (sorted) one time-based page takes: `size`, then on to the
/// end of the last second taken, as Zendesk never splits a second between pages.
pub(super) fn whole_seconds(seconds: &[i64], size: usize) -> usize {
    let mut take = seconds.len().min(size);
    while take > 0 && take < seconds.len() && seconds[take] == seconds[take - 1] {
        take += 1;
    }
    take
}

/// The 400 for a `start_time` under a minute old (counted), or `None`. A `start_time`
/// that is not a number is left to the caller's own check.
fn too_recent(state: &mut super::State, start_time: Option<&str>, now: i64) -> Option<Response> {
    let start = start_time?.parse::<i64>().ok()?;
    if start <= now - MIN_START_TIME_AGE {
        return None;
    }
    state.too_recent_rejections += 1;
    Some(error(StatusCode::BAD_REQUEST, "InvalidValue", "Too recent start_time. Use a start_time older than 1 minute"))
}

#[derive(Debug, Deserialize)]
pub(super) struct ExportQuery {
    pub(super) start_time: Option<String>,
    cursor: Option<String>,
    per_page: Option<String>,
    pub(super) include: Option<String>,
}

pub(super) fn time(ts: i64) -> String {
    DateTime::from_timestamp(ts, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

pub(super) fn error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "description": description}))).into_response()
}

/// Which credentials a request carried, if valid.
enum Caller {
    Valid,
    Anonymous,
    Refused,
}

fn caller(sim: &ZendeskSim, headers: &HeaderMap) -> Caller {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Caller::Anonymous;
    };
    let config = sim.lock().config.clone();
    let Some((scheme, credential)) = value.split_once(' ') else { return Caller::Refused };
    let valid = if scheme.eq_ignore_ascii_case("bearer") {
        let token = credential.trim();
        token == config.oauth_token || sim.authority.as_ref().is_some_and(|a| a.check_bearer(token).is_ok())
    } else if scheme.eq_ignore_ascii_case("basic") {
        let expected = format!("{}/token:{}", config.email, config.api_token);
        base64::engine::general_purpose::STANDARD.decode(credential.trim()).ok().as_deref() == Some(expected.as_bytes())
    } else {
        false
    };
    if valid {
        Caller::Valid
    } else {
        Caller::Refused
    }
}

fn refused() -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({"error": "Couldn't authenticate you"}))).into_response()
}

/// Counts the request against the account budget, then checks auth, the account
/// limit and (for exports) the incremental limit, then `build`s the answer; the budget
/// headers go on every answer.
pub(super) fn guarded(
    sim: &ZendeskSim,
    headers: &HeaderMap,
    incremental: bool,
    build: impl FnOnce() -> Response,
) -> Response {
    let authorized = matches!(caller(sim, headers), Caller::Valid);
    // The guard must be dropped before `build` locks again.
    let (budget, refusal) = {
        let mut state = sim.lock();
        let budget = limits::count_request(&mut state);
        let refusal = if !authorized {
            Some(refused())
        } else if budget.exceeded() {
            state.account_rejections += 1;
            Some(limits::too_many("Number of allowed API requests per minute exceeded", budget.resets_in()))
        } else if incremental {
            limits::incremental_gate(&mut state).map(|wait| {
                limits::too_many("Number of allowed incremental export API requests per minute exceeded", wait)
            })
        } else {
            None
        };
        (budget, refusal)
    };
    limits::with_headers(refusal.unwrap_or_else(build), &budget)
}

fn encode_cursor(ts: i64, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{ts}.0||{id}|"))
}

fn decode_cursor(cursor: &str) -> Option<(i64, u64)> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(cursor.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split('|');
    let ts = parts.next()?.split('.').next()?.parse().ok()?;
    let id = parts.nth(1)?.parse().ok()?;
    Some((ts, id))
}

/// A 400 answer: `{"error", "description"}`.
struct BadRequest(&'static str, &'static str);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.0, self.1)
    }
}

fn per_page(raw: Option<&str>) -> Result<usize, BadRequest> {
    match raw {
        None => Ok(1000),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(BadRequest("InvalidPaginationParameter", "per_page must be 1..1000")),
        },
    }
}

/// One cursor-export page: the records, the key the next cursor names, and whether
/// nothing is left after it.
struct KeyedPage<T> {
    items: Vec<T>,
    last: Option<(i64, u64)>,
    end_of_stream: bool,
}

/// A cursor-based page: `(records, after key, end_of_stream)` from `(ts, id)` keys.
fn cursor_page<T: Clone>(
    mut rows: Vec<(i64, u64, T)>,
    query: &ExportQuery,
    cutoff: i64,
) -> Result<KeyedPage<T>, BadRequest> {
    let size = per_page(query.per_page.as_deref())?;
    rows.retain(|(ts, _, _)| *ts <= cutoff);
    rows.sort_by_key(|(ts, id, _)| (*ts, *id));
    let (from, repeat) = match (&query.cursor, &query.start_time) {
        (Some(cursor), _) => match decode_cursor(cursor) {
            Some(key) => (key, true),
            None => return Err(BadRequest("InvalidCursor", "cursor is invalid")),
        },
        (None, Some(start)) => match start.parse::<i64>() {
            Ok(start) => ((start, 0), false),
            Err(_) => return Err(BadRequest("InvalidValue", "start_time must be a unix time")),
        },
        (None, None) => return Err(BadRequest("InvalidValue", "start_time or cursor is required")),
    };
    let repeated = rows.iter().find(|(ts, id, _)| repeat && (*ts, *id) == from).map(|(_, _, t)| t.clone());
    let after: Vec<&(i64, u64, T)> = rows.iter().filter(|(ts, id, _)| (*ts, *id) > from).collect();
    let end_of_stream = after.len() <= size;
    let taken: Vec<&(i64, u64, T)> = after.into_iter().take(size).collect();
    let last = taken.last().map(|(ts, id, _)| (*ts, *id)).or(repeat.then_some(from));
    let mut page: Vec<T> = repeated.into_iter().collect();
    page.extend(taken.into_iter().map(|(_, _, t)| t.clone()));
    Ok(KeyedPage { items: page, last, end_of_stream })
}

fn cursor_body(entity: &str, canonical: &str, items: Vec<Value>, last: Option<(i64, u64)>, end: bool) -> Value {
    let after_cursor = last.map(|(ts, id)| encode_cursor(ts, id));
    let after_url = after_cursor.as_ref().map(|cursor| {
        let encoded: String = url_encode(cursor);
        format!("{canonical}/api/v2/incremental/{entity}/cursor.json?cursor={encoded}")
    });
    json!({
        entity: items,
        "after_url": after_url,
        "before_url": null,
        "after_cursor": after_cursor,
        "before_cursor": null,
        "end_of_stream": end,
    })
}

/// `body` as the configured `CursorFault` breaks it (`asked`: the request's cursor).
fn apply_cursor_fault(body: &mut Value, fault: Option<CursorFault>, asked: Option<&str>) {
    match (fault, asked) {
        (Some(CursorFault::Repeat), Some(asked)) => {
            body["after_cursor"] = json!(asked);
            body["end_of_stream"] = json!(false);
        }
        (Some(CursorFault::Null), _) => {
            body["after_cursor"] = Value::Null;
            body["after_url"] = Value::Null;
            body["end_of_stream"] = json!(false);
        }
        _ => {}
    }
}

fn url_encode(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '_' | '.' | '~' => c.to_string(),
            other => other.to_string().bytes().map(|b| format!("%{b:02X}")).collect(),
        })
        .collect()
}

async fn tickets_export(
    State(sim): State<ZendeskSim>,
    headers: HeaderMap,
    Query(query): Query<ExportQuery>,
) -> Response {
    guarded(&sim.clone(), &headers, true, move || {
        let mut state = sim.lock();
        let now = sim.now();
        if query.cursor.is_none() {
            if let Some(refusal) = too_recent(&mut state, query.start_time.as_deref(), now) {
                return refusal;
            }
        }
        let canonical = state.config.canonical_url.clone();
        let cutoff = now - state.config.withhold_secs;
        let rows: Vec<(i64, u64, SimTicket)> =
            state.tickets.values().map(|t| (t.updated_at, t.id, t.clone())).collect();
        let KeyedPage { items: tickets, last, end_of_stream: end } = match cursor_page(rows, &query, cutoff) {
            Ok(page) => page,
            Err(bad) => return bad.into_response(),
        };
        let mut body =
            cursor_body("tickets", &canonical, tickets.iter().map(|t| ticket_json(t, &canonical)).collect(), last, end);
        let wants_users = query.include.as_deref().is_some_and(|i| i.split(',').any(|part| part.trim() == "users"));
        if wants_users && state.config.sideload_users {
            let mut ids: Vec<u64> = tickets.iter().flat_map(|t| [t.requester_id, t.assignee_id]).flatten().collect();
            ids.sort_unstable();
            ids.dedup();
            let users: Vec<Value> =
                ids.iter().filter_map(|id| state.users.get(id)).map(|u| user_json(u, &canonical)).collect();
            body["users"] = Value::Array(users);
        }
        apply_cursor_fault(&mut body, state.cursor_fault, query.cursor.as_deref());
        Json(body).into_response()
    })
}

async fn users_export(State(sim): State<ZendeskSim>, headers: HeaderMap, Query(query): Query<ExportQuery>) -> Response {
    guarded(&sim.clone(), &headers, true, move || {
        let mut state = sim.lock();
        let now = sim.now();
        if query.cursor.is_none() {
            if let Some(refusal) = too_recent(&mut state, query.start_time.as_deref(), now) {
                return refusal;
            }
        }
        let canonical = state.config.canonical_url.clone();
        let cutoff = now - state.config.withhold_secs;
        let rows: Vec<(i64, u64, SimUser)> = state.users.values().map(|u| (u.updated_at, u.id, u.clone())).collect();
        match cursor_page(rows, &query, cutoff) {
            Ok(page) => {
                let items = page.items.iter().map(|u| user_json(u, &canonical)).collect();
                let mut body = cursor_body("users", &canonical, items, page.last, page.end_of_stream);
                apply_cursor_fault(&mut body, state.cursor_fault, query.cursor.as_deref());
                Json(body).into_response()
            }
            Err(bad) => bad.into_response(),
        }
    })
}

async fn organizations_export(
    State(sim): State<ZendeskSim>,
    headers: HeaderMap,
    Query(query): Query<ExportQuery>,
) -> Response {
    guarded(&sim.clone(), &headers, true, move || {
        let mut state = sim.lock();
        let now = sim.now();
        let canonical = state.config.canonical_url.clone();
        let cutoff = now - state.config.withhold_secs;
        let start = match time_based_start(&mut state, query.start_time.as_deref(), now) {
            Ok(start) => start,
            Err(refusal) => return *refusal,
        };
        let size = match per_page(query.per_page.as_deref()) {
            Ok(size) => size,
            Err(bad) => return bad.into_response(),
        };
        let mut rows: Vec<&SimOrganization> = state
            .organizations
            .values()
            .filter(|o| o.deleted_at.is_none() && o.updated_at >= start && o.updated_at <= cutoff)
            .collect();
        rows.sort_by_key(|o| (o.updated_at, o.id));
        let seconds: Vec<i64> = rows.iter().map(|o| o.updated_at).collect();
        let take = whole_seconds(&seconds, size);
        let end_of_stream = take == rows.len();
        // Zendesk's `end_time` is the last second in the page: the next page repeats it.
        let end_time = seconds.get(..take).and_then(|s| s.last()).copied().unwrap_or(start);
        let items: Vec<Value> = rows[..take].iter().map(|o| organization_json(o, &canonical)).collect();
        Json(json!({
            "organizations": items,
            "next_page": format!("{canonical}/api/v2/incremental/organizations.json?start_time={end_time}"),
            "count": take,
            "end_of_stream": end_of_stream,
            "end_time": end_time,
        }))
        .into_response()
    })
}

#[derive(Debug, Deserialize)]
struct CommentsQuery {
    include: Option<String>,
    #[serde(rename = "page[size]")]
    size: Option<usize>,
    #[serde(rename = "page[after]")]
    after: Option<String>,
}

async fn comments(
    State(sim): State<ZendeskSim>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Query(query): Query<CommentsQuery>,
) -> Response {
    guarded(&sim.clone(), &headers, false, move || {
        let state = sim.lock();
        let canonical = state.config.canonical_url.clone();
        let ticket = raw_id.parse::<u64>().ok().and_then(|id| state.tickets.get(&id)).filter(|t| t.status != "deleted");
        let Some(ticket) = ticket else {
            return error(StatusCode::NOT_FOUND, "RecordNotFound", "Not found");
        };
        if state.denied_comments.contains(&ticket.id) {
            return error(StatusCode::NOT_FOUND, "RecordNotFound", "Not found");
        }
        let size = query.size.unwrap_or(100).clamp(1, 100);
        let offset = query.after.as_deref().and_then(|a| a.parse::<usize>().ok()).unwrap_or(0);
        let page: Vec<_> = ticket.comments.iter().skip(offset).take(size).collect();
        let has_more = offset + page.len() < ticket.comments.len();
        let next = format!(
            "{canonical}/api/v2/tickets/{}/comments.json?page%5Bafter%5D={}&page%5Bsize%5D={size}&include=users",
            ticket.id,
            offset + page.len()
        );
        let mut body = json!({
            "comments": page.iter().map(|c| json!({
                "id": c.id, "type": "Comment", "author_id": c.author_id, "body": super::plain_text(&c.html_body),
                "html_body": c.html_body, "plain_body": super::plain_text(&c.html_body), "public": c.public,
                "attachments": [], "audit_id": c.id + 1, "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": null}},
                "created_at": time(c.created_at), "metadata": {"system": {}, "custom": {}},
            })).collect::<Vec<_>>(),
            "meta": {"has_more": has_more, "after_cursor": offset + page.len(), "before_cursor": offset},
            "links": {"prev": null, "next": if has_more { Value::String(next) } else { Value::Null }},
        });
        if query.include.as_deref() == Some("users") {
            let users: Vec<Value> =
                page.iter().filter_map(|c| state.users.get(&c.author_id)).map(|u| user_json(u, &canonical)).collect();
            body["users"] = Value::Array(users);
        }
        Json(body).into_response()
    })
}

async fn me(State(sim): State<ZendeskSim>, headers: HeaderMap) -> Response {
    let config = sim.lock().config.clone();
    let budget = limits::count_request(&mut sim.lock());
    let user = match caller(&sim, &headers) {
        Caller::Refused => return limits::with_headers(refused(), &budget),
        Caller::Anonymous => {
            json!({"id": null, "name": "Anonymous user", "email": "invalid@example.com", "role": "end-user"})
        }
        Caller::Valid => {
            json!({"id": 370_000_000_001_u64, "name": "Sim Agent", "email": config.email, "role": "admin"})
        }
    };
    limits::with_headers(Json(json!({ "user": user })).into_response(), &budget)
}

#[derive(Debug, Deserialize)]
struct ShowManyQuery {
    ids: Option<String>,
}

/// Most ids one `users/show_many` call takes.
const SHOW_MANY_MAX: usize = 100;

/// `GET /api/v2/users/show_many.json?ids=1,2,3`: the users that exist, in no promised
/// order; unknown ids are left out. More than 100 ids is refused (the API takes 100).
async fn show_many(State(sim): State<ZendeskSim>, headers: HeaderMap, Query(query): Query<ShowManyQuery>) -> Response {
    guarded(&sim.clone(), &headers, false, move || {
        let raw = query.ids.unwrap_or_default();
        let ids: Result<Vec<u64>, _> =
            raw.split(',').map(str::trim).filter(|id| !id.is_empty()).map(str::parse::<u64>).collect();
        let Ok(ids) = ids else {
            return error(StatusCode::BAD_REQUEST, "InvalidValue", "ids must be a comma-separated list of user ids");
        };
        if ids.len() > SHOW_MANY_MAX {
            return error(StatusCode::BAD_REQUEST, "InvalidValue", "ids: at most 100 ids per request");
        }
        let mut state = sim.lock();
        state.show_many_calls.push(ids.len());
        let canonical = state.config.canonical_url.clone();
        let users: Vec<Value> =
            ids.iter().filter_map(|id| state.users.get(id)).map(|u| user_json(u, &canonical)).collect();
        let count = users.len();
        Json(json!({"users": users, "next_page": null, "previous_page": null, "count": count})).into_response()
    })
}

/// `GET /api/v2/organizations/show_many.json?ids=1,2,3`: the live organizations among
/// `ids`; deleted and unknown ids are left out. More than 100 ids is refused.
async fn organizations_show_many(
    State(sim): State<ZendeskSim>,
    headers: HeaderMap,
    Query(query): Query<ShowManyQuery>,
) -> Response {
    guarded(&sim.clone(), &headers, false, move || {
        let raw = query.ids.unwrap_or_default();
        let ids: Result<Vec<u64>, _> =
            raw.split(',').map(str::trim).filter(|id| !id.is_empty()).map(str::parse::<u64>).collect();
        let Ok(ids) = ids else {
            return error(StatusCode::BAD_REQUEST, "InvalidValue", "ids must be a comma-separated list of ids");
        };
        if ids.len() > SHOW_MANY_MAX {
            return error(StatusCode::BAD_REQUEST, "InvalidValue", "ids: at most 100 ids per request");
        }
        let mut state = sim.lock();
        state.organization_lookups.push(ids.len());
        let canonical = state.config.canonical_url.clone();
        let organizations: Vec<Value> = ids
            .iter()
            .filter_map(|id| state.organizations.get(id))
            .filter(|o| o.deleted_at.is_none())
            .map(|o| organization_json(o, &canonical))
            .collect();
        let count = organizations.len();
        Json(json!({"organizations": organizations, "next_page": null, "previous_page": null, "count": count}))
            .into_response()
    })
}

/// A ticket in the exact shape of `incremental_tickets_cursor_*.json`.
fn ticket_json(t: &SimTicket, canonical: &str) -> Value {
    let satisfaction = t.satisfaction.as_ref().map(|(id, score)| {
        json!({"id": id, "score": score, "comment": null, "reason": null, "url": format!("{canonical}/api/v2/satisfaction_ratings/{id}.json")})
    });
    json!({
        "url": format!("{canonical}/api/v2/tickets/{}.json", t.id), "id": t.id, "external_id": null,
        "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": null}},
        "created_at": time(t.created_at), "updated_at": time(t.updated_at), "type": t.ticket_type,
        "subject": t.subject, "raw_subject": t.subject, "description": t.description, "priority": t.priority,
        "status": t.status, "recipient": null, "requester_id": t.requester_id, "submitter_id": t.requester_id,
        "assignee_id": t.assignee_id, "organization_id": t.organization_id, "group_id": null,
        "collaborator_ids": [], "follower_ids": [], "email_cc_ids": [], "forum_topic_id": null, "problem_id": null,
        "has_incidents": false, "is_public": true, "due_at": null, "tags": t.tags, "custom_fields": [],
        "satisfaction_rating": satisfaction, "sharing_agreement_ids": [], "custom_status_id": 1, "fields": [],
        "followup_ids": [], "ticket_form_id": 1, "brand_id": 1, "allow_channelback": false,
        "allow_attachments": true, "from_messaging_channel": false, "generated_timestamp": t.updated_at,
    })
}

fn user_json(u: &SimUser, canonical: &str) -> Value {
    json!({
        "id": u.id, "url": format!("{canonical}/api/v2/users/{}.json", u.id), "name": u.name, "email": u.email,
        "created_at": time(u.created_at), "updated_at": time(u.updated_at), "time_zone": "Europe/Berlin",
        "iana_time_zone": "Europe/Berlin", "phone": null, "shared_phone_number": null, "photo": null, "locale_id": 1,
        "locale": "en-US", "organization_id": u.organization_id, "role": u.role, "verified": true, "external_id": null,
        "tags": [], "alias": null, "active": u.active, "shared": false, "shared_agent": false, "last_login_at": null,
        "two_factor_auth_enabled": null, "signature": null, "details": null, "notes": null, "role_type": null,
        "custom_role_id": null, "moderator": false, "ticket_restriction": "requested", "only_private_comments": false,
        "restricted_agent": true, "suspended": false, "default_group_id": null, "report_csv": false, "user_fields": {},
    })
}

fn organization_json(o: &SimOrganization, canonical: &str) -> Value {
    json!({
        "url": format!("{canonical}/api/v2/organizations/{}.json", o.id), "id": o.id, "name": o.name,
        "shared_tickets": false, "shared_comments": false, "external_id": o.external_id,
        "created_at": time(o.created_at), "updated_at": time(o.updated_at), "domain_names": o.domain_names,
        "details": null, "notes": null, "group_id": null, "tags": o.tags, "organization_fields": o.organization_fields,
    })
}

//! `JiraSim`: Jira Cloud's REST API v3 as the Jira connector meets it, traps included.
//!
//! Serves `POST`/`GET /rest/api/3/search/jql` (a JQL subset, `nextPageToken` keyset
//! paging, `fields` honoured and only `id` returned when none are named, comments
//! embedded up to a limit with the true `total`), `/rest/api/3/search` answering
//! `410 Gone` (and counting the call), `/rest/api/3/myself` with a non-UTC
//! `timeZone`, `/rest/api/3/issue/{key}/comment` (`orderBy=-created` for newest
//! first), and
//! `POST /rest/api/3/issue/bulkfetch` (up to 100 ids or keys; missing issues are
//! simply left out). A JQL `id`/`key` literal naming no issue answers 400, as Jira's
//! validator does. Timestamps render with the user's offset and JQL dates are read in
//! the user's zone at minute granularity (`zone`). Auth is open, Basic (email + API token), or OAuth 3LO: a
//! `TokenAuthority` with rotating refresh tokens, `accessible-resources`, and the API
//! under `/ex/jira/{cloud_id}`. An optional burst limit and an optional points-based
//! quota answer 429/503 with Jira's headers (`limits`). On request, pagination misbehaves: repeating or cycling
//! `nextPageToken`s (`TokenFault`), small `id`-only pages, comment pages that
//! ignore `startAt`, issues served without their `id`, and issues hidden for a while
//! (a permission flicker). Invariant: every mutation stamps `updated` with the
//! clock's "now", deleted issues vanish from every endpoint, and `truth()` is exactly
//! the set of issues a correct sync ends up with.

mod data;
pub mod jql;
mod limits;
mod render;
mod routes;
pub mod zone;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::clock::SimClock;
use crate::token::TokenAuthority;

pub use self::limits::{JiraQuota, JiraRateLimit};
pub use self::zone::SimZone;

/// The custom field that holds JSM organizations.
pub const ORGANIZATIONS_FIELD: &str = "customfield_10002";
/// Most issues one bulk fetch takes.
pub const BULK_FETCH_MAX: usize = 100;
/// Comments embedded in a search result before the page is cut (the true total stays).
pub const DEFAULT_EMBEDDED_COMMENTS: usize = 5;

/// A person as Jira shows them; `email` is `None` when their privacy setting hides it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimUser {
    pub account_id: String,
    pub display_name: String,
    pub email: Option<String>,
}

/// A JSM customer organization.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOrg {
    pub id: u64,
    pub name: String,
}

/// A comment; `public` is `jsdPublic`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimComment {
    pub id: u64,
    pub author: SimUser,
    pub body: Value,
    pub public: bool,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// An issue as the simulator stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimIssue {
    pub id: u64,
    pub project: String,
    pub number: u64,
    pub issue_type: String,
    pub status: String,
    /// `new`, `indeterminate` or `done`.
    pub status_category: String,
    pub priority: String,
    pub labels: Vec<String>,
    pub summary: String,
    /// ADF.
    pub description: Value,
    pub reporter: SimUser,
    pub organizations: Vec<SimOrg>,
    pub comments: Vec<SimComment>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

impl SimIssue {
    pub fn key(&self) -> String {
        format!("{}-{}", self.project, self.number)
    }
}

#[derive(Debug, Clone)]
enum Access {
    Open,
    Basic { email: String, token: String },
    Bearer { authority: TokenAuthority, cloud_id: String },
}

#[derive(Debug)]
struct JiraState {
    issues: BTreeMap<u64, SimIssue>,
    next_id: u64,
    rng: StdRng,
    zone: SimZone,
    site: String,
    embedded_comments: usize,
    retired_search_calls: u64,
    searches: Vec<String>,
    bulkfetch_errors: BTreeSet<u64>,
    limiter: limits::Limiter,
    token_fault: Option<TokenFault>,
    /// The token a tokenless search handed out last (where `TokenFault::Cycle` returns).
    cycle_to: Option<String>,
    id_search_page_cap: Option<usize>,
    broken_comment_paging: bool,
    /// Issues search renders without their `id` (see `set_idless_issues`).
    idless: BTreeSet<u64>,
    /// Issues the API user may not see for now (see `set_hidden`).
    hidden: BTreeSet<u64>,
}

/// A search that hands out `nextPageToken`s going round in circles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFault {
    /// A page asked for with a token names that same token as the next (`isLast: false`).
    Repeat,
    /// A page asked for with any token but the first one of the search names the
    /// first one as the next (`isLast: false`): A → B → A.
    Cycle,
}

/// The Jira simulator: data, mutations and the router. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JiraSim {
    inner: Arc<Mutex<JiraState>>,
    clock: SimClock,
    auth: Access,
}

/// A JSON error answer, shaped like Jira's (`errorMessages`, `errors`).
type ApiError = (StatusCode, Value);

fn api_error(status: StatusCode, message: impl Into<String>) -> ApiError {
    (status, json!({"errorMessages": [message.into()], "errors": {}}))
}

impl JiraSim {
    /// `n` seeded issues on the system clock, open (no auth), user in Los Angeles.
    pub fn seeded(seed: u64, n: u64) -> Self {
        Self::seeded_with_clock(seed, n, SimClock::system())
    }

    /// `n` issues from `seed`, all updated within the 60 days before `clock.now()`.
    pub fn seeded_with_clock(seed: u64, n: u64, clock: SimClock) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let issues = data::issues(&mut rng, n, clock.now() - chrono::TimeDelta::hours(1));
        let next_id = 10_000 + n;
        let state = JiraState {
            issues: issues.into_iter().map(|i| (i.id, i)).collect(),
            next_id,
            rng,
            zone: SimZone::LosAngeles,
            site: "https://acme-sim.atlassian.net".to_owned(),
            embedded_comments: DEFAULT_EMBEDDED_COMMENTS,
            retired_search_calls: 0,
            searches: Vec::new(),
            bulkfetch_errors: BTreeSet::new(),
            limiter: limits::Limiter::default(),
            token_fault: None,
            cycle_to: None,
            id_search_page_cap: None,
            broken_comment_paging: false,
            idless: BTreeSet::new(),
            hidden: BTreeSet::new(),
        };
        Self { inner: Arc::new(Mutex::new(state)), clock, auth: Access::Open }
    }

    /// Requires HTTP Basic `email:token` on every route.
    pub fn with_basic(mut self, email: &str, token: &str) -> Self {
        self.auth = Access::Basic { email: email.to_owned(), token: token.to_owned() };
        self
    }

    /// OAuth 3LO: bearer tokens from `authority`, API under `/ex/jira/{cloud_id}`,
    /// `accessible-resources`, and the authority's `/oauth/token`.
    pub fn with_oauth(mut self, authority: TokenAuthority, cloud_id: &str) -> Self {
        self.auth = Access::Bearer { authority, cloud_id: cloud_id.to_owned() };
        self
    }

    fn lock(&self) -> MutexGuard<'_, JiraState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The clock that stamps mutations; fix it to land an edit on a cursor minute.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// The calling user's zone (default America/Los_Angeles).
    pub fn set_zone(&self, zone: SimZone) {
        self.lock().zone = zone;
    }

    pub fn zone(&self) -> SimZone {
        self.lock().zone
    }

    /// The site URL used in `self` links and `accessible-resources` (set it to the
    /// server's URL once it is bound, when a connector matches it).
    pub fn set_site(&self, site: &str) {
        self.lock().site = site.trim_end_matches('/').to_owned();
    }

    /// How many comments a search result embeds before truncating the page.
    pub fn set_embedded_comments(&self, limit: usize) {
        self.lock().embedded_comments = limit;
    }

    /// Makes search hand out repeating `nextPageToken`s (`None`, the default: it does not).
    pub fn set_token_fault(&self, fault: Option<TokenFault>) {
        let mut state = self.lock();
        state.token_fault = fault;
        state.cycle_to = None;
    }

    /// Most issues a page of a search that asks only for `id` holds (as the connector's
    /// reconciliation scope query does), whatever `maxResults` says (`None`: no cut).
    pub fn set_id_search_page_cap(&self, cap: Option<usize>) {
        self.lock().id_search_page_cap = cap;
    }

    /// With `true`, `GET /issue/{id}/comment` ignores `startAt` (always the first page)
    /// and reports a `total` of a million.
    pub fn set_broken_comment_paging(&self, broken: bool) {
        self.lock().broken_comment_paging = broken;
    }

    /// Jira's own rate limit on every API route (`None`: unlimited, the default).
    pub fn set_rate_limit(&self, limit: Option<JiraRateLimit>) {
        self.lock().limiter.set(limit);
    }

    /// Jira's 2026 points-based quota on every API route (`None`: none, the default).
    /// Setting it starts a fresh window: that is how a test lets "the hour pass".
    pub fn set_quota(&self, quota: Option<JiraQuota>) {
        self.lock().limiter.set_quota(quota);
    }

    /// Issues (by id) that search renders without their `id`, as a broken proxy or
    /// an odd field configuration might: the connector cannot map them (empty by default).
    pub fn set_idless_issues(&self, ids: &[u64]) {
        self.lock().idless = ids.iter().copied().collect();
    }

    /// Issues (by id) the API user may not see for now, as when a permission scheme
    /// flickers: they vanish from search, bulk fetch and the comment endpoint (and
    /// from `truth`) without being deleted or stamped, and come back unchanged when
    /// no longer listed. Empty by default.
    pub fn set_hidden(&self, ids: &[u64]) {
        self.lock().hidden = ids.iter().copied().collect();
    }

    /// Requests refused by the rate limits set with `set_rate_limit` and `set_quota`.
    pub fn rate_limit_rejections(&self) -> u64 {
        self.lock().limiter.rejections()
    }

    /// Calls to the retired `/rest/api/3/search` (should be zero).
    pub fn retired_search_calls(&self) -> u64 {
        self.lock().retired_search_calls
    }

    /// Every JQL searched so far, in order.
    pub fn searches(&self) -> Vec<String> {
        self.lock().searches.clone()
    }

    /// Edits an issue by key and stamps it now; `None` if there is no such issue.
    pub fn edit(&self, key: &str, change: impl FnOnce(&mut SimIssue)) -> Option<SimIssue> {
        let now = self.clock.now();
        let mut state = self.lock();
        let issue = state.issues.values_mut().find(|i| i.key() == key)?;
        let (id, project, number) = (issue.id, issue.project.clone(), issue.number);
        change(issue);
        (issue.id, issue.project, issue.number) = (id, project, number);
        issue.updated = now;
        Some(issue.clone())
    }

    /// Adds a comment (stamped now, like the issue); `None` if there is no such issue.
    pub fn add_comment(&self, key: &str, author: SimUser, text: &str, public: bool) -> Option<SimComment> {
        let now = self.clock.now();
        let mut state = self.lock();
        let issue = state.issues.values_mut().find(|i| i.key() == key)?;
        let id = issue.id * 100 + issue.comments.len() as u64 + 50;
        let body = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]});
        let comment = SimComment { id, author, body, public, created: now, updated: now };
        issue.comments.push(comment.clone());
        issue.updated = now;
        Some(comment)
    }

    /// Deletes an issue for good (Jira keeps no tombstone); `false` if none.
    pub fn delete(&self, key: &str) -> bool {
        let mut state = self.lock();
        let id = state.issues.values().find(|i| i.key() == key).map(|i| i.id);
        id.and_then(|id| state.issues.remove(&id)).is_some()
    }

    /// Adds a generated issue to `project` (then `fill` adjusts it), created and updated now.
    pub fn add(&self, project: &str, fill: impl FnOnce(&mut SimIssue)) -> SimIssue {
        let now = self.clock.now();
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        let number = state.issues.values().filter(|i| i.project == project).map(|i| i.number).max().unwrap_or(0) + 1;
        let mut issue = data::issue(&mut state.rng, id, project, number, now);
        fill(&mut issue);
        (issue.id, issue.project, issue.number) = (id, project.to_owned(), number);
        (issue.created, issue.updated) = (now, now);
        state.issues.insert(id, issue.clone());
        issue
    }

    /// One issue by key.
    pub fn issue(&self, key: &str) -> Option<SimIssue> {
        self.lock().issues.values().find(|i| i.key() == key).cloned()
    }

    /// The live issues by id: what a synced store must equal.
    pub fn truth(&self) -> Vec<SimIssue> {
        let state = self.lock();
        state.issues.values().filter(|i| !state.hidden.contains(&i.id)).cloned().collect()
    }

    /// The API user (`/myself`).
    pub fn myself(&self) -> Value {
        let state = self.lock();
        let agent = data::agents().into_iter().next();
        let mut user = agent.map(|a| render::user(&a, &state.site, state.zone)).unwrap_or_else(|| json!({}));
        user["groups"] = json!({"size": 3, "items": []});
        user["applicationRoles"] = json!({"size": 1, "items": []});
        user["locale"] = json!("en_US");
        user["expand"] = json!("groups,applicationRoles");
        user
    }

    /// `POST /rest/api/3/search/jql` as a function.
    pub fn search(&self, body: &SearchBody) -> Result<Value, ApiError> {
        let jql_text = body.jql.clone().unwrap_or_default();
        let query = jql::parse(&jql_text).map_err(|e| api_error(StatusCode::BAD_REQUEST, e.0))?;
        let Some(filter) = &query.filter else {
            return Err(api_error(
                StatusCode::BAD_REQUEST,
                "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
            ));
        };
        let mut state = self.lock();
        state.searches.push(jql_text);
        let exists = |field: jql::Field, value: &str| match field {
            jql::Field::Id => {
                value.parse::<u64>().is_ok_and(|id| state.issues.contains_key(&id) && !state.hidden.contains(&id))
            }
            _ => state.issues.values().any(|i| i.key().eq_ignore_ascii_case(value) && !state.hidden.contains(&i.id)),
        };
        if let Some(error) = filter.unknown_literal(&exists) {
            return Err(api_error(StatusCode::BAD_REQUEST, error.0));
        }
        let zone = state.zone;
        let mut matching = Vec::new();
        for issue in state.issues.values().filter(|i| !state.hidden.contains(&i.id)) {
            if filter.matches(issue, zone).map_err(|e| api_error(StatusCode::BAD_REQUEST, e.0))? {
                matching.push((jql::sort_key(issue, &query.order), issue));
            }
        }
        matching.sort_by(|a, b| jql::compare(&a.0, &b.0));
        let start = match body.next_page_token.as_deref() {
            Some(token) => {
                let after = render::decode_token(token, &query.order).ok_or_else(|| {
                    api_error(StatusCode::BAD_REQUEST, "The provided next page token is invalid or expired.")
                })?;
                matching.partition_point(|(key, _)| jql::compare(key, &after).is_le())
            }
            None => 0,
        };
        let fields = render::FieldSelection::new(body.fields.as_deref());
        let cap = if fields.id_only() { 5000 } else { 100 };
        let limit = body.max_results.filter(|m| *m > 0).unwrap_or(50).min(cap) as usize;
        let limit = match state.id_search_page_cap {
            Some(most) if fields.id_only() => limit.min(most.max(1)),
            _ => limit,
        };
        let end = (start + limit).min(matching.len());
        let page = matching.get(start..end).unwrap_or_default();
        let issues: Vec<Value> = page
            .iter()
            .map(|(_, issue)| {
                let mut rendered = render::issue(issue, &fields, &state.site, zone, state.embedded_comments);
                if state.idless.contains(&issue.id) {
                    if let Some(object) = rendered.as_object_mut() {
                        object.remove("id");
                    }
                }
                rendered
            })
            .collect();
        let returned = issues.len();
        let mut response = json!({"issues": issues, "isLast": end >= matching.len()});
        if let Some((key, _)) = page.last().filter(|_| end < matching.len()) {
            response["nextPageToken"] = json!(render::encode_token(key));
        }
        match (state.token_fault, body.next_page_token.as_deref()) {
            (None, _) => {}
            (Some(_), None) => state.cycle_to = response["nextPageToken"].as_str().map(str::to_owned),
            (Some(TokenFault::Repeat), Some(asked)) => {
                response["nextPageToken"] = json!(asked);
                response["isLast"] = json!(false);
            }
            (Some(TokenFault::Cycle), Some(asked)) => {
                if let Some(first) = state.cycle_to.clone().filter(|first| first != asked) {
                    response["nextPageToken"] = json!(first);
                    response["isLast"] = json!(false);
                }
            }
        }
        state.limiter.charge(returned);
        Ok(response)
    }

    /// `POST /rest/api/3/issue/bulkfetch` as a function: the issues among
    /// `issueIdsOrKeys` that exist, in ascending id order. As the vendor spec says,
    /// issues that do not exist are left out of both lists; `issueErrors` only names
    /// issues that could not be read this time (see `set_bulkfetch_errors`).
    pub fn bulk_fetch(&self, body: &BulkFetchBody) -> Result<Value, ApiError> {
        let wanted = body.issue_ids_or_keys.as_deref().unwrap_or_default();
        if wanted.is_empty() || wanted.len() > BULK_FETCH_MAX {
            return Err(api_error(
                StatusCode::BAD_REQUEST,
                format!("The number of issue IDs or keys must be between 1 and {BULK_FETCH_MAX}."),
            ));
        }
        let mut state = self.lock();
        let state = &mut *state;
        let mut found: BTreeMap<u64, &SimIssue> = BTreeMap::new();
        let mut errors = Vec::new();
        for id_or_key in wanted {
            let issue = state
                .issues
                .values()
                .filter(|i| !state.hidden.contains(&i.id))
                .find(|i| i.id.to_string() == *id_or_key || i.key().eq_ignore_ascii_case(id_or_key));
            match issue {
                Some(issue) if state.bulkfetch_errors.contains(&issue.id) => errors.push(json!({
                    "id": issue.id.to_string(),
                    "errorMessage": "The issue could not be retrieved. Try again later.",
                })),
                Some(issue) => {
                    found.insert(issue.id, issue);
                }
                None => {}
            }
        }
        let fields = render::FieldSelection::new(body.fields.as_deref());
        let issues: Vec<Value> = found
            .values()
            .map(|issue| render::issue(issue, &fields, &state.site, state.zone, state.embedded_comments))
            .collect();
        state.limiter.charge(issues.len());
        Ok(json!({"issues": issues, "issueErrors": errors}))
    }

    /// Issues (by id) that bulk fetch reports in `issueErrors` instead of returning, as
    /// Jira does for a retriable failure; empty by default.
    pub fn set_bulkfetch_errors(&self, ids: &[u64]) {
        self.lock().bulkfetch_errors = ids.iter().copied().collect();
    }

    /// `GET /rest/api/3/issue/{key}/comment` as a function, oldest first.
    pub fn comments(&self, key_or_id: &str, start_at: usize, max_results: usize) -> Result<Value, ApiError> {
        self.comments_ordered(key_or_id, start_at, max_results, false)
    }

    /// `GET /rest/api/3/issue/{key}/comment`, newest first with `newest_first`
    /// (`orderBy=-created`; ties by id), else oldest first (Jira's default).
    pub fn comments_ordered(
        &self,
        key_or_id: &str,
        start_at: usize,
        max_results: usize,
        newest_first: bool,
    ) -> Result<Value, ApiError> {
        let mut state = self.lock();
        let state = &mut *state;
        let issue = state
            .issues
            .values()
            .filter(|i| !state.hidden.contains(&i.id))
            .find(|i| i.key() == key_or_id || i.id.to_string() == key_or_id)
            .ok_or_else(|| {
                api_error(StatusCode::NOT_FOUND, "Issue does not exist or you do not have permission to see it.")
            })?;
        let max_results = max_results.clamp(1, 5000);
        let (start_at, total) =
            if state.broken_comment_paging { (0, 1_000_000) } else { (start_at, issue.comments.len()) };
        let mut ordered: Vec<&SimComment> = issue.comments.iter().collect();
        ordered.sort_by_key(|c| (c.created, c.id));
        if newest_first {
            ordered.reverse();
        }
        let comments: Vec<Value> = ordered
            .into_iter()
            .skip(start_at)
            .take(max_results)
            .map(|c| render::comment(issue, c, &state.site, state.zone))
            .collect();
        state.limiter.charge(comments.len());
        Ok(json!({"comments": comments, "maxResults": max_results, "startAt": start_at, "total": total}))
    }

    fn resources(&self) -> Value {
        let state = self.lock();
        let cloud_id = match &self.auth {
            Access::Bearer { cloud_id, .. } => cloud_id.clone(),
            _ => String::new(),
        };
        json!([{
            "id": cloud_id,
            "url": state.site,
            "name": "acme-sim",
            "scopes": ["read:jira-work", "read:jira-user", "offline_access"],
            "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"
        }])
    }

    /// The router for the configured auth mode.
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/rest/api/3/search/jql", get(routes::search_get).post(routes::search_post))
            .route("/rest/api/3/search", get(routes::retired).post(routes::retired))
            .route("/rest/api/3/myself", get(routes::myself))
            .route("/rest/api/3/issue/{key}/comment", get(routes::comments))
            .route("/rest/api/3/issue/bulkfetch", post(routes::bulk_fetch))
            .with_state(self.clone())
            .layer(middleware::from_fn_with_state(self.clone(), limits::enforce));
        match &self.auth {
            Access::Open => api,
            Access::Basic { email, token } => {
                api.layer(middleware::from_fn_with_state((email.clone(), token.clone()), routes::require_basic))
            }
            Access::Bearer { authority, cloud_id } => {
                let resources = Router::new()
                    .route("/oauth/token/accessible-resources", get(routes::resources))
                    .with_state(self.clone());
                let protected = Router::new().nest(&format!("/ex/jira/{cloud_id}"), api).merge(resources);
                authority.protect(protected).merge(authority.router())
            }
        }
    }
}

/// The body of a search (also built from `GET` query parameters).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchBody {
    #[serde(default)]
    pub jql: Option<String>,
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    #[serde(default)]
    pub max_results: Option<u32>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// The body of `POST /rest/api/3/issue/bulkfetch` (`BulkFetchIssueRequestBean`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkFetchBody {
    #[serde(default)]
    pub issue_ids_or_keys: Option<Vec<String>>,
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    #[serde(default)]
    pub fields_by_keys: Option<bool>,
    #[serde(default)]
    pub expand: Option<Vec<String>>,
    #[serde(default)]
    pub properties: Option<Vec<String>>,
}

#[cfg(test)]
mod tests;

//! The triage queue (`/triage`): items no account claims, newest and richest first,
//! each row with a form to link it to an account (a CSM's) and one to add it to a
//! request (a PM's) — pick, click. A viewer sees the queue without the forms, and the
//! route table refuses its posts. The queue and both links are the API's own handlers.
//!
//! No script: a GET form ("Find an account", "Find a request") re-renders the queue with
//! pickers offering what the texts find; each row's account picker also offers (and
//! pre-selects) the account its author's email domain resolves to, however far down the
//! account list it is. The row forms carry the texts back, so a link keeps the filter.

use std::collections::HashMap;

use axum::extract::State;
use axum::Extension;
use chorus_store::Role;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, csrf_field, Nav};
use super::{given, WebCaller, WebError, WebForm, WebPath, WebQuery, WebResult};
use crate::api::accounts::{AccountsParams, LinkAccount, PageParams, MAX_FIND};
use crate::api::requests::LinkItems;
use crate::api::triage::TriageItemView;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, AppState};

/// Rows per page.
const PAGE: u32 = 50;
/// Most accounts and requests a row's pickers offer without a find text.
const CHOICES: u32 = crate::api::MAX_PAGE;
/// Most a find text puts in a picker.
const FOUND: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct TriageForm {
    pub cursor: Option<String>,
    /// The item just linked, for the notice.
    pub linked: Option<i64>,
    /// "Find an account": what the account pickers offer.
    pub account_q: Option<String>,
    /// "Find a request": what the request pickers offer.
    pub request_q: Option<String>,
}

/// The find texts a page was asked with, trimmed and cut to `MAX_FIND` characters; the
/// row forms carry them back so the page a link returns to keeps them.
#[derive(Debug, Clone, Default)]
struct Finds {
    account: String,
    request: String,
}

impl Finds {
    fn new(account: Option<String>, request: Option<String>) -> Self {
        let bounded =
            |text: Option<String>| given(text).map(|t| t.chars().take(MAX_FIND).collect()).unwrap_or_default();
        Self { account: bounded(account), request: bounded(request) }
    }

    /// `/triage?…` with these finds and the other pairs given.
    fn link(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs = vec![("account_q", self.account.as_str()), ("request_q", self.request.as_str())];
        pairs.extend_from_slice(extra);
        let query = layout::query(&pairs);
        if query.is_empty() {
            "/triage".to_owned()
        } else {
            format!("/triage?{query}")
        }
    }

    fn hidden(&self) -> Markup {
        html! {
            @if !self.account.is_empty() { input type="hidden" name="account_q" value=(self.account); }
            @if !self.request.is_empty() { input type="hidden" name="request_q" value=(self.request); }
        }
    }
}

/// One option of a picker.
#[derive(Debug, Clone)]
struct Choice {
    id: i64,
    label: String,
}

/// What a picker offers: its choices, and how many there were to offer (more than
/// shown when the list was cut).
#[derive(Debug, Default)]
struct Choices {
    shown: Vec<Choice>,
    total: u64,
}

/// `GET /triage`.
pub async fn page(
    State(state): State<AppState>,
    Extension(who): Extension<WebCaller>,
    WebQuery(form): WebQuery<TriageForm>,
) -> WebResult {
    let finds = Finds::new(form.account_q, form.request_q);
    let params = PageParams { cursor: given(form.cursor), limit: Some(PAGE) };
    let axum::Json(queue) = crate::api::triage::list(State(state.clone()), ApiQuery(params)).await?;
    let mut accounts = Choices::default();
    let mut suggestions = HashMap::new();
    if who.may(Role::Csm) {
        accounts = account_choices(&state, &finds.account).await?;
        suggestions = suggested(&state, &queue.items).await?;
    }
    let mut requests = Choices::default();
    if who.may(Role::Pm) {
        let limit = if finds.request.is_empty() { CHOICES } else { FOUND };
        let (found, total) = crate::api::requests::open_titled(&state, &finds.request, limit as usize).await?;
        let shown = found.into_iter().map(|request| Choice { id: request.id, label: request.title }).collect();
        requests = Choices { shown, total: total as u64 };
    }
    let body = html! {
        div.heading {
            h1 { "Triage" }
            p.muted { "Feedback no account claims yet, newest and richest first. Link each to the customer it came from, or to the request it asks for." }
        }
        @if who.may(Role::Csm) || who.may(Role::Pm) { (find_form(&who, &finds)) }
        @if form.linked.is_some() { p.notice.good role="status" { "Linked." } }
        @if who.may(Role::Csm) { (cut_notice("account", &finds.account, &accounts)) }
        @if who.may(Role::Pm) { (cut_notice("request", &finds.request, &requests)) }
        @if queue.items.is_empty() { p.empty { "Nothing to triage: every item has an account." } }
        table.triage {
            thead { tr { th { "Item" } th { "From" } th { "Link" } } }
            tbody {
                @for item in &queue.items {
                    (row(&who, item, suggestion_of(item, &suggestions), &accounts.shown, &requests.shown, &finds))
                }
            }
        }
        @if let Some(next) = &queue.next_cursor {
            nav.pager { a href=(finds.link(&[("cursor", next)])) { "Next →" } }
        }
    };
    Ok(layout::page("Triage", Some(&who), Nav::Triage, body))
}

/// The accounts the pickers offer: those the find text matches (best first, up to
/// `FOUND`), or without one the first `CHOICES` by id, sorted by name.
async fn account_choices(state: &AppState, text: &str) -> Result<Choices, WebError> {
    let choice = |account: crate::api::accounts::AccountView| Choice { id: account.id, label: account.name };
    if !text.is_empty() {
        let params = AccountsParams { q: Some(text.to_owned()), cursor: None, limit: Some(FOUND) };
        let axum::Json(found) = crate::api::accounts::list(State(state.clone()), ApiQuery(params)).await?;
        let total = found.matched.unwrap_or_default();
        return Ok(Choices { shown: found.accounts.into_iter().map(choice).collect(), total });
    }
    let params = AccountsParams { q: None, cursor: None, limit: Some(CHOICES) };
    let axum::Json(page) = crate::api::accounts::list(State(state.clone()), ApiQuery(params)).await?;
    let mut shown: Vec<Choice> = page.accounts.into_iter().map(choice).collect();
    shown.sort_by_key(|choice| choice.label.to_lowercase());
    // Without a text the total is unknown: say the list is cut when a next page exists.
    let total = shown.len() as u64 + u64::from(page.next_cursor.is_some());
    Ok(Choices { shown, total })
}

/// The lower-cased domain of an item author's email.
fn author_domain(item: &TriageItemView) -> Option<String> {
    Some(item.author_email.as_deref()?.rsplit_once('@')?.1.trim().to_lowercase()).filter(|d| !d.is_empty())
}

/// The account each author domain on the page points to, by name: one look-up for the
/// page's domains and one for the accounts' names, whatever the number of rows.
async fn suggested(state: &AppState, items: &[TriageItemView]) -> Result<HashMap<String, Choice>, WebError> {
    let mut domains: Vec<String> = items.iter().filter_map(author_domain).collect();
    domains.sort();
    domains.dedup();
    let by_domain = state.store.accounts_for_domains(&domains).await?;
    let mut ids: Vec<i64> = by_domain.values().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    let names: HashMap<i64, String> =
        state.store.accounts_by_id(&ids).await?.into_iter().map(|account| (account.id, account.name)).collect();
    Ok(by_domain
        .into_iter()
        .filter_map(|(domain, id)| Some((domain, Choice { id, label: names.get(&id)?.clone() })))
        .collect())
}

fn suggestion_of<'a>(item: &TriageItemView, suggestions: &'a HashMap<String, Choice>) -> Option<&'a Choice> {
    suggestions.get(&author_domain(item)?)
}

fn find_form(who: &WebCaller, finds: &Finds) -> Markup {
    html! {
        form.search.triage-find method="get" action="/triage" {
            div.filters {
                @if who.may(Role::Csm) {
                    label { "Find an account "
                        input type="search" name="account_q" value=(finds.account) maxlength=(MAX_FIND)
                            placeholder="name or domain";
                    }
                }
                @if who.may(Role::Pm) {
                    label { "Find a request "
                        input type="search" name="request_q" value=(finds.request) maxlength=(MAX_FIND)
                            placeholder="words of its title";
                    }
                }
                button type="submit" { "Find" }
                @if !finds.account.is_empty() || !finds.request.is_empty() { a href="/triage" { "Clear" } }
            }
        }
    }
}

/// Says when a picker's list is cut, or when a find text matched nothing.
fn cut_notice(what: &str, text: &str, choices: &Choices) -> Markup {
    let shown = choices.shown.len() as u64;
    html! {
        @if !text.is_empty() && shown == 0 {
            p.notice role="status" { "No " (what) " matches “" (text) "”." }
        } @else if choices.total > shown && text.is_empty() {
            p.notice role="status" { "The " (what) " pickers list the first " (shown) ": find one to reach the rest." }
        } @else if choices.total > shown {
            p.notice role="status" { (shown) " of " (choices.total) " " (what) "s shown: refine the search." }
        }
    }
}

fn row(
    who: &WebCaller,
    item: &TriageItemView,
    suggestion: Option<&Choice>,
    accounts: &[Choice],
    requests: &[Choice],
    finds: &Finds,
) -> Markup {
    let suggested_id = suggestion.map(|choice| choice.id);
    html! {
        tr.triage-item data-item=(item.id) {
            td {
                p.title {
                    span class={ "kind " (item.kind) } { (item.kind.replace('_', " ")) }
                    @if let Some(url) = item.source_url.as_deref().filter(|u| u.starts_with("https://") || u.starts_with("http://")) {
                        a href=(url) rel="noopener noreferrer" target="_blank" { (item.title) }
                    } @else { (item.title) }
                }
                p.meta { span { (item.source) } span { (item.status) } span.muted { (layout::date(item.created_at)) } }
            }
            td {
                @if let Some(name) = &item.author_name { (name) br; }
                span.muted { (item.author_email.as_deref().unwrap_or("no email")) }
            }
            td.actions {
                @if who.may(Role::Csm) {
                    form.inline method="post" action={ "/triage/" (item.id) "/account" } {
                        (csrf_field(who))
                        (finds.hidden())
                        select name="account" aria-label="Account" required {
                            option value="" selected[suggestion.is_none()] disabled { "Account…" }
                            @if let Some(choice) = suggestion {
                                option value=(choice.id) selected { (choice.label) }
                            }
                            @for account in accounts.iter().filter(|account| Some(account.id) != suggested_id) {
                                option value=(account.id) { (account.label) }
                            }
                        }
                        button type="submit" { "Link account" }
                    }
                }
                @if who.may(Role::Pm) {
                    form.inline method="post" action={ "/triage/" (item.id) "/request" } {
                        (csrf_field(who))
                        (finds.hidden())
                        select name="request" aria-label="Request" required {
                            option value="" selected disabled { "Request…" }
                            @for request in requests {
                                option value=(request.id) { (request.label) }
                            }
                        }
                        button type="submit" { "Add to request" }
                    }
                }
                @if !who.may(Role::Csm) && !who.may(Role::Pm) { span.muted { "read only" } }
            }
        }
    }
}

/// A picked id from a form's select.
fn picked(value: Option<String>, what: &str) -> Result<i64, WebError> {
    given(value)
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| WebError(ApiError::Unprocessable(format!("choose {what} first"))))
}

#[derive(Debug, Deserialize)]
pub struct AccountChoice {
    pub account: Option<String>,
    pub account_q: Option<String>,
    pub request_q: Option<String>,
}

/// `POST /triage/{item}/account`: a manual link (it wins over any sync).
pub async fn link_account(
    State(state): State<AppState>,
    WebPath(item): WebPath<i64>,
    WebForm(form): WebForm<AccountChoice>,
) -> WebResult {
    let account = picked(form.account, "an account")?;
    let _linked =
        crate::api::accounts::link_item(State(state), ApiPath(item), ApiJson(LinkAccount { account })).await?;
    let finds = Finds::new(form.account_q, form.request_q);
    Ok(super::done(&finds.link(&[("linked", &item.to_string())])))
}

#[derive(Debug, Deserialize)]
pub struct RequestChoice {
    pub request: Option<String>,
    pub account_q: Option<String>,
    pub request_q: Option<String>,
}

/// `POST /triage/{item}/request`.
pub async fn link_request(
    State(state): State<AppState>,
    WebPath(item): WebPath<i64>,
    WebForm(form): WebForm<RequestChoice>,
) -> WebResult {
    let request = picked(form.request, "a request")?;
    let _links =
        crate::api::requests::link_items(State(state), ApiPath(request), ApiJson(LinkItems { items: vec![item] }))
            .await?;
    let finds = Finds::new(form.account_q, form.request_q);
    Ok(super::done(&finds.link(&[("linked", &item.to_string())])))
}

//! The triage queue (`/triage`): items no account claims, newest and richest first,
//! each row with a form to link it to an account (a CSM's) and one to add it to a
//! request (a PM's) — pick, click. A viewer sees the queue without the forms, and the
//! route table refuses its posts. The queue and both links are the API's own handlers.

use axum::extract::State;
use axum::Extension;
use chorus_store::Role;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, csrf_field, Nav};
use super::{given, WebCaller, WebError, WebForm, WebPath, WebQuery, WebResult};
use crate::api::accounts::{AccountView, LinkAccount, PageParams};
use crate::api::requests::{LinkItems, RankedRequest, RequestsParams};
use crate::api::triage::TriageItemView;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, AppState};

/// Rows per page.
const PAGE: u32 = 50;
/// Most accounts and requests a row's pickers offer.
const CHOICES: u32 = crate::api::MAX_PAGE;

#[derive(Debug, Default, Deserialize)]
pub struct TriageForm {
    pub cursor: Option<String>,
    /// The item just linked, for the notice.
    pub linked: Option<i64>,
}

/// `GET /triage`.
pub async fn page(
    State(state): State<AppState>,
    Extension(who): Extension<WebCaller>,
    WebQuery(form): WebQuery<TriageForm>,
) -> WebResult {
    let params = PageParams { cursor: given(form.cursor), limit: Some(PAGE) };
    let axum::Json(queue) = crate::api::triage::list(State(state.clone()), ApiQuery(params)).await?;
    let mut accounts = Vec::new();
    if who.may(Role::Csm) {
        let params = PageParams { cursor: None, limit: Some(CHOICES) };
        accounts = crate::api::accounts::list(State(state.clone()), ApiQuery(params)).await?.0.accounts;
        accounts.sort_by_key(|account| account.name.to_lowercase());
    }
    let mut requests = Vec::new();
    if who.may(Role::Pm) {
        let params =
            RequestsParams { status: Some("open,planned,in_progress".into()), cursor: None, limit: Some(CHOICES) };
        requests = crate::api::requests::list(State(state.clone()), ApiQuery(params)).await?.0.requests;
    }
    let body = html! {
        div.heading {
            h1 { "Triage" }
            p.muted { "Feedback no account claims yet, newest and richest first. Link each to the customer it came from, or to the request it asks for." }
        }
        @if form.linked.is_some() { p.notice.good role="status" { "Linked." } }
        @if queue.items.is_empty() { p.empty { "Nothing to triage: every item has an account." } }
        table.triage {
            thead { tr { th { "Item" } th { "From" } th { "Link" } } }
            tbody { @for item in &queue.items { (row(&who, item, &accounts, &requests)) } }
        }
        @if let Some(next) = &queue.next_cursor {
            nav.pager { a href={ "/triage?" (layout::query(&[("cursor", next)])) } { "Next →" } }
        }
    };
    Ok(layout::page("Triage", Some(&who), Nav::Triage, body))
}

/// The account whose domain the author's email is at, if one is.
fn suggested(item: &TriageItemView, accounts: &[AccountView]) -> Option<i64> {
    let domain = item.author_email.as_deref()?.rsplit_once('@')?.1.to_lowercase();
    accounts.iter().find(|account| account.domains.contains(&domain)).map(|account| account.id)
}

fn row(who: &WebCaller, item: &TriageItemView, accounts: &[AccountView], requests: &[RankedRequest]) -> Markup {
    let suggestion = suggested(item, accounts);
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
                        select name="account" aria-label="Account" required {
                            option value="" selected[suggestion.is_none()] disabled { "Account…" }
                            @for account in accounts {
                                option value=(account.id) selected[suggestion == Some(account.id)] { (account.name) }
                            }
                        }
                        button type="submit" { "Link account" }
                    }
                }
                @if who.may(Role::Pm) {
                    form.inline method="post" action={ "/triage/" (item.id) "/request" } {
                        (csrf_field(who))
                        select name="request" aria-label="Request" required {
                            option value="" selected disabled { "Request…" }
                            @for request in requests {
                                option value=(request.request.id) { (request.request.title) }
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
    Ok(super::done(&format!("/triage?linked={item}")))
}

#[derive(Debug, Deserialize)]
pub struct RequestChoice {
    pub request: Option<String>,
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
    Ok(super::done(&format!("/triage?linked={item}")))
}

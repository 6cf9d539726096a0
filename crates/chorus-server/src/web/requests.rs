//! The request board (`/requests`, highest priority first, each row's top accounts one
//! click away with a bar per contribution) and one request's page (`/requests/{id}`):
//! its score with every factor as a small bar, and its items grouped by account with
//! each account's ARR; a PM sets its status there. All of it is the API's own
//! handlers (`api::requests`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Extension;
use chorus_core::priority::{AccountFactor, Score};
use chorus_core::{Currency, Item};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, csrf_field, Nav};
use super::{given, WebCaller, WebError, WebForm, WebPath, WebQuery, WebResult};
use crate::api::requests::{RankedRequest, RequestDetail, RequestsParams, UpdateRequest};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, AppState};

/// Every status a request can have, in its life's order.
const STATUSES: [&str; 5] = ["open", "planned", "in_progress", "shipped", "declined"];

/// Requests per board page.
const PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct BoardForm {
    pub status: Option<String>,
    pub cursor: Option<String>,
}

/// `GET /requests`.
pub async fn board(
    State(state): State<AppState>,
    Extension(who): Extension<WebCaller>,
    WebQuery(form): WebQuery<BoardForm>,
) -> WebResult {
    let status = given(form.status);
    let params = RequestsParams { status: status.clone(), cursor: given(form.cursor), limit: Some(PAGE) };
    let axum::Json(page) = crate::api::requests::list(State(state.clone()), ApiQuery(params)).await?;
    let currency = state.settings.money.reporting_currency;
    let top = page.requests.iter().map(|r| r.score).fold(0.0_f64, f64::max);
    let body = html! {
        div.heading {
            h1.board { "Requests by priority" }
            p.muted { (layout::count(page.ranked as u64, "live request", "live requests")) " ranked by the revenue of the distinct accounts asking" }
        }
        nav.chips {
            a class=@if status.is_none() { "active" } href="/requests" { "all" }
            @for s in STATUSES {
                a class=@if status.as_deref() == Some(s) { "active" } href={ "/requests?" (layout::query(&[("status", s)])) } {
                    (s.replace('_', " "))
                }
            }
        }
        @if page.requests.is_empty() { p.empty { "No requests yet." } }
        ol.board {
            @for row in &page.requests { (board_row(row, top, currency)) }
        }
        @if let Some(next) = &page.next_cursor {
            nav.pager {
                a href={ "/requests?" (layout::query(&[("status", status.as_deref().unwrap_or("")), ("cursor", next)])) } {
                    "Next →"
                }
            }
        }
    };
    Ok(layout::page("Requests", Some(&who), Nav::Requests, body))
}

fn board_row(row: &RankedRequest, top: f64, currency: Currency) -> Markup {
    let fraction = if top > 0.0 { row.score / top } else { 0.0 };
    html! {
        li.request {
            span.rank { "#" (row.rank) }
            div.main {
                a.title href={ "/requests/" (row.request.id) } { (row.request.title) }
                p.meta {
                    span class={ "status " (row.request.status) } { (row.request.status.replace('_', " ")) }
                    span { (layout::count(row.counts.accounts, "account", "accounts")) }
                    span { (layout::count(row.counts.people, "person", "people")) }
                    span { (layout::count(row.counts.items, "item", "items")) }
                }
                @if !row.top_factors.is_empty() {
                    details.breakdown {
                        summary { "Top accounts" }
                        ul {
                            @for factor in &row.top_factors {
                                li {
                                    span.name { (factor.name.as_deref().unwrap_or("unnamed account")) }
                                    (layout::bar(if row.score > 0.0 { factor.contribution / row.score } else { 0.0 }, "share of the score"))
                                    span.value { (layout::reporting(factor.contribution, currency)) }
                                }
                            }
                        }
                        a href={ "/requests/" (row.request.id) } { "Full breakdown →" }
                    }
                }
            }
            div.score {
                span.value { (layout::reporting(row.score, currency)) }
                (layout::bar(fraction, "score relative to the top request"))
            }
        }
    }
}

/// `GET /requests/{id}`.
pub async fn page(
    State(state): State<AppState>,
    Extension(who): Extension<WebCaller>,
    WebPath(id): WebPath<i64>,
) -> WebResult {
    let axum::Json(detail) = crate::api::requests::get_request(State(state.clone()), ApiPath(id)).await?;
    let mut item_ids: Vec<i64> = detail.links.iter().map(|link| link.item_id).collect();
    item_ids.sort_unstable();
    item_ids.dedup();
    let items = state.store.items_by_id(&item_ids, chorus_store::Raw::Omit).await?;
    let mut account_ids: Vec<i64> = items.iter().filter_map(|item| item.account_id).collect();
    account_ids.sort_unstable();
    account_ids.dedup();
    let accounts = state.store.accounts_by_id(&account_ids).await?;
    let currency = state.settings.money.reporting_currency;
    let mut groups: BTreeMap<Option<i64>, Vec<&Item>> = BTreeMap::new();
    for item in items.iter().filter(|item| item.deleted_at.is_none()) {
        groups.entry(item.account_id).or_default().push(item);
    }
    // Accounts by ARR, largest first; items without an account last.
    let mut order: Vec<(Option<&chorus_core::Account>, Vec<&Item>)> = groups
        .into_iter()
        .map(|(account, items)| (account.and_then(|id| accounts.iter().find(|a| a.id == id)), items))
        .collect();
    order.sort_by_key(|(account, _)| std::cmp::Reverse(account.map_or(i64::MIN, |a| a.arr_minor)));
    let body = html! {
        div.heading {
            p.crumbs { a href="/requests" { "← Requests" } }
            h1 #request-title { (detail.request.title) }
            p.meta {
                span class={ "status " (detail.request.status) } { (detail.request.status.replace('_', " ")) }
                @if let Some(rank) = detail.rank { span { "rank " (rank) " of " (detail.ranked) } }
            }
            @if !detail.request.description.is_empty() { p.description { (detail.request.description) } }
            @if who.may(chorus_store::Role::Pm) && detail.request.merged_into.is_none() {
                form.inline method="post" action={ "/requests/" (detail.request.id) "/status" } {
                    (csrf_field(&who))
                    select name="status" aria-label="Status" {
                        @for s in STATUSES {
                            option value=(s) selected[detail.request.status == s] { (s.replace('_', " ")) }
                        }
                    }
                    button type="submit" { "Set status" }
                }
            }
        }
        (score_panel(&detail, currency))
        section.panel {
            h2 { "Who asked" }
            @if order.is_empty() { p.empty { "No items link to this request yet." } }
            @for (account, items) in &order {
                div.group {
                    h3 {
                        @match account {
                            Some(account) => {
                                a href={ "/accounts/" (account.id) } { (account.name) }
                                span.arr { (layout::money(account.arr_minor, &account.currency)) " ARR" }
                            }
                            None => { "No account yet" span.muted { " (link them from triage)" } }
                        }
                    }
                    ul.items { @for item in items { (item_row(item)) } }
                }
            }
        }
    };
    Ok(layout::page(&detail.request.title, Some(&who), Nav::Requests, body))
}

fn score_panel(detail: &RequestDetail, currency: Currency) -> Markup {
    let name = |id: i64| detail.account_names.get(&id).map_or("unnamed account", String::as_str).to_owned();
    html! {
        section.panel.score-panel {
            @match &detail.score {
                None => {
                    h2 { "Priority" }
                    p #score { "no demand yet" }
                }
                Some(score) => {
                    h2 { "Priority " span #score { (layout::reporting(score.score, currency)) } }
                    p.muted {
                        (layout::reporting(score.accounts_total, currency)) " from accounts, "
                        (layout::reporting(score.pipeline_total, currency)) " open pipeline blocked · "
                        (layout::count(score.counts.accounts, "account", "accounts")) ", "
                        (layout::count(score.counts.people, "person", "people")) ", "
                        (layout::count(score.counts.items, "item", "items"))
                    }
                    (breakdown(score, &name, currency))
                }
            }
        }
    }
}

/// The most a weight is drawn to: bars show each factor against this.
const WEIGHT_SCALE: f64 = 2.0;

fn breakdown(score: &Score, name: &dyn Fn(i64) -> String, currency: Currency) -> Markup {
    let factor = |value: f64, label: &str| {
        html! { td.factor { span.num { (format!("{value:.2}")) } (layout::bar(value / WEIGHT_SCALE, label)) } }
    };
    let row = |f: &AccountFactor| {
        html! {
            tr {
                td { a href={ "/accounts/" (f.account_id) } { (name(f.account_id)) } }
                td.num { (layout::reporting(f.arr_minor as f64, currency)) }
                td { (f.kind.as_str().replace('_', " ")) }
                (factor(f.kind_weight, "kind weight"))
                (factor(f.recency, "recency"))
                (factor(f.segment_weight, "segment weight"))
                (factor(f.renewal_boost, "renewal boost"))
                td.num { (layout::reporting(f.contribution, currency)) }
                td { (layout::bar(if score.score > 0.0 { f.contribution / score.score } else { 0.0 }, "share of the score")) }
            }
        }
    };
    html! {
        table.breakdown {
            thead { tr {
                th { "Account" } th { "ARR" } th { "Asked as" } th { "Kind" } th { "Recency" }
                th { "Segment" } th { "Renewal" } th { "Contribution" } th { "Share" }
            } }
            tbody { @for f in &score.accounts { (row(f)) } }
        }
        @if !score.pipeline.is_empty() {
            h3 { "Open pipeline blocked" }
            table.breakdown {
                thead { tr { th { "Account" } th { "Opportunity" } th { "Probability" } th { "Contribution" } } }
                tbody {
                    @for p in &score.pipeline {
                        tr {
                            td { (name(p.account_id)) }
                            td.num { (layout::reporting(p.amount_minor as f64, currency)) }
                            td.factor { span.num { (format!("{:.0}%", p.probability * 100.0)) } (layout::bar(p.probability, "probability")) }
                            td.num { (layout::reporting(p.contribution, currency)) }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn item_row(item: &Item) -> Markup {
    html! {
        li.item {
            p.title {
                span class={ "kind " (item.kind.as_str()) } { (item.kind.as_str().replace('_', " ")) }
                @if let Some(url) = item.url.as_deref().filter(|u| u.starts_with("https://") || u.starts_with("http://")) {
                    a href=(url) rel="noopener noreferrer" target="_blank" { (item.title) }
                } @else {
                    (item.title)
                }
            }
            @if !item.body.is_empty() { p.body { (layout::excerpt(&item.body, 280)) } }
            p.meta {
                span { (item.source.to_string()) }
                span { (item.status) }
                @if let Some(email) = &item.author_email { span { (email) } }
                span.muted { (layout::date(item.created_at)) }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct StatusChoice {
    pub status: Option<String>,
}

/// `POST /requests/{id}/status` (a PM's).
pub async fn set_status(
    State(state): State<AppState>,
    WebPath(id): WebPath<i64>,
    WebForm(form): WebForm<StatusChoice>,
) -> WebResult {
    let status = given(form.status).ok_or_else(|| WebError(ApiError::Unprocessable("choose a status".into())))?;
    let update = UpdateRequest { status: Some(status), ..UpdateRequest::default() };
    let _updated = crate::api::requests::update(State(state), ApiPath(id), ApiJson(update)).await?;
    Ok(super::done(&format!("/requests/{id}")))
}

//! One account's page (`/accounts/{id}`): who they are and what they pay, their health
//! (open bugs and blockers, blocked pipeline, CSAT, trends), risk flags with reasons, a
//! small chart of feedback volume by period and kind, the requests they wait on, and
//! their latest feedback. It renders `api::accounts::get_account` and asks search
//! for the latest items.

use axum::extract::State;
use axum::Extension;
use chorus_core::health::Trend;
use chorus_core::Health;
use maud::{html, Markup};

use super::layout::{self, Nav};
use super::{WebCaller, WebPath, WebResult};
use crate::api::accounts::AccountDetailView;
use crate::api::search::{SearchParams, SortParam};
use crate::extract::{ApiPath, ApiQuery};
use crate::AppState;

/// Latest items shown.
const LATEST: usize = 10;

/// `GET /accounts/{id}`.
pub async fn page(
    State(state): State<AppState>,
    Extension(who): Extension<WebCaller>,
    WebPath(id): WebPath<i64>,
) -> WebResult {
    let axum::Json(detail) = crate::api::accounts::get_account(State(state.clone()), ApiPath(id)).await?;
    let params = SearchParams {
        account: Some(id.to_string()),
        sort: Some(SortParam::Recency),
        limit: Some(LATEST),
        ..SearchParams::default()
    };
    // Without an index the page still shows everything else.
    let latest = crate::api::search::search(State(state.clone()), ApiQuery(params)).await.ok().map(|json| json.0);
    let account = &detail.account;
    let body = html! {
        div.heading {
            h1 #account-name { (account.name) }
            p.meta {
                span.arr { (layout::money(account.arr_minor, &account.currency)) " ARR" }
                @if let Some(segment) = &account.segment { span { (segment) } }
                @if let Some(stage) = &account.lifecycle_stage { span { (stage) } }
                @if let Some(plan) = &account.plan { span { "plan " (plan) } }
                @if let Some(renewal) = account.renewal_date { span { "renews " (renewal.to_string()) } }
                @if let Some(owner) = &account.csm_owner { span { "CSM " (owner) } }
            }
            @if !account.domains.is_empty() { p.muted { (account.domains.join(", ")) } }
        }
        @if let Some(into) = account.merged_into {
            p.notice { "This account was merged into " a href={ "/accounts/" (into) } { "account " (into) } "." }
        }
        @if let Some(health) = &detail.health { (health_panel(health, &state)) }
        (waiting_on(&detail))
        @if let Some(latest) = latest {
            section.panel {
                h2 { "Latest feedback" }
                @if latest.hits.is_empty() { p.empty { "No feedback from this account yet." } }
                ul.items {
                    @for hit in &latest.hits {
                        li.item {
                            p.title { span class={ "kind " (hit.kind) } { (hit.kind.replace('_', " ")) } (hit.title) }
                            p.meta { span { (hit.source) } span { (hit.status) } span.muted { (layout::date(hit.updated_at)) } }
                        }
                    }
                }
            }
        }
        section.panel {
            h2 { "Formed from" }
            ul.sources {
                @for source in &detail.sources {
                    li { (source.source) " " code { (source.external_id) } span.muted { " via " (source.connector) ", joined by " (source.joined_by) } }
                }
            }
        }
    };
    Ok(layout::page(&account.name, Some(&who), Nav::None, body))
}

fn trend(label: &str, trend: &Trend) -> Markup {
    html! {
        div.stat {
            span.label { (label) }
            span.value { (trend.recent) }
            span.muted {
                "vs " (trend.previous)
                @if let Some(change) = trend.change_percent { " (" (format!("{change:+.0}%")) ")" }
            }
        }
    }
}

fn health_panel(health: &Health, state: &AppState) -> Markup {
    let currency = state.settings.money.reporting_currency;
    html! {
        section.panel.health {
            h2 { "Health" }
            div.stats {
                div.stat { span.label { "Open bugs" } span.value { (health.open_bugs) } }
                div.stat {
                    span.label { "Open blockers" } span.value { (health.open_blockers) }
                    @if health.blocked_pipeline_minor > 0 {
                        span.muted { (layout::reporting(health.blocked_pipeline_minor as f64, currency)) " blocked" }
                    }
                }
                div.stat {
                    span.label { "CSAT" }
                    @match &health.csat {
                        Some(csat) => { span.value { (format!("{:.0}%", csat.average * 100.0)) } span.muted { (csat.ratings) " ratings" } }
                        None => span.value { "–" },
                    }
                }
                (trend("Bugs, recent window", &health.bugs))
                (trend("Tickets, recent window", &health.tickets))
            }
            @if health.risks.is_empty() {
                p.notice.good { "No risk flags." }
            } @else {
                ul.risks { @for risk in &health.risks { li.risk role="alert" { (risk.reason) } } }
            }
            @for upsell in &health.upsell {
                p.notice { "Upsell: asks for " strong { (upsell.capability) } " (" (upsell.items) " items), which plan " (upsell.plan) " has." }
            }
            h3 { "Feedback volume" }
            (volume_chart(health))
        }
    }
}

/// Stacked bars, one per period (oldest left), one colour per kind (CSS classes).
fn volume_chart(health: &Health) -> Markup {
    const BAR: usize = 28;
    const GAP: usize = 8;
    const HEIGHT: f64 = 80.0;
    let totals: Vec<u32> = health.history.iter().map(|p| p.kinds.iter().map(|k| k.open + k.closed).sum()).collect();
    let most = f64::from(totals.iter().copied().max().unwrap_or(0).max(1));
    let width = health.history.len() * (BAR + GAP);
    // Each period's segments, bottom up: (kind, y, height).
    let stacks: Vec<Vec<(&str, f64, f64)>> = health
        .history
        .iter()
        .map(|period| {
            let mut top = HEIGHT;
            let mut segments = Vec::new();
            for count in &period.kinds {
                let h = f64::from(count.open + count.closed) / most * HEIGHT;
                if h > 0.0 {
                    top -= h;
                    segments.push((count.kind.as_str(), top, h));
                }
            }
            segments
        })
        .collect();
    html! {
        svg.chart #volume viewBox={ "0 0 " (width) " " (HEIGHT + 2.0) } width=(width) height=(HEIGHT + 2.0) role="img"
            aria-label="feedback volume by period" {
            @for (n, (period, segments)) in health.history.iter().zip(&stacks).enumerate() {
                g {
                    title { (layout::date(period.start)) " to " (layout::date(period.end)) ": " (totals[n]) " items" }
                    @for (kind, y, h) in segments {
                        rect class={ "kind-" (kind) } x=(n * (BAR + GAP)) y=(format!("{y:.1}")) width=(BAR) height=(format!("{h:.1}")) {}
                    }
                    rect.axis x=(n * (BAR + GAP)) y=(HEIGHT) width=(BAR) height="1" {}
                }
            }
        }
        p.legend {
            @for kind in chorus_core::Kind::ALL {
                span class={ "swatch kind-" (kind.as_str()) } {} (kind.as_str().replace('_', " "))
            }
        }
    }
}

fn waiting_on(detail: &AccountDetailView) -> Markup {
    html! {
        @if !detail.waiting_on.is_empty() {
            section.panel {
                h2 { "Waiting on" }
                ul { @for request in &detail.waiting_on { li { a href={ "/requests/" (request.id) } { (request.title) } } } }
            }
        }
    }
}

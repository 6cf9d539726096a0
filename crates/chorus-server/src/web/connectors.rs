//! Connector status (`/connectors`): each configured connector with its schedule, its
//! latest run and latest success, and its last few runs with their counts and errors.
//! An admin can start a sync from here. Everything is the API's own handlers
//! (`api::connectors`).

use axum::extract::State;
use axum::Extension;
use chorus_store::Role;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, csrf_field, Nav};
use super::{WebCaller, WebPath, WebQuery, WebResult};
use crate::api::connectors::{ConnectorView, HistoryParams};
use crate::api::runs::{RunStatusView, RunView};
use crate::extract::{ApiBytes, ApiPath, ApiQuery};
use crate::AppState;

/// Runs shown per connector.
const RECENT: u32 = 5;

#[derive(Debug, Default, Deserialize)]
pub struct ConnectorsForm {
    /// The connector a sync was just started for, for the notice.
    pub started: Option<String>,
}

/// `GET /connectors`.
pub async fn page(
    State(state): State<AppState>,
    Extension(who): Extension<WebCaller>,
    WebQuery(form): WebQuery<ConnectorsForm>,
) -> WebResult {
    let axum::Json(list) = crate::api::connectors::list(State(state.clone())).await?;
    let mut sections = Vec::with_capacity(list.connectors.len());
    for connector in &list.connectors {
        let params = HistoryParams { cursor: None, limit: Some(RECENT) };
        let runs = crate::api::connectors::runs(State(state.clone()), ApiPath(connector.id.clone()), ApiQuery(params))
            .await?
            .0
            .runs;
        sections.push(section(&who, connector, &runs));
    }
    let body = html! {
        div.heading {
            h1 { "Connectors" }
            p.muted { "Each source's syncs: schedule, latest run, and what went wrong." }
        }
        @if let Some(id) = &form.started { p.notice.good role="status" { "Sync of " (id) " started." } }
        @if sections.is_empty() { p.empty { "No connectors are configured (see chorus.toml)." } }
        @for section in sections { (section) }
    };
    Ok(layout::page("Connectors", Some(&who), Nav::Connectors, body))
}

fn status(status: RunStatusView) -> &'static str {
    match status {
        RunStatusView::Running => "running",
        RunStatusView::Succeeded => "succeeded",
        RunStatusView::Failed => "failed",
        RunStatusView::RateLimited => "rate_limited",
        RunStatusView::Abandoned => "abandoned",
    }
}

fn section(who: &WebCaller, connector: &ConnectorView, runs: &[RunView]) -> Markup {
    html! {
        section.panel.connector {
            div.connector-head {
                h2 { (connector.id) span.muted { " " (connector.kind) " · " (connector.source) } }
                @if let Some(run) = &connector.last_run { span class={ "run " (status(run.status)) } { (status(run.status).replace('_', " ")) } }
                @if !connector.enabled { span.run.abandoned { "disabled" } }
                @if who.may(Role::Admin) {
                    form.inline method="post" action={ "/connectors/" (connector.id) "/sync" } {
                        (csrf_field(who))
                        button type="submit" disabled[connector.running] { "Sync now" }
                    }
                }
            }
            p.meta {
                span { "schedule " code { (connector.schedule.as_deref().unwrap_or("none")) } }
                @if let Some(ok) = &connector.last_success { span { "last success " (layout::time(ok.started_at)) } }
                @else { span { "no successful run yet" } }
            }
            @if runs.is_empty() { p.empty { "No runs yet." } }
            @else {
                table.runs {
                    thead { tr { th { "Started" } th { "Status" } th { "Pages" } th { "Upserted" } th { "Unchanged" } th { "Deleted" } th { "Unmapped" } th { "Error" } } }
                    tbody {
                        @for run in runs {
                            tr {
                                td { (layout::time(run.started_at)) }
                                td { span class={ "run " (status(run.status)) } { (status(run.status).replace('_', " ")) } }
                                td.num { (run.pages) } td.num { (run.upserted) } td.num { (run.unchanged) }
                                td.num { (run.deleted) } td.num { (run.unmapped) }
                                td.error { (run.error.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /connectors/{id}/sync`: starts an incremental sync (admin).
pub async fn sync(State(state): State<AppState>, WebPath(id): WebPath<String>) -> WebResult {
    let _started =
        crate::api::connectors::trigger(State(state), ApiPath(id.clone()), ApiBytes(bytes::Bytes::new())).await?;
    Ok(super::done(&format!("/connectors?{}", layout::query(&[("started", &id)]))))
}

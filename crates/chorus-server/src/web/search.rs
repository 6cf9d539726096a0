//! The search page (`/`): a query box with filters, the reach of all matches (distinct
//! accounts and their ARR), facet counts that narrow the search in one click, and a
//! page of highlighted hits. It asks `api::search::search`, the API's own handler.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, Nav};
use super::{given, WebCaller, WebQuery as Query, WebResult};
use crate::api::search::{FacetCountView, HitView, SearchParams, SearchResponse, SortParam};
use crate::extract::ApiQuery;
use crate::{ApiError, AppState};

/// Hits per page.
const PAGE: usize = 20;

/// The form's fields: all text, an empty one meaning "any".
#[derive(Debug, Default, Clone, Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    pub q: String,
    pub kind: Option<String>,
    pub source: Option<String>,
    pub status: Option<String>,
    pub segment: Option<String>,
    pub stage: Option<String>,
    pub account: Option<String>,
    /// `yes`: linked to a request; `no`: not linked.
    pub linked: Option<String>,
    pub sort: Option<String>,
    pub offset: Option<usize>,
}

impl SearchForm {
    fn params(&self) -> Result<SearchParams, ApiError> {
        let linked = match given(self.linked.clone()).as_deref() {
            None => None,
            Some("yes") => Some(true),
            Some("no") => Some(false),
            Some(other) => return Err(ApiError::BadRequest(format!("linked: expected yes or no, not `{other}`"))),
        };
        let sort = match given(self.sort.clone()).as_deref() {
            None | Some("weighted") => SortParam::Weighted,
            Some("relevance") => SortParam::Relevance,
            Some("recency") => SortParam::Recency,
            Some("revenue") => SortParam::Revenue,
            Some(other) => return Err(ApiError::BadRequest(format!("sort: unknown order `{other}`"))),
        };
        Ok(SearchParams {
            q: self.q.clone(),
            kind: given(self.kind.clone()),
            source: given(self.source.clone()),
            status: given(self.status.clone()),
            segment: given(self.segment.clone()),
            stage: given(self.stage.clone()),
            account: given(self.account.clone()),
            linked,
            sort: Some(sort),
            limit: Some(PAGE),
            offset: self.offset,
            ..SearchParams::default()
        })
    }

    /// The query string of this search with `name` set to `value` (and paging reset).
    fn with(&self, name: &str, value: &str) -> String {
        let field = |own: &str, current: &Option<String>| -> String {
            if own == name {
                value.to_owned()
            } else {
                current.clone().unwrap_or_default()
            }
        };
        let offset = if name == "offset" { value.to_owned() } else { String::new() };
        let q = if name == "q" { value.to_owned() } else { self.q.clone() };
        layout::query(&[
            ("q", &q),
            ("kind", &field("kind", &self.kind)),
            ("source", &field("source", &self.source)),
            ("status", &field("status", &self.status)),
            ("segment", &field("segment", &self.segment)),
            ("stage", &field("stage", &self.stage)),
            ("account", &field("account", &self.account)),
            ("linked", &field("linked", &self.linked)),
            ("sort", &field("sort", &self.sort)),
            ("offset", &offset),
        ])
    }
}

/// `GET /`.
pub async fn page(
    State(state): State<AppState>,
    Extension(who): Extension<WebCaller>,
    Query(form): Query<SearchForm>,
) -> WebResult {
    let params = form.params()?;
    let answer = match crate::api::search::search(State(state.clone()), ApiQuery(params)).await {
        Ok(axum::Json(answer)) => Ok(answer),
        // A bad query is the person's to fix: show it beside the form, not as an error page.
        Err(ApiError::BadRequest(message)) => Err(message),
        Err(other) => return Err(other.into()),
    };
    let currency = state.settings.money.reporting_currency;
    let body = html! {
        (search_form(&form))
        @match &answer {
            Err(message) => p.notice.bad role="alert" { "That search could not run: " (message) },
            Ok(answer) => (results(&form, answer, currency)),
        }
    };
    Ok(page_response(&who, body))
}

fn page_response(who: &WebCaller, body: Markup) -> Response {
    layout::page("Search", Some(who), Nav::Search, body)
}

const KINDS: [(&str, &str); 4] = [
    ("bug", "Bug"),
    ("feature_request", "Feature request"),
    ("support_ticket", "Support ticket"),
    ("sales_blocker", "Sales blocker"),
];
const SOURCES: [&str; 6] = ["jira", "zendesk", "salesforce", "slack", "feed", "import"];

fn select(name: &str, label: &str, current: Option<&str>, options: &[(&str, &str)]) -> Markup {
    select_or(name, label, current, "any", options)
}

/// A picker whose empty choice reads `unset`.
fn select_or(name: &str, label: &str, current: Option<&str>, unset: &str, options: &[(&str, &str)]) -> Markup {
    html! {
        label {
            span { (label) }
            select name=(name) {
                option value="" { (unset) }
                @for (value, text) in options {
                    option value=(value) selected[current == Some(*value)] { (text) }
                }
            }
        }
    }
}

fn search_form(form: &SearchForm) -> Markup {
    let sources: Vec<(&str, &str)> = SOURCES.iter().map(|s| (*s, *s)).collect();
    html! {
        form.search method="get" action="/" {
            div.query {
                input #q type="search" name="q" value=(form.q) placeholder="Search every piece of feedback…"
                    aria-label="Search";
                button type="submit" { "Search" }
            }
            div.filters {
                (select("kind", "Kind", form.kind.as_deref(), &KINDS))
                (select("source", "Source", form.source.as_deref(), &sources))
                (select("linked", "Request", form.linked.as_deref(), &[("yes", "linked"), ("no", "not linked")]))
                (select_or("sort", "Order", form.sort.as_deref(), "best match × revenue",
                    &[("relevance", "best match"), ("revenue", "revenue"), ("recency", "newest")]))
                @for (name, value) in [("status", &form.status), ("segment", &form.segment), ("stage", &form.stage), ("account", &form.account)] {
                    @if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                        input type="hidden" name=(name) value=(value);
                        a.chip href={ "/?" (form.with(name, "")) } title="remove this filter" { (name) ": " (value) " ×" }
                    }
                }
            }
        }
    }
}

fn results(form: &SearchForm, answer: &SearchResponse, currency: chorus_core::Currency) -> Markup {
    let offset = form.offset.unwrap_or(0);
    html! {
        div.results {
            aside.facets {
                section.reach {
                    h2 { "Reach" }
                    p.big #reach-accounts { (answer.reach.accounts) @if answer.reach.accounts == 1 { " account" } @else { " accounts" } }
                    p.muted { (layout::reporting(answer.reach.arr_minor as f64, currency)) " ARR" }
                }
                (facet(form, "Kind", "kind", &answer.facets.kind))
                (facet(form, "Source", "source", &answer.facets.source))
                (facet(form, "Status", "status", &answer.facets.status))
                (facet(form, "Segment", "segment", &answer.facets.segment))
                (facet(form, "Lifecycle stage", "stage", &answer.facets.lifecycle_stage))
            }
            section.hits {
                p.muted #total { (answer.total) @if answer.total == 1 { " matching item" } @else { " matching items" } }
                @for hit in &answer.hits { (hit_row(hit)) }
                nav.pager {
                    @if offset > 0 {
                        a href={ "/?" (form.with("offset", &offset.saturating_sub(PAGE).to_string())) } { "← Previous" }
                    }
                    @if (offset + answer.hits.len()) < answer.total as usize {
                        a href={ "/?" (form.with("offset", &(offset + PAGE).to_string())) } { "Next →" }
                    }
                }
            }
        }
    }
}

fn facet(form: &SearchForm, title: &str, name: &str, counts: &[FacetCountView]) -> Markup {
    let most = counts.iter().map(|c| c.count).max().unwrap_or(0).max(1) as f64;
    html! {
        @if !counts.is_empty() {
            section.facet {
                h2 { (title) }
                ul {
                    @for count in counts.iter().take(8) {
                        li {
                            a href={ "/?" (form.with(name, &count.value)) } { (count.value) }
                            span.count { (count.count) }
                            (layout::bar(count.count as f64 / most, &format!("{} items", count.count)))
                        }
                    }
                }
            }
        }
    }
}

/// The snippet with its highlights marked; every piece is escaped text.
fn snippet(hit: &HitView) -> Markup {
    let text = &hit.snippet.text;
    let mut pieces: Vec<(bool, &str)> = Vec::new();
    let mut at = 0;
    for [start, end] in &hit.snippet.highlights {
        let (Some(before), Some(marked)) = (text.get(at..*start), text.get(*start..*end)) else { continue };
        pieces.push((false, before));
        pieces.push((true, marked));
        at = *end;
    }
    pieces.push((false, text.get(at..).unwrap_or_default()));
    html! {
        p.snippet { @for (marked, piece) in pieces { @if marked { mark { (piece) } } @else { (piece) } } }
    }
}

fn hit_row(hit: &HitView) -> Markup {
    html! {
        article.hit {
            h3 {
                @if let Some(url) = hit.url.as_deref().filter(|u| u.starts_with("https://") || u.starts_with("http://")) {
                    a href=(url) rel="noopener noreferrer" target="_blank" { (hit.title) }
                } @else {
                    (hit.title)
                }
            }
            (snippet(hit))
            p.meta {
                span class={ "kind " (hit.kind) } { (hit.kind.replace('_', " ")) }
                span { (hit.source) }
                span { (hit.status) }
                @if let (Some(id), Some(name)) = (hit.account_id, hit.account_name.as_deref()) {
                    a href={ "/accounts/" (id) } { (name) }
                }
                span.muted { "updated " (layout::date(hit.updated_at)) }
            }
        }
    }
}

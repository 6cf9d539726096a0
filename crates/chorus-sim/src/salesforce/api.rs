//! The instance host's data API: query, queryAll, locators, describe and limits.
//!
//! Every route first checks the session (401 `INVALID_SESSION_ID` in Salesforce's
//! error shape), then counts the call against the daily quota (403
//! `REQUEST_LIMIT_EXCEEDED` past it) and answers with `Sforce-Limit-Info`. Invariant: a
//! query's result set is fixed when it runs; its locator serves the rest of exactly
//! that set, page by page, until it expires or is evicted.

use std::collections::VecDeque;
use std::time::Instant;

use axum::extract::{Path, Query as UrlQuery, Request, State as AxumState};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::soql::{self, Expr, Literal, Query, QueryError};
use super::{data, fields_of, Locator, SalesforceSim, State};

pub(super) fn router(sim: SalesforceSim) -> Router {
    Router::new()
        .route("/services/data/{version}/query", get(query))
        .route("/services/data/{version}/queryAll", get(query_all))
        .route("/services/data/{version}/query/{locator}", get(more))
        .route("/services/data/{version}/queryAll/{locator}", get(more))
        .route("/services/data/{version}/sobjects/{object}/describe", get(describe))
        .route("/services/data/{version}/limits", get(limits))
        .layer(middleware::from_fn_with_state(sim.clone(), guard))
        .with_state(sim)
}

/// Salesforce's error body: `[{"message", "errorCode", "fields"?}]`.
pub(super) fn error(status: StatusCode, code: &str, message: &str, fields: Option<Vec<String>>) -> Response {
    let mut body = json!({ "message": message, "errorCode": code });
    if let Some(fields) = fields {
        body["fields"] = json!(fields);
    }
    (status, Json(json!([body]))).into_response()
}

/// Session check, quota and the limit header, around every data call.
async fn guard(AxumState(sim): AxumState<SalesforceSim>, request: Request, next: Next) -> Response {
    let session = bearer(request.headers()).map(|token| sim.authority.check_bearer(token));
    if !matches!(session, Some(Ok(()))) {
        return error(StatusCode::UNAUTHORIZED, "INVALID_SESSION_ID", "Session expired or invalid", None);
    }
    let (used, quota, refused) = {
        let mut state = sim.lock();
        let refused = state.api_used >= state.config.daily_quota;
        if refused {
            state.quota_refusals += 1;
        } else {
            state.api_used += 1;
        }
        (state.api_used, state.config.daily_quota, refused)
    };
    let mut response = if refused {
        error(StatusCode::FORBIDDEN, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", None)
    } else {
        next.run(request).await
    };
    if let Ok(value) = HeaderValue::from_str(&format!("api-usage={used}/{quota}")) {
        response.headers_mut().insert("sforce-limit-info", value);
    }
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// `vNN.N` between 20.0 and 99.9; anything else is not a resource.
fn version_ok(version: &str) -> bool {
    let Some(number) = version.strip_prefix('v') else { return false };
    let Some((major, minor)) = number.split_once('.') else { return false };
    let major: u32 = major.parse().unwrap_or(0);
    (20..100).contains(&major) && minor.len() == 1 && minor.chars().all(|c| c.is_ascii_digit())
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist", None)
}

#[derive(Debug, Deserialize)]
struct QueryParams {
    q: Option<String>,
}

async fn query(
    AxumState(sim): AxumState<SalesforceSim>,
    Path(version): Path<String>,
    headers: HeaderMap,
    UrlQuery(params): UrlQuery<QueryParams>,
) -> Response {
    run(&sim, &version, &headers, params.q, false)
}

async fn query_all(
    AxumState(sim): AxumState<SalesforceSim>,
    Path(version): Path<String>,
    headers: HeaderMap,
    UrlQuery(params): UrlQuery<QueryParams>,
) -> Response {
    run(&sim, &version, &headers, params.q, true)
}

/// Records per page: what the client asked for (`Sforce-Query-Options: batchSize=N`,
/// taken within 200..=2000, default 2000), never more than the org's `cap`: the batch
/// size is a request, and Salesforce may serve smaller pages.
fn batch_size(headers: &HeaderMap, cap: usize) -> usize {
    let asked: Option<usize> = headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').find_map(|part| part.trim().strip_prefix("batchSize=")?.trim().parse().ok()));
    asked.map_or(2000, |asked| asked.clamp(200, 2000)).min(cap.max(1))
}

fn run(sim: &SalesforceSim, version: &str, headers: &HeaderMap, text: Option<String>, all: bool) -> Response {
    if !version_ok(version) {
        return not_found();
    }
    let Some(text) = text else {
        return error(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", "A query string has to be specified", None);
    };
    let mut state = sim.lock();
    state.queries.push(text.clone());
    let batch = batch_size(headers, state.config.batch_size);
    match execute(&state, version, &text, all) {
        Ok(records) => page(&mut state, version, records, batch, all),
        Err(QueryError { code, message }) => error(StatusCode::BAD_REQUEST, code, &message, None),
    }
}

/// The records a query selects, rendered, in order.
fn execute(state: &State, version: &str, text: &str, all: bool) -> Result<Vec<Value>, QueryError> {
    let query = soql::parse(text)?;
    let Some(fields) = fields_of(state, &query.object) else {
        return Err(QueryError {
            code: "INVALID_TYPE",
            message: format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to \
                 append the '__c' after the entity name. Please reference your WSDL or the describe call for the \
                 appropriate names.",
                query.object
            ),
        });
    };
    let object = canonical_object(&query.object);
    check(state, &query, object, &fields)?;
    let empty = Default::default();
    let records = state.records.get(object).unwrap_or(&empty);
    let mut selected: Vec<&data::SimRecord> = records
        .values()
        .filter(|record| all || !record.deleted())
        .filter(|record| query.filter.as_ref().is_none_or(|filter| filter.matches(&|name| record.get(name))))
        .collect();
    for (field, descending) in query.order_by.iter().rev() {
        selected.sort_by(|a, b| {
            let ordering = soql::order_values(&a.get(field), &b.get(field));
            if *descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
    }
    if let Some(limit) = query.limit {
        selected.truncate(limit);
    }
    Ok(selected.into_iter().map(|record| render(state, version, object, record, &query, &fields)).collect())
}

fn canonical_object(name: &str) -> &'static str {
    ["Account", "Contact", "Opportunity", "Case", "User"]
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .unwrap_or("Account")
}

fn invalid_field(object: &str, field: &str) -> QueryError {
    QueryError {
        code: "INVALID_FIELD",
        message: format!(
            "\n{field} FROM {object}\n^\nERROR at Row:1:Column:8\nNo such column '{field}' on entity '{object}'. If \
             you are attempting to use a custom field, be sure to append the '__c' after the custom field name. \
             Please reference your WSDL or the describe call for the appropriate names."
        ),
    }
}

fn spec<'a>(fields: &'a [data::FieldSpec], name: &str) -> Option<&'a data::FieldSpec> {
    fields.iter().find(|field| field.name.eq_ignore_ascii_case(name))
}

/// Refuses fields the object lacks, filters on fields that cannot be filtered, and
/// quoted datetimes.
fn check(state: &State, query: &Query, object: &str, fields: &[data::FieldSpec]) -> Result<(), QueryError> {
    for name in &query.fields {
        match name.split_once('.') {
            Some((relation, field)) => {
                let Some((_, target)) = data::relationship(object, relation) else {
                    return Err(invalid_field(object, relation));
                };
                let target_fields = fields_of(state, target).unwrap_or_default();
                if spec(&target_fields, field).is_none() {
                    return Err(invalid_field(target, field));
                }
            }
            None if spec(fields, name).is_none() => return Err(invalid_field(object, name)),
            None => {}
        }
    }
    if let Some(filter) = &query.filter {
        for (name, value) in Expr::fields(filter) {
            let Some(field) = spec(fields, name) else { return Err(invalid_field(object, name)) };
            if !field.filterable {
                return Err(QueryError {
                    code: "INVALID_FIELD",
                    message: format!("field '{}' can not be filtered in a query call", field.name),
                });
            }
            if field.kind == "datetime" && matches!(value, Literal::Text(_)) {
                return Err(QueryError {
                    code: "INVALID_FIELD",
                    message: format!(
                        "value of filter criterion for field '{}' must be of type dateTime and should not be \
                         enclosed in quotes",
                        field.name
                    ),
                });
            }
        }
    }
    for (name, _) in &query.order_by {
        let Some(field) = spec(fields, name) else { return Err(invalid_field(object, name)) };
        if !field.filterable {
            return Err(QueryError {
                code: "INVALID_FIELD",
                message: format!("field '{}' can not be sorted in a query call", field.name),
            });
        }
    }
    Ok(())
}

fn attributes(version: &str, object: &str, id: &str) -> Value {
    json!({ "type": object, "url": format!("/services/data/{version}/sobjects/{object}/{id}") })
}

/// One record as a query returns it: `attributes`, then the selected fields in order
/// (relationship fields nested under the relationship's name).
fn render(
    state: &State,
    version: &str,
    object: &str,
    record: &data::SimRecord,
    query: &Query,
    fields: &[data::FieldSpec],
) -> Value {
    let mut out = Map::new();
    out.insert("attributes".into(), attributes(version, object, record.id()));
    for name in &query.fields {
        match name.split_once('.') {
            Some((relation, field)) => {
                let Some((via, target)) = data::relationship(object, relation) else { continue };
                let key = relation_name(relation);
                let related = record
                    .get(via)
                    .as_str()
                    .and_then(|id| state.records.get(target).and_then(|records| records.get(id)))
                    .cloned();
                let entry = out.entry(key).or_insert(Value::Null);
                let Some(related) = related else { continue };
                if entry.is_null() {
                    *entry = json!({ "attributes": attributes(version, target, related.id()) });
                }
                let target_fields = fields_of(state, target).unwrap_or_default();
                let canonical = spec(&target_fields, field).map_or(field, |spec| spec.name);
                if let Value::Object(map) = entry {
                    map.insert(canonical.to_owned(), related.get(canonical));
                }
            }
            None => {
                let canonical = spec(fields, name).map_or(name.as_str(), |spec| spec.name);
                out.insert(canonical.to_owned(), record.get(canonical));
            }
        }
    }
    Value::Object(out)
}

fn relation_name(relation: &str) -> String {
    let mut chars = relation.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The first page of `records`; the rest goes behind a new locator.
fn page(state: &mut State, version: &str, records: Vec<Value>, batch: usize, all: bool) -> Response {
    let total = records.len();
    let mut records: VecDeque<Value> = records.into();
    let first: Vec<Value> = records.drain(..batch.min(total)).collect();
    let mut body = json!({ "totalSize": total, "done": records.is_empty(), "records": first });
    if !records.is_empty() {
        // Without a key prefix the id is 12 characters and gets no suffix: 15 in all.
        let id = format!("01g{}", data::make_id("", state.next_locator));
        state.next_locator += 1;
        let served = batch;
        state.locators.insert(id.clone(), Locator { records, total, batch, last_used: Instant::now() });
        state.locator_order.push_back(id.clone());
        while state.locator_order.len() > state.config.max_locators {
            if let Some(oldest) = state.locator_order.pop_front() {
                state.locators.remove(&oldest);
            }
        }
        let endpoint = if all { "queryAll" } else { "query" };
        body["nextRecordsUrl"] = json!(format!("/services/data/{version}/{endpoint}/{id}-{served}"));
    }
    Json(body).into_response()
}

async fn more(
    AxumState(sim): AxumState<SalesforceSim>,
    Path((version, locator)): Path<(String, String)>,
    request: Request,
) -> Response {
    if !version_ok(&version) {
        return not_found();
    }
    let all = request.uri().path().contains("/queryAll/");
    let invalid = || error(StatusCode::BAD_REQUEST, "INVALID_QUERY_LOCATOR", "invalid query locator", None);
    let Some((id, offset)) = locator.rsplit_once('-') else { return invalid() };
    let mut state = sim.lock();
    let ttl = state.config.locator_ttl;
    let Some(open) = state.locators.get_mut(id) else { return invalid() };
    let served = open.total - open.records.len();
    if offset.parse::<usize>().ok() != Some(served) || open.last_used.elapsed() > ttl {
        return invalid();
    }
    open.last_used = Instant::now();
    let take = open.batch.min(open.records.len());
    let records: Vec<Value> = open.records.drain(..take).collect();
    let (total, done) = (open.total, open.records.is_empty());
    let mut body = json!({ "totalSize": total, "done": done, "records": records });
    if done {
        state.locators.remove(id);
        state.locator_order.retain(|open| open != id);
    } else {
        let endpoint = if all { "queryAll" } else { "query" };
        body["nextRecordsUrl"] = json!(format!("/services/data/{version}/{endpoint}/{id}-{}", served + take));
    }
    Json(body).into_response()
}

async fn describe(
    AxumState(sim): AxumState<SalesforceSim>,
    Path((version, object)): Path<(String, String)>,
) -> Response {
    if !version_ok(&version) {
        return not_found();
    }
    let state = sim.lock();
    let Some(fields) = fields_of(&state, &object) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist", None);
    };
    let name = canonical_object(&object);
    let fields: Vec<Value> = fields
        .iter()
        .map(|field| {
            json!({
                "name": field.name,
                "label": field.name.trim_end_matches("__c").replace('_', " "),
                "type": field.kind,
                "filterable": field.filterable,
                "sortable": field.filterable,
                "custom": field.name.ends_with("__c"),
                "nillable": field.name != "Id",
            })
        })
        .collect();
    Json(json!({
        "name": name,
        "label": name,
        "custom": false,
        "queryable": true,
        "keyPrefix": data::prefix(name),
        "fields": fields,
    }))
    .into_response()
}

async fn limits(AxumState(sim): AxumState<SalesforceSim>, Path(version): Path<String>) -> Response {
    if !version_ok(&version) {
        return not_found();
    }
    let state = sim.lock();
    let quota = state.config.daily_quota;
    Json(json!({
        "DailyApiRequests": { "Max": quota, "Remaining": quota.saturating_sub(state.api_used) },
    }))
    .into_response()
}

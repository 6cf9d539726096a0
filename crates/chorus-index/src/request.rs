//! What a search asks for (query text, filters, sort, page) and its translation into one
//! tantivy query.
//!
//! Invariant: filters never change relevance — they are wrapped in zero-score clauses —
//! and every value is validated here, so a malformed filter is a [`QueryError`], not a
//! tantivy panic (an unbounded `RangeQuery` panics, so none is ever built).

use std::ops::Bound;

use chorus_core::{Kind, LifecycleStage, Source};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery,
    TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;

use crate::error::QueryError;
use crate::query::{Conjunction, Operand, QueryAst};
use crate::schema::{self, normalize_status, to_tantivy_date, Fields};

/// Most hits one page may return.
pub const MAX_LIMIT: usize = 1_000;
/// Deepest page start.
pub const MAX_OFFSET: usize = 10_000;
/// Most values one filter may list.
pub const MAX_FILTER_VALUES: usize = 100;
/// Most analyzed tokens one query may expand to (a long hyphenated word is a phrase).
pub const MAX_TOKENS: usize = 64;

/// How hits are ordered. Reach, facets and `total` never depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Text relevance × the revenue factor of the item's account (the default).
    #[default]
    Weighted,
    /// Text relevance (BM25) alone.
    Relevance,
    /// Most recently updated first.
    Recency,
    /// Highest account ARR first, then relevance.
    Revenue,
}

/// A half-open time range: `from` inclusive, `to` exclusive; either may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DateRange {
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
}

/// Filters; values within one filter are alternatives (OR), filters combine with AND.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Filters {
    pub kind: Vec<Kind>,
    pub source: Vec<Source>,
    /// Compared trimmed and lowercased.
    pub status: Vec<String>,
    pub connector: Vec<String>,
    pub account_id: Vec<i64>,
    pub segment: Vec<String>,
    pub lifecycle_stage: Vec<LifecycleStage>,
    pub created: DateRange,
    pub updated: DateRange,
    /// `Some(true)`: only items linked to a request; `Some(false)`: only unlinked ones.
    pub linked: Option<bool>,
    /// Only items linked to one of these requests.
    pub request_id: Vec<i64>,
}

/// One search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchRequest {
    pub query: String,
    pub filters: Filters,
    pub sort: Sort,
    pub limit: usize,
    pub offset: usize,
}

impl Default for SearchRequest {
    fn default() -> Self {
        Self { query: String::new(), filters: Filters::default(), sort: Sort::default(), limit: 20, offset: 0 }
    }
}

impl SearchRequest {
    /// A request for `query` with the default sort and page size.
    pub fn new(query: impl Into<String>) -> Self {
        Self { query: query.into(), ..Self::default() }
    }

    pub(crate) fn validate_page(&self) -> Result<(), QueryError> {
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return Err(QueryError::Limit { limit: self.limit, max: MAX_LIMIT });
        }
        if self.offset > MAX_OFFSET {
            return Err(QueryError::Filter(format!(
                "offset {} is beyond the deepest page ({MAX_OFFSET})",
                self.offset
            )));
        }
        Ok(())
    }
}

/// Turns a parsed query and the filters into one tantivy query.
pub(crate) fn build_query(ast: &QueryAst, filters: &Filters, fields: &Fields) -> Result<Box<dyn Query>, QueryError> {
    let mut tokens_used = 0;
    let text = if ast.is_match_all() {
        Box::new(AllQuery) as Box<dyn Query>
    } else {
        expression(ast, fields, &mut tokens_used)?
    };
    let filter_clauses = filter_queries(filters, fields)?;
    if filter_clauses.is_empty() {
        return Ok(text);
    }
    let mut clauses = vec![(Occur::Must, text)];
    for filter in filter_clauses {
        let zero_score: Box<dyn Query> = Box::new(ConstScoreQuery::new(filter, 0.0));
        clauses.push((Occur::Must, zero_score));
    }
    Ok(Box::new(BooleanQuery::new(clauses)))
}

/// Whether tantivy can skip non-competitive matches of this query when ranking by score
/// (block-max WAND): one word, over one or all text fields, and no filter. Anything else
/// (phrases, ANDs, exclusions, filters) is scored match by match.
pub(crate) fn prunes(ast: &QueryAst, filters: &Filters) -> bool {
    let [conjunction] = ast.any_of.as_slice() else { return false };
    let [clause] = conjunction.clauses.as_slice() else { return false };
    let Operand::Text { text, .. } = &clause.operand else { return false };
    !clause.exclude && *filters == Filters::default() && analyze(text).len() == 1
}

fn expression(ast: &QueryAst, fields: &Fields, tokens: &mut usize) -> Result<Box<dyn Query>, QueryError> {
    let mut alternatives = Vec::with_capacity(ast.any_of.len());
    for conjunction in &ast.any_of {
        alternatives.push(conjunction_query(conjunction, fields, tokens)?);
    }
    if alternatives.len() == 1 {
        return Ok(alternatives.remove(0));
    }
    Ok(Box::new(BooleanQuery::union(alternatives)))
}

fn conjunction_query(
    conjunction: &Conjunction,
    fields: &Fields,
    tokens: &mut usize,
) -> Result<Box<dyn Query>, QueryError> {
    let mut clauses = Vec::with_capacity(conjunction.clauses.len() + 1);
    for clause in &conjunction.clauses {
        let query = match &clause.operand {
            Operand::Text { field, text, phrase: _ } => text_query(field.as_deref(), text, fields, tokens)?,
            Operand::Group(group) => expression(group, fields, tokens)?,
        };
        let occur = if clause.exclude { Occur::MustNot } else { Occur::Must };
        clauses.push((occur, query));
    }
    if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
        // Exclusions alone match nothing in tantivy; here they mean "everything but".
        clauses.push((Occur::Must, Box::new(AllQuery)));
    }
    if clauses.len() == 1 && clauses[0].0 == Occur::Must {
        return Ok(clauses.remove(0).1);
    }
    Ok(Box::new(BooleanQuery::new(clauses)))
}

/// A word or phrase over one text field, or over all of them (title boosted).
fn text_query(
    field_name: Option<&str>,
    text: &str,
    fields: &Fields,
    tokens_used: &mut usize,
) -> Result<Box<dyn Query>, QueryError> {
    let tokens = analyze(text);
    *tokens_used += tokens.len();
    if *tokens_used > MAX_TOKENS {
        return Err(QueryError::TooManyTerms { max: MAX_TOKENS });
    }
    if tokens.is_empty() {
        // Only over-long tokens (hashes, blobs): nothing indexed can match them.
        return Ok(Box::new(EmptyQuery));
    }
    if let Some(field) = field_name.and_then(|name| fields.text_field(name)) {
        return Ok(tokens_query(field, &tokens));
    }
    let per_field = schema::TEXT_FIELDS
        .iter()
        .filter_map(|(name, boost)| fields.text_field(name).map(|field| (field, *boost)))
        .map(|(field, boost)| {
            let query = tokens_query(field, &tokens);
            let boosted: Box<dyn Query> = if boost == 1.0 { query } else { Box::new(BoostQuery::new(query, boost)) };
            (Occur::Should, boosted)
        })
        .collect();
    Ok(Box::new(BooleanQuery::new(per_field)))
}

fn tokens_query(field: Field, tokens: &[String]) -> Box<dyn Query> {
    let terms: Vec<Term> = tokens.iter().map(|token| Term::from_field_text(field, token)).collect();
    if terms.len() == 1 {
        let term = terms.into_iter().next().unwrap_or_else(|| Term::from_field_text(field, ""));
        return Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
    }
    Box::new(PhraseQuery::new(terms))
}

/// The index analyzer's tokens for `text`.
pub(crate) fn analyze(text: &str) -> Vec<String> {
    let mut analyzer = schema::analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut tokens = Vec::new();
    while stream.advance() {
        tokens.push(stream.token().text.clone());
    }
    tokens
}

fn filter_queries(filters: &Filters, fields: &Fields) -> Result<Vec<Box<dyn Query>>, QueryError> {
    let mut queries = Vec::new();
    let mut push_terms = |name: &str, terms: Vec<Term>| -> Result<(), QueryError> {
        if terms.len() > MAX_FILTER_VALUES {
            return Err(QueryError::Filter(format!(
                "{name} lists {} values; the limit is {MAX_FILTER_VALUES}",
                terms.len()
            )));
        }
        if !terms.is_empty() {
            queries.push(Box::new(TermSetQuery::new(terms)) as Box<dyn Query>);
        }
        Ok(())
    };
    let text_terms = |field: Field, values: Vec<String>| -> Vec<Term> {
        values.iter().map(|value| Term::from_field_text(field, value)).collect()
    };
    push_terms("kind", text_terms(fields.kind, filters.kind.iter().map(|k| k.to_string()).collect()))?;
    push_terms("source", text_terms(fields.source, filters.source.iter().map(|s| s.to_string()).collect()))?;
    push_terms("status", text_terms(fields.status, filters.status.iter().map(|s| normalize_status(s)).collect()))?;
    push_terms("connector", text_terms(fields.connector, filters.connector.clone()))?;
    push_terms("segment", text_terms(fields.segment, filters.segment.clone()))?;
    push_terms(
        "lifecycle stage",
        text_terms(fields.lifecycle_stage, filters.lifecycle_stage.iter().map(|s| s.to_string()).collect()),
    )?;
    let ids = |field: Field, values: &[i64]| values.iter().map(|id| Term::from_field_i64(field, *id)).collect();
    push_terms("account", ids(fields.account_id, &filters.account_id))?;
    push_terms("request", ids(fields.request_ids, &filters.request_id))?;
    if let Some(linked) = filters.linked {
        let term = Term::from_field_bool(fields.has_request, linked);
        queries.push(Box::new(TermQuery::new(term, IndexRecordOption::Basic)));
    }
    for (name, field, range) in
        [("created", fields.created_at, filters.created), ("updated", fields.updated_at, filters.updated)]
    {
        if let Some(query) = date_range_query(name, field, range)? {
            queries.push(query);
        }
    }
    Ok(queries)
}

fn date_range_query(name: &str, field: Field, range: DateRange) -> Result<Option<Box<dyn Query>>, QueryError> {
    if let (Some(from), Some(to)) = (range.from, range.to) {
        if from >= to {
            return Err(QueryError::Filter(format!(
                "{name} range is empty: `from` {} is not before `to` {}",
                from.to_rfc3339(),
                to.to_rfc3339()
            )));
        }
    }
    let bound = |at: Option<DateTime<Utc>>, inclusive: bool| match at {
        None => Bound::Unbounded,
        Some(at) => {
            let term = Term::from_field_date_for_search(field, to_tantivy_date(at));
            if inclusive {
                Bound::Included(term)
            } else {
                Bound::Excluded(term)
            }
        }
    };
    if range.from.is_none() && range.to.is_none() {
        return Ok(None);
    }
    Ok(Some(Box::new(RangeQuery::new(bound(range.from, true), bound(range.to, false)))))
}

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
use crate::pairs::FrequentWords;
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

/// A built search: the text query and the filters apart, so that a ranked page can prune
/// on the text alone while the filters only admit documents (see `ranked`).
pub(crate) struct Built {
    pub text: Box<dyn Query>,
    /// All filters as one zero-score query; `None` without filters.
    pub filter: Option<Box<dyn Query>>,
}

impl Built {
    /// The text query restricted by the filters.
    pub fn combined(&self) -> Box<dyn Query> {
        match &self.filter {
            None => self.text.box_clone(),
            Some(filter) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, self.text.box_clone()),
                (Occur::Must, filter.box_clone()),
            ])),
        }
    }
}

/// Turns a parsed query and the filters into tantivy queries. `words` are the frequent
/// words whose pairs the generation indexes (phrases of them become pair lookups; an
/// empty list phrases every word). A word searched in every text field is one term of
/// the `words` field.
pub(crate) fn build_query(
    ast: &QueryAst,
    filters: &Filters,
    fields: &Fields,
    words: &FrequentWords,
) -> Result<Built, QueryError> {
    let mut builder = Builder { fields, words, tokens: 0, all_fields: Some(fields.words) };
    let text = if ast.is_match_all() { Box::new(AllQuery) as Box<dyn Query> } else { builder.expression(ast)? };
    let mut filter_clauses = filter_queries(filters, fields)?;
    let filter = match filter_clauses.len() {
        0 => None,
        1 => filter_clauses.pop(),
        _ => {
            Some(Box::new(BooleanQuery::new(filter_clauses.into_iter().map(|clause| (Occur::Must, clause)).collect()))
                as Box<dyn Query>)
        }
    };
    let filter = filter.map(|filter| Box::new(ConstScoreQuery::new(filter, 0.0)) as Box<dyn Query>);
    Ok(Built { text, filter })
}

/// The query's text over the stored text fields themselves, word by word (no pairs, no
/// `words` field, no filters): what snippets are marked with.
pub(crate) fn highlight_query(ast: &QueryAst, fields: &Fields) -> Result<Box<dyn Query>, QueryError> {
    let none = FrequentWords::default();
    let mut builder = Builder { fields, words: &none, tokens: 0, all_fields: None };
    if ast.is_match_all() {
        return Ok(Box::new(AllQuery));
    }
    builder.expression(ast)
}

/// Whether tantivy can skip non-competitive matches of this query's text when ranking by
/// score (block-max WAND): one word, or a phrase that is one pair term, over one or all
/// text fields. Anything else (word phrases, ANDs, exclusions) is scored match by match.
/// Filters do not matter: they only admit documents (see `ranked`).
pub(crate) fn prunes(ast: &QueryAst, words: &FrequentWords) -> bool {
    let [conjunction] = ast.any_of.as_slice() else { return false };
    let [clause] = conjunction.clauses.as_slice() else { return false };
    let Operand::Text { text, .. } = &clause.operand else { return false };
    let tokens = analyze(text);
    let one_pair = matches!(tokens.as_slice(), [first, second] if words.pair(first, second).is_some());
    !clause.exclude && (tokens.len() == 1 || one_pair)
}

/// Query building state: the fields, the frequent words, and the tokens used so far.
struct Builder<'a> {
    fields: &'a Fields,
    words: &'a FrequentWords,
    tokens: usize,
    /// Where a single word searched in every text field is looked up: the `words` field
    /// (one posting list; see `schema`), or `None` for one term per text field.
    all_fields: Option<Field>,
}

impl Builder<'_> {
    fn expression(&mut self, ast: &QueryAst) -> Result<Box<dyn Query>, QueryError> {
        let mut alternatives = Vec::with_capacity(ast.any_of.len());
        for conjunction in &ast.any_of {
            alternatives.push(self.conjunction(conjunction)?);
        }
        if alternatives.len() == 1 {
            return Ok(alternatives.remove(0));
        }
        Ok(Box::new(BooleanQuery::union(alternatives)))
    }

    fn conjunction(&mut self, conjunction: &Conjunction) -> Result<Box<dyn Query>, QueryError> {
        let mut clauses = Vec::with_capacity(conjunction.clauses.len() + 1);
        for clause in &conjunction.clauses {
            let query = match &clause.operand {
                Operand::Text { field, text, phrase: _ } => self.text(field.as_deref(), text)?,
                Operand::Group(group) => self.expression(group)?,
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

    /// A word or phrase over one text field, or over all of them (title boosted): a word
    /// as one term of `all_fields` when set, a phrase as one phrase per field.
    fn text(&mut self, field_name: Option<&str>, text: &str) -> Result<Box<dyn Query>, QueryError> {
        let tokens = analyze(text);
        self.tokens += tokens.len();
        if self.tokens > MAX_TOKENS {
            return Err(QueryError::TooManyTerms { max: MAX_TOKENS });
        }
        if tokens.is_empty() {
            // Only over-long tokens (hashes, blobs): nothing indexed can match them.
            return Ok(Box::new(EmptyQuery));
        }
        if let Some(field) = field_name.and_then(|name| self.fields.text_field(name)) {
            return Ok(self.tokens_query(field, &tokens));
        }
        if let ([word], Some(all_fields)) = (tokens.as_slice(), self.all_fields) {
            return Ok(Box::new(TermQuery::new(Term::from_field_text(all_fields, word), IndexRecordOption::WithFreqs)));
        }
        let per_field = schema::TEXT_FIELDS
            .iter()
            .filter_map(|(name, boost)| self.fields.text_field(name).map(|field| (field, *boost)))
            .map(|(field, boost)| {
                let query = self.tokens_query(field, &tokens);
                let boosted: Box<dyn Query> =
                    if boost == 1.0 { query } else { Box::new(BoostQuery::new(query, boost)) };
                (Occur::Should, boosted)
            })
            .collect();
        Ok(Box::new(BooleanQuery::new(per_field)))
    }

    /// One word as a term; two frequent words as their pair term (see `pairs`); any
    /// other phrase as a phrase of words, narrowed to the documents holding each of its
    /// frequent adjacent pairs (zero-score clauses: they only speed up the match).
    fn tokens_query(&self, field: Field, tokens: &[String]) -> Box<dyn Query> {
        let pair_field = self.fields.pair_field(field);
        if let [word] = tokens {
            return Box::new(TermQuery::new(Term::from_field_text(field, word), IndexRecordOption::WithFreqs));
        }
        let pairs: Vec<Term> = match pair_field {
            Some(pair_field) => tokens
                .windows(2)
                .filter_map(|pair| self.words.pair(&pair[0], &pair[1]))
                .map(|pair| Term::from_field_text(pair_field, &pair))
                .collect(),
            None => Vec::new(),
        };
        if let ([_, _], [pair]) = (tokens, pairs.as_slice()) {
            return Box::new(TermQuery::new(pair.clone(), IndexRecordOption::WithFreqs));
        }
        let words: Vec<Term> = tokens.iter().map(|word| Term::from_field_text(field, word)).collect();
        let phrase: Box<dyn Query> = Box::new(PhraseQuery::new(words));
        if pairs.is_empty() {
            return phrase;
        }
        let mut clauses = vec![(Occur::Must, phrase)];
        for pair in pairs {
            let pair: Box<dyn Query> = Box::new(TermQuery::new(pair, IndexRecordOption::Basic));
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(pair, 0.0))));
        }
        Box::new(BooleanQuery::new(clauses))
    }
}

/// The index analyzer's tokens for `text`.
pub(crate) fn analyze(text: &str) -> Vec<String> {
    let mut analyzer = crate::analysis::analyzer();
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
        // One value is a plain term lookup; a set builds an automaton first.
        match terms.len() {
            0 => {}
            1 => queries.extend(
                terms
                    .into_iter()
                    .map(|term| Box::new(TermQuery::new(term, IndexRecordOption::Basic)) as Box<dyn Query>),
            ),
            _ => queries.push(Box::new(TermSetQuery::new(terms))),
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

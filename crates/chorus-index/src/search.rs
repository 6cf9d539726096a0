//! Running a search: parse and build the query (guarded), collect the ranked page and the
//! aggregates in one pass, then load the page's stored fields and snippets.
//!
//! Invariant: nothing the user typed can panic or hang the caller — the query is parsed
//! by our bounded parser, and both query building and execution run under
//! `catch_unwind`, so even an unforeseen tantivy panic becomes an error, not a crash.

use std::panic::{catch_unwind, AssertUnwindSafe};
use tantivy::collector::TopDocs;
use tantivy::query::{EnableScoring, Query};
use tantivy::schema::{Field, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, Searcher, TantivyDocument};

use crate::answer::{Hit, SearchAnswer, Snippet};
use crate::collector::{AggregateCollector, Aggregates, RankKey, Ranker};
use crate::error::{IndexError, QueryError, Result};
use crate::generation::Generation;
use crate::index::SearchIndex;
use crate::query;
use crate::ranked::RankedTopDocs;
use crate::request::{build_query, highlight_query, prunes, Built, SearchRequest};
use crate::schema::{from_tantivy_date, Fields};

/// Longest snippet, in characters.
pub const SNIPPET_CHARS: usize = 180;

impl SearchIndex {
    /// The full answer: total, reach and facets over all matches, plus one page of hits.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchAnswer> {
        let live = self.live();
        let compiled = compile(request, &live)?;
        let searcher = live.reader.searcher();
        let aggregate = AggregateCollector { columns: &live.columns };
        let (ranked, aggregates) =
            match RankedTopDocs::for_sort(request.sort, request.limit, request.offset, &live.columns) {
                // Two passes beat one when the page can be pruned: the aggregates visit every
                // match without scoring, and the ranked page skips non-competitive ones.
                Some(ranked) if compiled.prunes => {
                    let aggregates = guarded(|| searcher.search(&*compiled.query, &aggregate))?;
                    (compiled.ranked_page(&searcher, ranked)?, aggregates)
                }
                Some(ranked) => guarded(|| searcher.search(&*compiled.query, &(ranked, aggregate)))?,
                None => guarded(|| searcher.search(&*compiled.query, &(top_docs(request), aggregate)))?,
            };
        let Aggregates { total, mut reach, facets } = aggregates;
        reach.currency = live.rates().map(|rates| rates.reporting_currency);
        let hits = load_hits(&live, &searcher, &*compiled.highlight, ranked)?;
        Ok(SearchAnswer { total, reach, facets, hits })
    }

    /// One page of hits only (no total, reach or facets): the cheapest search.
    pub fn top_hits(&self, request: &SearchRequest) -> Result<Vec<Hit>> {
        let live = self.live();
        let compiled = compile(request, &live)?;
        let searcher = live.reader.searcher();
        let ranked = match RankedTopDocs::for_sort(request.sort, request.limit, request.offset, &live.columns) {
            Some(ranked) if compiled.prunes => compiled.ranked_page(&searcher, ranked)?,
            Some(ranked) => guarded(|| searcher.search(&*compiled.query, &ranked))?,
            None => guarded(|| searcher.search(&*compiled.query, &top_docs(request)))?,
        };
        load_hits(&live, &searcher, &*compiled.highlight, ranked)
    }
}

/// The exhaustive top-N for the sorts that do not rank by score (`recency`, `revenue`).
fn top_docs(request: &SearchRequest) -> impl tantivy::collector::Collector<Fruit = Vec<(RankKey, DocAddress)>> {
    let ranker = Ranker { sort: request.sort };
    TopDocs::with_limit(request.limit)
        .and_offset(request.offset)
        .tweak_score(move |segment: &tantivy::SegmentReader| ranker.segment(segment))
}

/// A request's queries: `query` (text and filters) for the aggregates and unpruned
/// pages, `built` apart for a pruned page, `highlight` over the word fields for snippets.
struct Compiled {
    query: Box<dyn Query>,
    built: Built,
    highlight: Box<dyn Query>,
    /// Whether ranking the text by score can prune (see `request::prunes`).
    prunes: bool,
}

impl Compiled {
    /// The ranked page by pruning on the text query; filters admit documents.
    fn ranked_page(&self, searcher: &Searcher, ranked: RankedTopDocs) -> Result<Vec<(RankKey, DocAddress)>> {
        guarded(|| {
            let ranked = match &self.built.filter {
                Some(filter) => ranked.with_filter(filter.weight(EnableScoring::disabled_from_searcher(searcher))?),
                None => ranked,
            };
            searcher.search(&*self.built.text, &ranked)
        })
    }
}

/// Parses the query text and builds the tantivy queries, with the last-resort panic guard.
fn compile(request: &SearchRequest, live: &Generation) -> Result<Compiled, QueryError> {
    request.validate_page()?;
    let built = catch_unwind(AssertUnwindSafe(|| {
        let ast = query::parse(&request.query)?;
        let built = build_query(&ast, &request.filters, &live.fields, &live.words)?;
        let highlight = highlight_query(&ast, &live.fields)?;
        Ok(Compiled { query: built.combined(), built, highlight, prunes: prunes(&ast, &live.words) })
    }));
    match built {
        Ok(result) => result,
        Err(_) => {
            tracing::error!(query_len = request.query.len(), "query parser panicked");
            Err(QueryError::Internal)
        }
    }
}

/// Runs tantivy work, turning a panic into an error.
pub(crate) fn guarded<T>(work: impl FnOnce() -> tantivy::Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => Ok(result?),
        Err(_) => {
            tracing::error!("search execution panicked");
            Err(IndexError::Task("search execution failed unexpectedly".into()))
        }
    }
}

/// Loads the page's documents; `query` (over the word fields) marks their snippets.
fn load_hits(
    live: &Generation,
    searcher: &Searcher,
    query: &dyn Query,
    ranked: Vec<(RankKey, DocAddress)>,
) -> Result<Vec<Hit>> {
    if ranked.is_empty() {
        return Ok(Vec::new());
    }
    let fields = &live.fields;
    let snippets = Snippets::new(searcher, query, fields)?;
    let mut hits = Vec::with_capacity(ranked.len());
    for ((rank, score), address) in ranked {
        let doc: TantivyDocument = searcher.doc(address)?;
        hits.push(hit(fields, &doc, rank, score, &snippets));
    }
    Ok(hits)
}

pub(crate) fn text(doc: &TantivyDocument, field: Field) -> Option<String> {
    doc.get_first(field).and_then(|value| value.as_str().map(str::to_owned))
}

fn hit(fields: &Fields, doc: &TantivyDocument, rank: f64, score: f32, snippets: &Snippets) -> Hit {
    let int = |field| doc.get_first(field).and_then(|value| value.as_i64());
    let updated_at = doc.get_first(fields.updated_at).and_then(|value| value.as_datetime());
    Hit {
        item_id: int(fields.item_id).unwrap_or_default(),
        score,
        rank,
        title: text(doc, fields.title).unwrap_or_default(),
        snippet: snippets.best(doc),
        account_id: int(fields.account_id),
        account_name: text(doc, fields.account_name),
        arr_minor: int(fields.account_arr).unwrap_or(0),
        kind: text(doc, fields.kind).unwrap_or_default(),
        source: text(doc, fields.source).unwrap_or_default(),
        status: text(doc, fields.status).unwrap_or_default(),
        url: text(doc, fields.url),
        updated_at: updated_at.map(from_tantivy_date).unwrap_or_default(),
    }
}

/// Snippet generators for the body and the comments; the first with a match wins,
/// else the start of the body.
struct Snippets {
    body: SnippetGenerator,
    comments: SnippetGenerator,
    body_field: Field,
}

impl Snippets {
    fn new(searcher: &Searcher, query: &dyn Query, fields: &Fields) -> Result<Snippets> {
        let mut body = SnippetGenerator::create(searcher, query, fields.body)?;
        body.set_max_num_chars(SNIPPET_CHARS);
        let mut comments = SnippetGenerator::create(searcher, query, fields.comments)?;
        comments.set_max_num_chars(SNIPPET_CHARS);
        Ok(Snippets { body, comments, body_field: fields.body })
    }

    fn best(&self, doc: &TantivyDocument) -> Snippet {
        for generator in [&self.body, &self.comments] {
            let snippet = generator.snippet_from_doc(doc);
            if !snippet.highlighted().is_empty() {
                return Snippet {
                    text: snippet.fragment().to_owned(),
                    highlights: snippet.highlighted().iter().map(|range| [range.start, range.end]).collect(),
                    html: snippet.to_html(),
                };
            }
        }
        let body = text(doc, self.body_field).unwrap_or_default();
        let lead: String = body.chars().take(SNIPPET_CHARS).collect();
        Snippet { html: escape_html(&lead), text: lead, highlights: Vec::new() }
    }
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

//! The answer shape on the fixed corpus (exact totals, reach and facets), sorting, and
//! hostile queries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus_core::{Kind, LifecycleStage};
use chorus_store::Store;

use crate::testing::{at, corpus, ACME_ARR, GLOBEX_ARR, INITECH_ARR};
use crate::{
    DateRange, FacetCount, Facets, IndexProjection, QueryError, SearchAnswer, SearchIndex, SearchRequest, Sort,
};

pub(crate) async fn indexed_corpus() -> (tempfile::TempDir, SearchIndex) {
    indexed(corpus()).await
}

/// A fresh index that has followed `store`'s whole change log.
async fn indexed(store: Arc<dyn Store>) -> (tempfile::TempDir, SearchIndex) {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = SearchIndex::open(dir.path()).expect("open index");
    let mut projection =
        IndexProjection::new(index.clone(), store, chorus_core::ExchangeRates::default()).expect("projection");
    while projection.step().await.expect("apply changes") > 0 {}
    (dir, index)
}

fn search(index: &SearchIndex, request: SearchRequest) -> SearchAnswer {
    index.search(&request).unwrap_or_else(|error| panic!("{:?}: {error}", request.query))
}

fn ids(answer: &SearchAnswer) -> Vec<i64> {
    answer.hits.iter().map(|hit| hit.item_id).collect()
}

fn sorted_ids(answer: &SearchAnswer) -> Vec<i64> {
    let mut ids = ids(answer);
    ids.sort_unstable();
    ids
}

fn facet(pairs: &[(&str, u64)]) -> Vec<FacetCount> {
    pairs.iter().map(|(value, count)| FacetCount { value: (*value).into(), count: *count }).collect()
}

#[tokio::test]
async fn sso_answer_has_exact_total_reach_and_facets() {
    let (_dir, index) = indexed_corpus().await;
    let answer = search(&index, SearchRequest::new("sso"));
    assert_eq!(answer.total, 4);
    assert_eq!(sorted_ids(&answer), vec![1, 2, 4, 5]);
    assert_eq!(answer.reach.accounts, 4);
    assert_eq!(answer.reach.arr_minor, ACME_ARR + GLOBEX_ARR + INITECH_ARR);
    assert_eq!(
        answer.facets,
        Facets {
            source: facet(&[("zendesk", 2), ("jira", 1), ("salesforce", 1)]),
            kind: facet(&[("support_ticket", 2), ("bug", 1), ("sales_blocker", 1)]),
            status: facet(&[("open", 3), ("solved", 1)]),
            segment: facet(&[("enterprise", 1), ("mid_market", 1), ("smb", 1)]),
            lifecycle_stage: facet(&[("acquisition", 1), ("conversion", 1), ("retention", 1)]),
        }
    );
    let acme = answer.hits.iter().find(|hit| hit.item_id == 1).expect("item 1");
    assert_eq!(acme.account_name.as_deref(), Some("Acme"));
    assert_eq!(acme.arr_minor, ACME_ARR);
    assert_eq!((acme.kind.as_str(), acme.source.as_str(), acme.status.as_str()), ("bug", "jira", "open"));
    assert_eq!(acme.url.as_deref(), Some("https://example.test/items/1"));
    assert_eq!(acme.updated_at, at(2024, 3, 1));
    let json = serde_json::to_value(&answer).expect("serializes");
    assert_eq!(json["reach"]["accounts"], 4);
    assert_eq!(json["facets"]["kind"][0], serde_json::json!({"value": "support_ticket", "count": 2}));
}

#[tokio::test]
async fn reach_and_facets_cover_all_matches_not_just_the_page() {
    let (_dir, index) = indexed_corpus().await;
    let answer = search(&index, SearchRequest { limit: 1, ..SearchRequest::new("sso") });
    assert_eq!(answer.hits.len(), 1);
    assert_eq!(answer.total, 4);
    assert_eq!(answer.reach.accounts, 4);
    assert_eq!(Facets::count(&answer.facets.status, "open"), 3);
    let everything = search(&index, SearchRequest { limit: 100, ..SearchRequest::new("") });
    assert_eq!(everything.total, 7);
    assert_eq!(everything.reach.accounts, 4, "item 6 has no account; accounts counted once");
    assert_eq!(everything.reach.arr_minor, ACME_ARR + GLOBEX_ARR + INITECH_ARR);
    assert_eq!(everything.facets.source, facet(&[("jira", 2), ("slack", 2), ("zendesk", 2), ("salesforce", 1)]));
    assert_eq!(everything.facets.segment, facet(&[("enterprise", 2), ("mid_market", 2), ("smb", 1)]));
}

#[tokio::test]
async fn query_syntax_phrases_exclusions_prefixes_and_or() {
    let (_dir, index) = indexed_corpus().await;
    let cases: [(&str, &[i64]); 12] = [
        ("sso -password", &[1, 2, 4]),
        ("sso NOT password", &[1, 2, 4]),
        ("\"single sign\"", &[1, 4]),
        ("\"sign single\"", &[]),
        ("title:sso", &[1, 2, 4]),
        ("body:csv", &[3]),
        ("csv", &[3, 6]),
        ("comments:csv", &[6]),
        ("export csv", &[3, 6]),
        ("exporting", &[6]),
        ("saml OR dark", &[1, 4, 7]),
        ("-sso -export", &[7]),
    ];
    for (query, expected) in cases {
        let answer = search(&index, SearchRequest::new(query));
        assert_eq!(sorted_ids(&answer), expected.to_vec(), "query {query:?}");
        assert_eq!(answer.total, expected.len() as u64, "query {query:?}");
    }
    // Case and accents fold; punctuation splits like in the text.
    assert_eq!(sorted_ids(&search(&index, SearchRequest::new("SÁML"))), vec![1, 4]);
    assert_eq!(sorted_ids(&search(&index, SearchRequest::new("sign-on"))), vec![1, 4]);
    assert_eq!(sorted_ids(&search(&index, SearchRequest::new("title:(sso deal)"))), vec![4]);
}

#[tokio::test]
async fn filters_narrow_matches_and_aggregates() {
    let (_dir, index) = indexed_corpus().await;
    let with = |change: &dyn Fn(&mut SearchRequest)| {
        let mut request = SearchRequest::new("sso");
        change(&mut request);
        search(&index, request)
    };
    let answer = with(&|r| r.filters.kind = vec![Kind::SupportTicket]);
    assert_eq!((sorted_ids(&answer), answer.reach.accounts), (vec![2, 5], 2));
    assert_eq!(sorted_ids(&with(&|r| r.filters.linked = Some(true))), vec![1, 4]);
    assert_eq!(sorted_ids(&with(&|r| r.filters.linked = Some(false))), vec![2, 5]);
    assert_eq!(sorted_ids(&with(&|r| r.filters.request_id = vec![10])), vec![1, 4]);
    assert_eq!(sorted_ids(&with(&|r| r.filters.segment = vec!["enterprise".into()])), vec![1]);
    assert_eq!(sorted_ids(&with(&|r| r.filters.lifecycle_stage = vec![LifecycleStage::Acquisition])), vec![4]);
    assert_eq!(sorted_ids(&with(&|r| r.filters.status = vec!["OPEN ".into()])), vec![1, 2, 4]);
    assert_eq!(sorted_ids(&with(&|r| r.filters.source = vec![chorus_core::Source::Zendesk])), vec![2, 5]);
    let answer = with(&|r| r.filters.account_id = vec![1, 3]);
    assert_eq!((sorted_ids(&answer), answer.reach.arr_minor), (vec![1, 4], ACME_ARR + INITECH_ARR));
    let range = DateRange { from: Some(at(2024, 2, 1)), to: Some(at(2024, 3, 1)) };
    let mut request = SearchRequest::new("");
    request.filters.created = range;
    assert_eq!(sorted_ids(&search(&index, request)), vec![2, 3], "from inclusive, to exclusive");
    let mut request = SearchRequest::new("");
    request.filters.updated = DateRange { from: Some(at(2024, 3, 2)), to: None };
    assert_eq!(sorted_ids(&search(&index, request)), vec![4, 5, 6]);
    // Filters do not change the text score.
    let plain = search(&index, SearchRequest::new("saml"));
    let filtered = with(&|r| {
        r.query = "saml".into();
        r.filters.linked = Some(true);
    });
    assert_eq!(plain.hits[0].score, filtered.hits[0].score);
}

/// A word without a field prefix is one term of the `words` field (decision 0017), while
/// snippets still mark the text fields: it matches exactly what the same word matches in
/// the three fields, with the same reach and facets, and a title match outranks the same
/// word in a body as long.
#[tokio::test]
async fn a_word_searched_everywhere_matches_what_its_fields_match() {
    use crate::pairs::FrequentWords;
    use crate::request::{build_query, highlight_query, Filters};

    let (_, fields) = crate::schema::Fields::build();
    let fields_of = |query: &dyn tantivy::query::Query| {
        let mut queried = Vec::new();
        query.query_terms(&mut |term, _| queried.push(term.field()));
        queried
    };
    let ast = crate::query::parse("ledger").expect("parse");
    let built = build_query(&ast, &Filters::default(), &fields, &FrequentWords::default()).expect("query");
    assert_eq!(fields_of(&*built.text), vec![fields.words]);
    let highlight = highlight_query(&ast, &fields).expect("highlight");
    assert_eq!(fields_of(&*highlight), vec![fields.title, fields.body, fields.comments]);

    let (_dir, index) = indexed_corpus().await;
    let everything = search(&index, SearchRequest { limit: 100, ..SearchRequest::new("") });
    let mut words: std::collections::BTreeSet<String> =
        everything.hits.iter().flat_map(|hit| crate::request::analyze(&hit.title)).collect();
    // Words of bodies and comments only (see `query_syntax_phrases_exclusions_prefixes_and_or`).
    words.extend(["csv", "exporting", "safari", "redirect", "password"].map(String::from));
    assert!(words.len() > 10, "{words:?}");
    for word in &words {
        let everywhere = search(&index, SearchRequest { limit: 100, ..SearchRequest::new(word.clone()) });
        let per_field = format!("title:{word} OR body:{word} OR comments:{word}");
        let fielded = search(&index, SearchRequest { limit: 100, ..SearchRequest::new(per_field) });
        assert!(everywhere.total > 0, "{word}");
        assert_eq!(sorted_ids(&everywhere), sorted_ids(&fielded), "{word}");
        assert_eq!(
            (everywhere.total, &everywhere.reach, &everywhere.facets),
            (fielded.total, &fielded.reach, &fielded.facets),
            "{word}"
        );
    }

    let store = Arc::new(crate::testing::MemStore::default());
    let fixture = |id, title, body| {
        crate::testing::item((
            id,
            chorus_core::Source::Jira,
            Kind::Bug,
            title,
            body,
            "open",
            None,
            &[],
            (1, 1),
            (1, 1),
            &[],
        ))
    };
    store.put_item(fixture(1, "ledger", "sync is slow"));
    store.put_item(fixture(2, "sync is slow", "ledger"));
    let (_small_dir, small) = indexed(store).await;
    let ranked = search(&small, SearchRequest { sort: Sort::Relevance, ..SearchRequest::new("ledger") });
    assert_eq!(ids(&ranked), vec![1, 2], "the title match ranks first");
    assert!(ranked.hits[0].score > ranked.hits[1].score);
    assert_eq!(ids(&search(&small, SearchRequest::new("title:ledger"))), vec![1]);
}

#[tokio::test]
async fn sort_orders_by_weighted_relevance_recency_or_revenue() {
    let (_dir, index) = indexed_corpus().await;
    let sorted = |sort| ids(&search(&index, SearchRequest { sort, ..SearchRequest::new("sso") }));
    assert_eq!(sorted(Sort::Recency), vec![5, 4, 1, 2]);
    assert_eq!(sorted(Sort::Revenue), vec![1, 2, 4, 5]);
    let weighted = search(&index, SearchRequest::new("sso"));
    for hit in &weighted.hits {
        let expected = f64::from(hit.score) * crate::revenue_factor(hit.arr_minor);
        assert!((hit.rank - expected).abs() < 1e-9, "rank is score × revenue factor");
    }
    assert!(weighted.hits.windows(2).all(|pair| pair[0].rank >= pair[1].rank));
    let relevance = search(&index, SearchRequest { sort: Sort::Relevance, ..SearchRequest::new("sso") });
    assert!(relevance.hits.windows(2).all(|pair| pair[0].score >= pair[1].score));
}

#[tokio::test]
async fn snippets_highlight_matches() {
    let (_dir, index) = indexed_corpus().await;
    let answer = search(&index, SearchRequest::new("redirect"));
    let snippet = &answer.hits[0].snippet;
    assert_eq!(snippet.highlights.len(), 1);
    let [start, end] = snippet.highlights[0];
    assert_eq!(&snippet.text[start..end], "redirect");
    assert!(snippet.html.contains("<b>redirect</b>"), "{}", snippet.html);
    let in_comment = search(&index, SearchRequest::new("safari"));
    assert!(in_comment.hits[0].snippet.html.contains("<b>Safari</b>"));
    let no_words = search(&index, SearchRequest { limit: 1, sort: Sort::Recency, ..SearchRequest::new("") });
    assert!(no_words.hits[0].snippet.highlights.is_empty());
    assert!(!no_words.hits[0].snippet.text.is_empty(), "falls back to the start of the body");
}

/// Every hostile input answers quickly with a `QueryError` naming the problem.
#[tokio::test]
async fn hostile_queries_never_panic_or_hang() {
    let (_dir, index) = indexed_corpus().await;
    let deep = "(".repeat(10_000);
    let deep_balanced = format!("{}a{}", "(".repeat(400), ")".repeat(400));
    let megabyte = "a".repeat(1 << 20);
    let megabyte_spaced = "sso ".repeat(1 << 18);
    let cases: Vec<(&str, &str)> = vec![
        ("- *", "no searchable words"), // tantivy #3031: panicked the parser
        ("a:(^", "is never closed"),    // tantivy #3032: lenient parser never returned
        (&deep, "too long"),
        (&deep_balanced, "nests parentheses too deeply"),
        (&megabyte, "too long"),
        (&megabyte_spaced, "too long"),
        ("*", "no searchable words"),
        ("?", "no searchable words"),
        ("-", "no searchable words"),
        ("title:", "must be followed by"),
        ("\"unclosed", "unterminated phrase"),
        (")(", "has no matching `(`"),
        ("a OR OR b", "must be followed by"),
    ];
    for (query, expected) in cases {
        let started = Instant::now();
        let error = index.search(&SearchRequest::new(query)).expect_err("refused");
        assert!(started.elapsed() < Duration::from_secs(1), "{} chars took {:?}", query.len(), started.elapsed());
        assert!(error.is_user_error(), "{error}");
        let message = error.to_string();
        assert!(message.contains(expected), "query of {} chars: {message}", query.len());
    }
    let limit = index.search(&SearchRequest { limit: 0, ..SearchRequest::new("sso") }).expect_err("limit");
    assert!(matches!(limit, crate::IndexError::Query(QueryError::Limit { .. })));
    let mut empty_range = SearchRequest::new("sso");
    empty_range.filters.created = DateRange { from: Some(at(2024, 3, 1)), to: Some(at(2024, 1, 1)) };
    let message = index.search(&empty_range).expect_err("empty range").to_string();
    assert!(message.contains("created range is empty"), "{message}");
    // Odd but valid input still answers.
    for query in ["sso?", "e-mail", "re: sso", "https://example.test/x", "C++", "日本語", "a\u{0}b", "((sso))"] {
        assert!(index.search(&SearchRequest::new(query)).is_ok(), "{query:?}");
    }
}

/// The aggregates read each segment's dense columns, which the reader builds as it loads
/// segments (before any search asks): across segments written one change at a time, after
/// a re-rank rewrote an account's documents (its old ones deleted in older segments) and a
/// tombstone, they count the live documents with the new ARR.
#[tokio::test]
async fn aggregates_count_live_documents_across_segments_after_a_re_rank() {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = SearchIndex::open(dir.path()).expect("open index");
    let store = corpus();
    let dyn_store: Arc<dyn Store> = Arc::clone(&store) as Arc<dyn Store>;
    let mut projection =
        IndexProjection::new(index.clone(), dyn_store, chorus_core::ExchangeRates::default()).expect("projection");
    let mut projection = {
        // One commit per change: as many segments as changes, until merges combine them.
        projection.catch_up().await.expect("first catch-up");
        projection.with_batch(1)
    };
    store.update_account(1, |acme| acme.arr_minor = 2 * ACME_ARR);
    store.update_account(3, |initech| initech.segment = Some("mid_market".into()));
    store.tombstone(2);
    projection.catch_up().await.expect("catch up one change at a time");
    let segments = index.live().reader.searcher().segment_readers().len();
    assert!(segments > 1, "the test needs several segments");
    assert!(index.live().columns.len() >= segments, "the commits' reloads warmed every segment");

    let everything = search(&index, SearchRequest { limit: 100, ..SearchRequest::new("") });
    assert_eq!(everything.total, 6, "item 2 is tombstoned");
    // Acme counts once, at its new ARR; Globex keeps item 7; Umbrella has no ARR.
    assert_eq!(everything.reach.accounts, 4);
    assert_eq!(everything.reach.arr_minor, 2 * ACME_ARR + GLOBEX_ARR + INITECH_ARR);
    assert_eq!(everything.facets.segment, facet(&[("enterprise", 2), ("mid_market", 2)]));
    assert_eq!(everything.facets.source, facet(&[("jira", 2), ("slack", 2), ("salesforce", 1), ("zendesk", 1)]));
}

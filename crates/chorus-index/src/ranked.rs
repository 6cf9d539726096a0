//! The top-N collector for the score-based sorts (`weighted`, `relevance`) that keeps
//! tantivy's block-max WAND pruning.
//!
//! `weighted` ranks by `bm25 × revenue_factor(arr)`. The factor of any document of a
//! segment is at most `F = revenue_factor(max ARR of the segment)`, so a document whose
//! BM25 score `s` satisfies `s × F < k-th best rank` can never enter the top N: the
//! collector hands tantivy the score threshold `k-th rank / F` (rounded down with a
//! margin far above floating-point error), and tantivy may skip every document at or
//! below it. Invariant: the result is exactly the one an exhaustive scan would give —
//! the same keys `(rank, bm25)` and the same tie-break (lower segment, then lower
//! document first); pruning only ever skips documents that rank strictly below the
//! current N-th candidate.
//!
//! Filters do not stop the pruning: the text query runs alone and a per-segment bitset of
//! the filter's matches admits documents (only admitted ones raise the threshold). When a
//! filter admits few documents of a segment, the filter drives instead: each admitted
//! document is looked up in the text query's postings.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::Weight;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use crate::bits::Bits;
use crate::collector::RankKey;
use crate::columns::{ColumnCache, SegmentColumns};
use crate::request::Sort;

/// Relative margin by which the pruning threshold is lowered: far above the rounding
/// error of `f32`/`f64` products (≈1e-7), so no document that could rank is ever skipped.
const THRESHOLD_MARGIN: f64 = 1e-6;

/// A filter drives the search in a segment where it admits at most `1 / SELECTIVE` of
/// the documents.
const SELECTIVE: u32 = 16;

/// Top `limit` hits after `offset` by `(rank, bm25)` for [`Sort::Weighted`] or
/// [`Sort::Relevance`], with pruning.
pub struct RankedTopDocs<'a> {
    limit: usize,
    offset: usize,
    weighted: bool,
    /// Where each segment's revenue factors are read (see `columns`).
    columns: &'a ColumnCache,
    /// Only documents this (non-scoring) weight matches may be ranked.
    filter: Option<Box<dyn Weight>>,
}

impl<'a> RankedTopDocs<'a> {
    /// `None` for sorts that do not rank by score (they use tantivy's `TopDocs`).
    pub fn for_sort(sort: Sort, limit: usize, offset: usize, columns: &'a ColumnCache) -> Option<RankedTopDocs<'a>> {
        let weighted = match sort {
            Sort::Weighted => true,
            Sort::Relevance => false,
            Sort::Recency | Sort::Revenue => return None,
        };
        Some(RankedTopDocs { limit, offset, weighted, columns, filter: None })
    }

    /// Ranks only the documents `filter` matches (built with scoring disabled).
    pub fn with_filter(mut self, filter: Box<dyn Weight>) -> Self {
        self.filter = Some(filter);
        self
    }
}

/// The documents of one segment a filter admits.
struct Admitted {
    docs: Bits,
    count: u32,
}

impl Admitted {
    fn of(filter: &dyn Weight, reader: &SegmentReader) -> tantivy::Result<Admitted> {
        let mut admitted = Admitted { docs: Bits::new(reader.max_doc() as usize), count: 0 };
        filter.for_each_no_score(reader, &mut |docs| {
            for &doc in docs {
                admitted.docs.insert(doc as usize);
            }
            admitted.count += docs.len() as u32;
        })?;
        Ok(admitted)
    }

    fn contains(&self, doc: DocId) -> bool {
        self.docs.contains(doc as usize)
    }

    fn docs(&self) -> impl Iterator<Item = DocId> + '_ {
        // Bits never exceed `max_doc`, a `DocId`.
        self.docs.iter().map(|doc| doc as DocId)
    }
}

/// One candidate; `Ord` puts the better one greater.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    rank: f64,
    score: Score,
    doc: DocId,
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank
            .total_cmp(&other.rank)
            .then_with(|| self.score.total_cmp(&other.score))
            .then_with(|| other.doc.cmp(&self.doc))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

/// The best `capacity` candidates of one segment (a min-heap of the kept ones).
pub struct SegmentRankedTop {
    capacity: usize,
    heap: BinaryHeap<Reverse<Candidate>>,
    /// The segment's revenue factors; `None` when ranking by relevance alone.
    factors: Option<Arc<SegmentColumns>>,
    segment: SegmentOrdinal,
}

impl SegmentRankedTop {
    fn rank(&self, doc: DocId, score: Score) -> f64 {
        match &self.factors {
            Some(columns) => f64::from(score) * columns.factor(doc),
            None => f64::from(score),
        }
    }

    fn push(&mut self, doc: DocId, score: Score) {
        if self.capacity == 0 {
            return;
        }
        let candidate = Candidate { rank: self.rank(doc, score), score, doc };
        if self.heap.len() < self.capacity {
            self.heap.push(Reverse(candidate));
        } else if self.heap.peek().is_some_and(|Reverse(worst)| candidate > *worst) {
            self.heap.pop();
            self.heap.push(Reverse(candidate));
        }
    }

    /// The BM25 score at or below which no document can enter the kept set any more.
    fn score_threshold(&self, max_factor: f64) -> Score {
        if self.heap.len() < self.capacity {
            return Score::MIN;
        }
        let Some(Reverse(worst)) = self.heap.peek() else { return Score::MIN };
        if worst.rank <= 0.0 || !worst.rank.is_finite() {
            return Score::MIN;
        }
        ((worst.rank / max_factor) * (1.0 - THRESHOLD_MARGIN)) as Score
    }

    /// The largest revenue factor any document of this segment can have.
    fn max_factor(&self) -> f64 {
        self.factors.as_ref().map_or(1.0, |columns| columns.max_factor)
    }
}

impl SegmentCollector for SegmentRankedTop {
    type Fruit = Vec<(RankKey, DocAddress)>;

    /// Used when this collector runs without pruning (inside a tuple of collectors).
    fn collect(&mut self, doc: DocId, score: Score) {
        self.push(doc, score);
    }

    fn harvest(self) -> Self::Fruit {
        let segment_ord = self.segment;
        self.heap
            .into_iter()
            .map(|Reverse(candidate)| {
                ((candidate.rank, candidate.score), DocAddress { segment_ord, doc_id: candidate.doc })
            })
            .collect()
    }
}

impl Collector for RankedTopDocs<'_> {
    type Fruit = Vec<(RankKey, DocAddress)>;
    type Child = SegmentRankedTop;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<SegmentRankedTop> {
        let factors = if self.weighted { Some(self.columns.get(reader)?) } else { None };
        Ok(SegmentRankedTop { capacity: self.limit + self.offset, heap: BinaryHeap::new(), factors, segment })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Vec<(RankKey, DocAddress)>> {
        let mut top = self.for_segment(segment, reader)?;
        let max_factor = top.max_factor();
        let alive = reader.alive_bitset();
        let admitted = self.filter.as_deref().map(|filter| Admitted::of(filter, reader)).transpose()?;
        if let Some(admitted) = admitted.as_ref().filter(|admitted| admitted.count <= reader.max_doc() / SELECTIVE) {
            // Few admitted documents: look each one up in the text query's postings.
            let mut scorer = weight.scorer(reader, 1.0)?;
            for doc in admitted.docs() {
                if scorer.doc() > doc || scorer.seek(doc) != doc {
                    continue;
                }
                if alive.is_none_or(|alive| alive.is_alive(doc)) {
                    top.push(doc, scorer.score());
                }
            }
            return Ok(top.harvest());
        }
        weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| {
            let admit = admitted.as_ref().is_none_or(|admitted| admitted.contains(doc));
            if admit && alive.is_none_or(|alive| alive.is_alive(doc)) {
                top.push(doc, score);
            }
            top.score_threshold(max_factor)
        })?;
        Ok(top.harvest())
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(RankKey, DocAddress)>>) -> tantivy::Result<Self::Fruit> {
        let mut all: Vec<(RankKey, DocAddress)> = fruits.into_iter().flatten().collect();
        all.sort_by(|(a_key, a_address), (b_key, b_address)| {
            b_key.0.total_cmp(&a_key.0).then_with(|| b_key.1.total_cmp(&a_key.1)).then_with(|| a_address.cmp(b_address))
        });
        Ok(all.into_iter().skip(self.offset).take(self.limit).collect())
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use tantivy::collector::TopDocs;
    use tantivy::query::EnableScoring;
    use tantivy::{Index, TantivyDocument};

    use super::*;
    use crate::collector::Ranker;
    use crate::pairs::FrequentWords;
    use crate::query;
    use crate::request::{build_query, prunes, Filters};
    use crate::schema::{register_tokenizer, Fields};

    const WORDS: [&str; 6] = ["alpha", "beta", "gamma", "delta", "omega", "sso"];
    /// Kinds with their share of documents: `sales_blocker` is rare enough (≈2%) for a
    /// filter on it to drive the search.
    const KINDS: [(chorus_core::Kind, f64); 3] = [
        (chorus_core::Kind::Bug, 0.6),
        (chorus_core::Kind::FeatureRequest, 0.38),
        (chorus_core::Kind::SalesBlocker, 0.02),
    ];

    /// An index of several segments: word frequencies from common to rare, ARR from none
    /// to very large, so that pruning has plenty to skip; "alpha" and "beta" are paired.
    fn index() -> (Index, Fields, FrequentWords) {
        let (schema, fields) = Fields::build();
        let index = Index::create_in_ram(schema);
        let words = FrequentWords::new(["alpha".to_owned(), "beta".to_owned()], 1);
        register_tokenizer(&index, Arc::new(words.clone()));
        let mut writer = index.writer_with_num_threads(1, 15_000_000).expect("writer");
        let mut rng = StdRng::seed_from_u64(7);
        for segment in 0..3 {
            for n in 0..4_000 {
                let mut words = Vec::new();
                for _ in 0..rng.gen_range(1..12) {
                    let pick = (rng.gen::<f64>().powi(3) * WORDS.len() as f64) as usize;
                    words.push(WORDS[pick.min(WORDS.len() - 1)]);
                }
                let mut doc = TantivyDocument::default();
                doc.add_i64(fields.item_id, segment * 10_000 + n);
                let title = words[..words.len().min(2)].join(" ");
                doc.add_text(fields.title, &title);
                doc.add_text(fields.title_pairs, &title);
                doc.add_text(fields.body, words.join(" "));
                doc.add_text(fields.body_pairs, words.join(" "));
                for _ in 0..crate::schema::TITLE_WEIGHT {
                    doc.add_text(fields.words, &title);
                }
                doc.add_text(fields.words, words.join(" "));
                let roll: f64 = rng.gen();
                let kind = if roll < KINDS[0].1 {
                    KINDS[0].0
                } else if roll < KINDS[0].1 + KINDS[1].1 {
                    KINDS[1].0
                } else {
                    KINDS[2].0
                };
                doc.add_text(fields.kind, kind.as_str());
                let arr = if rng.gen_bool(0.2) { 0 } else { 10_i64.pow(rng.gen_range(2..11)) };
                doc.add_i64(fields.account_arr, arr);
                writer.add_document(doc).expect("add");
            }
            writer.commit().expect("commit");
        }
        (index, fields, words)
    }

    #[test]
    fn pruned_pages_equal_the_exhaustive_ranking() {
        let (index, fields, words) = index();
        let searcher = index.reader().expect("reader").searcher();
        assert!(searcher.segment_readers().len() > 1);
        let columns = ColumnCache::default();
        let texts = WORDS.iter().map(|word| (*word).to_owned()).chain(["\"alpha beta\"".to_owned()]);
        let filters = [None, Some(KINDS[0].0), Some(KINDS[2].0)];
        for text in texts {
            let ast = query::parse(&text).expect("parse");
            assert!(prunes(&ast, &words), "{text}");
            for kind in filters {
                let filter = Filters { kind: kind.into_iter().collect(), ..Filters::default() };
                let built = build_query(&ast, &filter, &fields, &words).expect("query");
                for sort in [Sort::Weighted, Sort::Relevance] {
                    for (limit, offset) in [(20, 0), (20, 40), (1, 0), (100, 7)] {
                        let mut pruned = RankedTopDocs::for_sort(sort, limit, offset, &columns).expect("score sort");
                        if let Some(filter) = &built.filter {
                            let scoring = EnableScoring::disabled_from_searcher(&searcher);
                            pruned = pruned.with_filter(filter.weight(scoring).expect("filter weight"));
                        }
                        let pruned = searcher.search(&*built.text, &pruned).expect("pruned");
                        let exhaustive = TopDocs::with_limit(limit)
                            .and_offset(offset)
                            .tweak_score(move |segment: &tantivy::SegmentReader| Ranker { sort }.segment(segment));
                        let exhaustive = searcher.search(&*built.combined(), &exhaustive).expect("exhaustive");
                        assert_eq!(pruned.len(), exhaustive.len(), "{text} {kind:?} {sort:?}");
                        assert!(!pruned.is_empty(), "{text} {kind:?}");
                        for (((rank, _), _), ((expected, _), _)) in pruned.iter().zip(&exhaustive) {
                            // Same rank at every position (the sums of term scores may differ
                            // in the last bit between the pruning and the exhaustive scorer).
                            assert!(
                                (rank - expected).abs() <= expected.abs() * 1e-6,
                                "{text} {kind:?} {sort:?}: {rank} vs {expected}"
                            );
                        }
                    }
                }
            }
        }
    }
}

//! Collectors over all matches: the revenue-weighted ranking key, and reach + facets.
//!
//! Both read only fast fields (columnar, per segment), never stored documents, so their
//! cost is one column lookup per matching document. Invariant: the aggregates count
//! every matching document exactly once and each account's ARR exactly once.

use std::collections::HashMap;

use tantivy::collector::{Collector, ScoreSegmentTweaker, ScoreTweaker, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use crate::answer::{FacetCount, Facets, Reach};
use crate::request::Sort;
use crate::schema::FACET_FIELDS;

/// `K` in the revenue factor `1 + ln(1 + ARR in dollars) / K`.
pub const REVENUE_DAMPING: f64 = 10.0;

/// How much an account's revenue lifts its items' relevance:
/// `1 + ln(1 + arr_minor / 100) / REVENUE_DAMPING`. No account or no ARR gives 1.0;
/// $10k ARR ≈ 1.92; $1M ≈ 2.38; $100M ≈ 2.84 — logarithmic, so a big account lifts a
/// relevant item but never buries a much more relevant one.
pub fn revenue_factor(arr_minor: i64) -> f64 {
    let dollars = arr_minor.max(0) as f64 / 100.0;
    1.0 + dollars.ln_1p() / REVENUE_DAMPING
}

/// The first value of a column that may be absent from a segment.
fn first<T: PartialOrd + Copy + Send + Sync + std::fmt::Debug + 'static>(
    column: Option<&Column<T>>,
    doc: DocId,
) -> Option<T> {
    column.and_then(|column| column.first(doc))
}

/// Ranking key: `(primary, bm25)`, compared lexicographically, highest first.
pub type RankKey = (f64, f32);

/// Computes the ranking key for [`Sort`] from the BM25 score and fast fields.
pub struct Ranker {
    pub sort: Sort,
}

pub struct SegmentRanker {
    sort: Sort,
    arr: Option<Column<i64>>,
    updated_micros: Option<Column<tantivy::DateTime>>,
}

impl ScoreTweaker<RankKey> for Ranker {
    type Child = SegmentRanker;

    fn segment_tweaker(&self, segment: &SegmentReader) -> tantivy::Result<SegmentRanker> {
        let fast = segment.fast_fields();
        Ok(SegmentRanker {
            sort: self.sort,
            arr: fast.column_opt("account_arr")?,
            updated_micros: fast.column_opt("updated_at")?,
        })
    }
}

impl ScoreSegmentTweaker<RankKey> for SegmentRanker {
    fn score(&mut self, doc: DocId, score: Score) -> RankKey {
        let arr = || first(self.arr.as_ref(), doc).unwrap_or(0);
        let primary = match self.sort {
            Sort::Relevance => f64::from(score),
            Sort::Weighted => f64::from(score) * revenue_factor(arr()),
            Sort::Revenue => arr() as f64,
            Sort::Recency => {
                first(self.updated_micros.as_ref(), doc).map_or(f64::MIN, |at| at.into_timestamp_micros() as f64)
            }
        };
        (primary, score)
    }
}

/// Total, reach and facet counts over every match.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Aggregates {
    pub total: u64,
    pub reach: Reach,
    pub facets: Facets,
}

/// Collects [`Aggregates`]; needs no scores.
pub struct AggregateCollector;

pub struct SegmentAggregates {
    total: u64,
    account_id: Option<Column<i64>>,
    account_arr: Option<Column<i64>>,
    /// ARR of each distinct account seen in this segment.
    accounts: HashMap<i64, i64>,
    facets: Vec<(Option<StrColumn>, Vec<u64>)>,
    /// Scratch space for one block's column values.
    ids: Vec<Option<i64>>,
    ords: Vec<Option<u64>>,
}

/// One segment's counts: facet values resolved to strings.
pub struct SegmentFruit {
    total: u64,
    accounts: HashMap<i64, i64>,
    facets: Vec<Vec<(String, u64)>>,
}

impl Collector for AggregateCollector {
    type Fruit = Aggregates;
    type Child = SegmentAggregates;

    fn for_segment(&self, _ordinal: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<SegmentAggregates> {
        let fast = segment.fast_fields();
        let mut facets = Vec::with_capacity(FACET_FIELDS.len());
        for name in FACET_FIELDS {
            let column = fast.str(name)?;
            let distinct = column.as_ref().map_or(0, |column| column.num_terms());
            facets.push((column, vec![0; distinct]));
        }
        Ok(SegmentAggregates {
            total: 0,
            account_id: fast.column_opt("account_id")?,
            account_arr: fast.column_opt("account_arr")?,
            accounts: HashMap::new(),
            facets,
            ids: Vec::new(),
            ords: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<SegmentFruit>) -> tantivy::Result<Aggregates> {
        let mut total = 0;
        let mut accounts: HashMap<i64, i64> = HashMap::new();
        let mut facet_maps: Vec<HashMap<String, u64>> = vec![HashMap::new(); FACET_FIELDS.len()];
        for fruit in fruits {
            total += fruit.total;
            // Every document of an account carries the same ARR after a commit; keep the
            // largest in case a segment predates a re-rank that is still being applied.
            for (account, arr) in fruit.accounts {
                let entry = accounts.entry(account).or_insert(arr);
                *entry = (*entry).max(arr);
            }
            for (map, counts) in facet_maps.iter_mut().zip(fruit.facets) {
                for (value, count) in counts {
                    *map.entry(value).or_insert(0) += count;
                }
            }
        }
        let mut lists = facet_maps.into_iter().map(sorted_counts);
        let mut next = || lists.next().unwrap_or_default();
        let facets = Facets { source: next(), kind: next(), status: next(), segment: next(), lifecycle_stage: next() };
        let reach = Reach { accounts: accounts.len() as u64, arr_minor: accounts.values().sum() };
        Ok(Aggregates { total, reach, facets })
    }
}

fn sorted_counts(map: HashMap<String, u64>) -> Vec<FacetCount> {
    let mut counts: Vec<FacetCount> = map.into_iter().map(|(value, count)| FacetCount { value, count }).collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    counts
}

impl SegmentCollector for SegmentAggregates {
    type Fruit = SegmentFruit;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.total += 1;
        if let Some(account) = first(self.account_id.as_ref(), doc) {
            if let std::collections::hash_map::Entry::Vacant(entry) = self.accounts.entry(account) {
                entry.insert(first(self.account_arr.as_ref(), doc).unwrap_or(0));
            }
        }
        for (column, counts) in &mut self.facets {
            let Some(column) = column else { continue };
            if let Some(ord) = column.ords().first(doc) {
                if let Some(count) = counts.get_mut(ord as usize) {
                    *count += 1;
                }
            }
        }
    }

    /// Reads each column for a whole block of matches at once (tantivy hands
    /// non-scoring collectors blocks of up to 64 documents).
    fn collect_block(&mut self, docs: &[DocId]) {
        self.total += docs.len() as u64;
        if let Some(column) = &self.account_id {
            self.ids.clear();
            self.ids.resize(docs.len(), None);
            column.first_vals(docs, &mut self.ids);
            for (&doc, id) in docs.iter().zip(&self.ids) {
                let Some(account) = *id else { continue };
                if let std::collections::hash_map::Entry::Vacant(entry) = self.accounts.entry(account) {
                    entry.insert(first(self.account_arr.as_ref(), doc).unwrap_or(0));
                }
            }
        }
        for (column, counts) in &mut self.facets {
            let Some(column) = column else { continue };
            let ords = column.ords();
            self.ords.clear();
            self.ords.resize(docs.len(), None);
            ords.first_vals(docs, &mut self.ords);
            for ord in self.ords.iter().flatten() {
                if let Some(count) = counts.get_mut(*ord as usize) {
                    *count += 1;
                }
            }
        }
    }

    fn harvest(self) -> SegmentFruit {
        let facets = self
            .facets
            .into_iter()
            .map(|(column, counts)| {
                let Some(column) = column else { return Vec::new() };
                let mut resolved = Vec::new();
                for (ord, count) in counts.into_iter().enumerate().filter(|(_, count)| *count > 0) {
                    let mut value = String::new();
                    if matches!(column.ord_to_str(ord as u64, &mut value), Ok(true)) {
                        resolved.push((value, count));
                    }
                }
                resolved
            })
            .collect();
        SegmentFruit { total: self.total, accounts: self.accounts, facets }
    }
}

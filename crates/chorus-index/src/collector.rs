//! Collectors over all matches: the revenue-weighted ranking key, and reach + facets.
//!
//! Both read only per-segment columns, never stored documents: the ranking key one fast
//! field lookup per scored document, the aggregates two array reads per match (the
//! segment's dense columns, see `columns`). Invariant: the aggregates count
//! every matching document exactly once and each account's ARR exactly once.

use std::collections::HashMap;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use crate::answer::{FacetCount, Facets, Reach};
use crate::bits::Bits;
use crate::columns::{ColumnCache, SegmentColumns, FACETS, NO_VALUE};
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

/// Computes the ranking key for [`Sort`] from the BM25 score and fast fields, for
/// `TopDocs::tweak_score(|segment| ranker.segment(segment))`.
#[derive(Debug, Clone, Copy)]
pub struct Ranker {
    pub sort: Sort,
}

impl Ranker {
    /// The key function of one segment. A segment without the fast field (written
    /// before any item had an account) ranks its documents as having none.
    pub fn segment(self, segment: &SegmentReader) -> impl Fn(DocId, Score) -> RankKey + 'static {
        let fast = segment.fast_fields();
        let arr: Option<Column<i64>> = fast.column_opt("account_arr").ok().flatten();
        let updated_micros: Option<Column<tantivy::DateTime>> = fast.column_opt("updated_at").ok().flatten();
        let sort = self.sort;
        move |doc: DocId, score: Score| {
            let arr = || first(arr.as_ref(), doc).unwrap_or(0);
            let primary = match sort {
                Sort::Relevance => f64::from(score),
                Sort::Weighted => f64::from(score) * revenue_factor(arr()),
                Sort::Revenue => arr() as f64,
                Sort::Recency => {
                    first(updated_micros.as_ref(), doc).map_or(f64::MIN, |at| at.into_timestamp_micros() as f64)
                }
            };
            (primary, score)
        }
    }
}

/// Total, reach and facet counts over every match.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Aggregates {
    pub total: u64,
    pub reach: Reach,
    pub facets: Facets,
}

/// Collects [`Aggregates`] from the generation's dense columns (see `columns`); needs no
/// scores.
#[derive(Clone, Copy)]
pub struct AggregateCollector<'a> {
    pub columns: &'a ColumnCache,
}

/// One segment's counts while collecting: per facet set and per holder.
pub struct SegmentAggregates {
    total: u64,
    columns: Arc<SegmentColumns>,
    /// Matches per facet set of the segment.
    per_set: Counts,
    /// The holders (distinct `(account, ARR)` pairs) seen among the matches.
    holders: Bits,
}

/// Facet sets beyond this many are counted in a map: a segment of mostly distinct
/// combinations must not cost every query an array as long as the segment.
const DENSE_SETS: usize = 1 << 16;

/// Matches per facet set.
enum Counts {
    Dense(Vec<u64>),
    Sparse(HashMap<u32, u64>),
}

impl Counts {
    fn for_sets(sets: usize) -> Counts {
        if sets <= DENSE_SETS {
            Counts::Dense(vec![0; sets])
        } else {
            Counts::Sparse(HashMap::new())
        }
    }

    /// `(facet set, matches)` for every set with a match.
    fn into_vec(self) -> Vec<(u32, u64)> {
        match self {
            Counts::Dense(counts) => (0u32..).zip(counts).filter(|(_, count)| *count > 0).collect(),
            Counts::Sparse(counts) => counts.into_iter().collect(),
        }
    }
}

/// One segment's counts: facet values resolved to strings.
pub struct SegmentFruit {
    total: u64,
    /// `(account id, ARR)` of each distinct account.
    accounts: Vec<(i64, i64)>,
    facets: Vec<Vec<(String, u64)>>,
}

impl Collector for AggregateCollector<'_> {
    type Fruit = Aggregates;
    type Child = SegmentAggregates;

    fn for_segment(&self, _ordinal: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<SegmentAggregates> {
        let columns = self.columns.get(segment)?;
        Ok(SegmentAggregates {
            total: 0,
            per_set: Counts::for_sets(columns.facet_sets.len()),
            holders: Bits::new(columns.holders.len()),
            columns,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<SegmentFruit>) -> tantivy::Result<Aggregates> {
        let mut total = 0;
        let mut accounts: Vec<(i64, i64)> = Vec::new();
        let mut facet_maps: Vec<HashMap<String, u64>> = vec![HashMap::new(); FACET_FIELDS.len()];
        for fruit in fruits {
            total += fruit.total;
            accounts.extend(fruit.accounts);
            for (map, counts) in facet_maps.iter_mut().zip(fruit.facets) {
                for (value, count) in counts {
                    *map.entry(value).or_insert(0) += count;
                }
            }
        }
        let mut lists = facet_maps.into_iter().map(sorted_counts);
        let mut next = || lists.next().unwrap_or_default();
        let facets = Facets { source: next(), kind: next(), status: next(), segment: next(), lifecycle_stage: next() };
        let reach = reach_of(accounts);
        Ok(Aggregates { total, reach, facets })
    }
}

/// Accounts spanning at most this many ids per sighting are deduplicated in an array.
const DENSE_SPAN_PER_SIGHTING: usize = 8;

/// Distinct accounts and their ARR summed once each, from every segment's sightings.
/// Every document of an account carries the same ARR after a commit; the largest is kept
/// in case a segment predates a re-rank that is still being applied.
fn reach_of(mut sightings: Vec<(i64, i64)>) -> Reach {
    let (min, max) = sightings.iter().fold((i64::MAX, i64::MIN), |(min, max), &(id, _)| (min.min(id), max.max(id)));
    let span = usize::try_from(max.saturating_sub(min)).ok().and_then(|span| span.checked_add(1));
    let (accounts, arr_minor) = match span {
        // Store ids are compact: one slot per id of the range, no sort.
        Some(span) if span <= sightings.len().saturating_mul(DENSE_SPAN_PER_SIGHTING) => {
            let mut best: Vec<Option<i64>> = vec![None; span];
            for (id, arr) in sightings {
                // In range by construction of `min` and `span`.
                if let Some(slot) = usize::try_from(id - min).ok().and_then(|at| best.get_mut(at)) {
                    *slot = Some(slot.map_or(arr, |seen| seen.max(arr)));
                }
            }
            best.into_iter().flatten().fold((0u64, 0i64), |(n, sum), arr| (n + 1, sum.saturating_add(arr)))
        }
        _ => {
            sightings.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            sightings.dedup_by_key(|(account, _)| *account);
            (sightings.len() as u64, sightings.iter().fold(0i64, |sum, (_, arr)| sum.saturating_add(*arr)))
        }
    };
    Reach { accounts, arr_minor, currency: None }
}

fn sorted_counts(map: HashMap<String, u64>) -> Vec<FacetCount> {
    let mut counts: Vec<FacetCount> = map.into_iter().map(|(value, count)| FacetCount { value, count }).collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    counts
}

impl SegmentCollector for SegmentAggregates {
    type Fruit = SegmentFruit;

    /// One match (collectors run beside a scoring one get them one at a time).
    fn collect(&mut self, doc: DocId, _score: Score) {
        self.collect_block(&[doc]);
    }

    /// Tantivy hands non-scoring collectors blocks of up to 64 documents: one loop per
    /// array over the block (the common dense counts without a branch per document on
    /// the kind of counts).
    fn collect_block(&mut self, docs: &[DocId]) {
        self.total += docs.len() as u64;
        let columns = &*self.columns;
        match &mut self.per_set {
            Counts::Dense(counts) => {
                for &doc in docs {
                    let set = columns.facet_set.get(doc as usize).copied().unwrap_or(u32::MAX);
                    if let Some(count) = counts.get_mut(set as usize) {
                        *count += 1;
                    }
                }
            }
            Counts::Sparse(counts) => {
                for &doc in docs {
                    if let Some(&set) = columns.facet_set.get(doc as usize) {
                        *counts.entry(set).or_insert(0) += 1;
                    }
                }
            }
        }
        for &doc in docs {
            if let Some(&holder) = columns.holder.get(doc as usize) {
                self.holders.insert(holder as usize);
            }
        }
    }

    fn harvest(self) -> SegmentFruit {
        let columns = &self.columns;
        let mut per_facet: Vec<HashMap<u32, u64>> = vec![HashMap::new(); FACETS];
        for (set, count) in self.per_set.into_vec() {
            let Some(ords) = columns.facet_sets.get(set as usize) else { continue };
            for (counts, &ord) in per_facet.iter_mut().zip(ords) {
                if ord != NO_VALUE {
                    *counts.entry(ord).or_insert(0) += count;
                }
            }
        }
        let facets = per_facet
            .into_iter()
            .zip(&columns.values)
            .map(|(counts, values)| {
                counts
                    .into_iter()
                    .filter_map(|(ord, count)| Some((values.get(ord as usize)?.clone()?, count)))
                    .collect()
            })
            .collect();
        let accounts = self
            .holders
            .iter()
            .filter_map(|holder| match columns.holders.get(holder) {
                Some(&(Some(account), arr)) => Some((account, arr)),
                _ => None,
            })
            .collect();
        SegmentFruit { total: self.total, accounts, facets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compact ids (an array) and scattered ones (a sort) count each account once, at
    /// its largest ARR.
    #[test]
    fn reach_counts_each_account_once_at_its_largest_arr() {
        let compact = vec![(7, 100), (3, 50), (7, 999), (5, 5), (3, 50), (4, 1)];
        let reach = reach_of(compact);
        assert_eq!((reach.accounts, reach.arr_minor), (4, 999 + 50 + 5 + 1));
        let scattered = vec![(7, 100), (i64::MIN, 50), (7, 999), (i64::MAX, 5), (i64::MIN, 50)];
        let reach = reach_of(scattered);
        assert_eq!((reach.accounts, reach.arr_minor), (3, 999 + 50 + 5));
        assert_eq!(reach_of(Vec::new()), Reach::default());
    }
}

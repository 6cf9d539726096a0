//! Collectors over all matches: the revenue-weighted ranking key, and reach + facets.
//!
//! Both read only fast fields (columnar, per segment), never stored documents, so their
//! cost is one column lookup per matching document. Invariant: the aggregates count
//! every matching document exactly once and each account's ARR exactly once.

use std::collections::HashMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use crate::answer::{FacetCount, Facets, Reach};
use crate::bits::Bits;
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

/// Collects [`Aggregates`]; needs no scores.
pub struct AggregateCollector;

pub struct SegmentAggregates {
    total: u64,
    account_id: Option<Column<i64>>,
    account_arr: Option<Column<i64>>,
    /// Distinct accounts seen in this segment.
    accounts: SeenAccounts,
    facets: Vec<(Option<StrColumn>, Vec<u64>)>,
    /// Scratch space for one block's column values (a block has at most 64 documents).
    ids: [Option<i64>; BLOCK],
    ords: [Option<u64>; BLOCK],
}

/// The most documents tantivy hands a collector at once.
const BLOCK: usize = tantivy::COLLECT_BLOCK_BUFFER_LEN;

/// Account ids spanning at most this many values are tracked in a bitset.
const DENSE_ACCOUNTS: i64 = 1 << 24;

/// The distinct accounts of one segment's matches, and each one's ARR: a bitset over the
/// segment's account id range when it is compact (store ids are), else a hash map.
enum SeenAccounts {
    Dense { min: i64, bits: Bits, found: Vec<(i64, i64)> },
    Sparse(HashMap<i64, i64>),
}

impl SeenAccounts {
    fn for_column(column: Option<&Column<i64>>) -> SeenAccounts {
        match column {
            Some(column) if column.max_value().saturating_sub(column.min_value()) < DENSE_ACCOUNTS => {
                let span = (column.max_value() - column.min_value()) as usize + 1;
                SeenAccounts::Dense { min: column.min_value(), bits: Bits::new(span), found: Vec::new() }
            }
            Some(_) => SeenAccounts::Sparse(HashMap::new()),
            None => SeenAccounts::Dense { min: 0, bits: Bits::default(), found: Vec::new() },
        }
    }

    /// Records `account`; reads its ARR (`arr()`) only the first time it is seen.
    fn insert(&mut self, account: i64, arr: impl FnOnce() -> i64) {
        match self {
            SeenAccounts::Dense { min, bits, found } => {
                let offset = usize::try_from(account - *min).unwrap_or(usize::MAX);
                if bits.insert(offset) {
                    found.push((account, arr()));
                }
            }
            SeenAccounts::Sparse(map) => {
                map.entry(account).or_insert_with(arr);
            }
        }
    }

    fn into_vec(self) -> Vec<(i64, i64)> {
        match self {
            SeenAccounts::Dense { found, .. } => found,
            SeenAccounts::Sparse(map) => map.into_iter().collect(),
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
        let account_id = fast.column_opt("account_id")?;
        Ok(SegmentAggregates {
            total: 0,
            accounts: SeenAccounts::for_column(account_id.as_ref()),
            account_id,
            account_arr: fast.column_opt("account_arr")?,
            facets,
            ids: [None; BLOCK],
            ords: [None; BLOCK],
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
        // Every document of an account carries the same ARR after a commit; keep the
        // largest in case a segment predates a re-rank that is still being applied.
        accounts.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        accounts.dedup_by_key(|(account, _)| *account);
        let reach = Reach {
            accounts: accounts.len() as u64,
            arr_minor: accounts.iter().map(|(_, arr)| arr).sum(),
            currency: None,
        };
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
            let arr = &self.account_arr;
            self.accounts.insert(account, || first(arr.as_ref(), doc).unwrap_or(0));
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
        if docs.len() > BLOCK {
            for &doc in docs {
                self.collect(doc, 0.0);
            }
            return;
        }
        self.total += docs.len() as u64;
        let ids = &mut self.ids[..docs.len()];
        if let Some(column) = &self.account_id {
            ids.fill(None);
            column.first_vals(docs, ids);
            for (&doc, id) in docs.iter().zip(ids.iter()) {
                let Some(account) = *id else { continue };
                let arr = &self.account_arr;
                self.accounts.insert(account, || first(arr.as_ref(), doc).unwrap_or(0));
            }
        }
        let ords = &mut self.ords[..docs.len()];
        for (column, counts) in &mut self.facets {
            let Some(column) = column else { continue };
            ords.fill(None);
            column.ords().first_vals(docs, ords);
            for ord in ords.iter().flatten() {
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
        SegmentFruit { total: self.total, accounts: self.accounts.into_vec(), facets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bitset and the hash map record the same distinct accounts, each with the ARR
    /// of its first sighting.
    #[test]
    fn dense_and_sparse_account_sets_agree() {
        let sightings = [(7, 100), (3, 50), (7, 999), (1_000, 5), (3, 50), (-2, 1)];
        let mut dense = SeenAccounts::Dense { min: -2, bits: Bits::new(1_003), found: Vec::new() };
        let mut sparse = SeenAccounts::Sparse(HashMap::new());
        for (account, arr) in sightings {
            dense.insert(account, || arr);
            sparse.insert(account, || arr);
        }
        let (mut dense, mut sparse) = (dense.into_vec(), sparse.into_vec());
        dense.sort_unstable();
        sparse.sort_unstable();
        assert_eq!(dense, vec![(-2, 1), (3, 50), (7, 100), (1_000, 5)]);
        assert_eq!(dense, sparse);
    }
}

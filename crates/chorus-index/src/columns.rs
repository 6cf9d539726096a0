//! Per-segment dense copies of the columns reach and facets read, built once per segment.
//!
//! tantivy's fast fields are columnar and compressed: reading five facet ordinals, an
//! account id and its ARR costs seven column lookups per matching document, which is most
//! of a broad query's full answer (`the` matches most of the corpus). Segments are
//! immutable, so each one's values are copied once, when a searcher first holds it (a
//! tantivy [`Warmer`] run by `reader.reload()`), into two arrays of small numbers per
//! document: its *facet set* (an index into the segment's distinct combinations of facet
//! values) and its *holder* (an index into the segment's distinct `(account id, ARR)`
//! pairs, each with its revenue factor). The aggregates then cost two array reads per
//! match, and the weighted ranking one factor look-up per scored document.
//!
//! Invariant: an entry describes every document of its segment, deleted or not (deletes
//! never change a segment's values; collectors only see live documents), and is dropped
//! once no searcher holds the segment. About 8 bytes per document.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use rustc_hash::FxHashMap;
use tantivy::columnar::{Column, StrColumn};
use tantivy::index::SegmentId;
use tantivy::{DocId, Searcher, SearcherGeneration, SegmentReader, Warmer};

use crate::collector::revenue_factor;
use crate::schema::FACET_FIELDS;

/// How many facets a document carries values for.
pub(crate) const FACETS: usize = FACET_FIELDS.len();

/// The ordinal of "no value" in a facet set.
pub(crate) const NO_VALUE: u32 = u32::MAX;

/// Documents whose columns are read at once while building.
const BUILD_BLOCK: u32 = 1_024;

/// One segment's dense columns.
#[derive(Debug, Default)]
pub(crate) struct SegmentColumns {
    /// Per document: its index into `facet_sets`.
    pub(crate) facet_set: Vec<u32>,
    /// The distinct combinations of facet ordinals; [`NO_VALUE`] where a document has none.
    pub(crate) facet_sets: Vec<[u32; FACETS]>,
    /// Per facet: its values by ordinal (`None` for an ordinal the column cannot name).
    pub(crate) values: Vec<Vec<Option<String>>>,
    /// Per document: its index into `holders`.
    pub(crate) holder: Vec<u32>,
    /// The distinct `(account id, ARR)` pairs; index 0 is `(None, 0)`, no account.
    pub(crate) holders: Vec<(Option<i64>, i64)>,
    /// Per holder: the revenue factor of its ARR (what `weighted` multiplies BM25 by).
    pub(crate) factors: Vec<f64>,
    /// The largest of `factors` (at least 1).
    pub(crate) max_factor: f64,
}

impl SegmentColumns {
    /// Reads every document's facet ordinals, account and ARR from the segment's columns.
    pub(crate) fn build(segment: &SegmentReader) -> tantivy::Result<SegmentColumns> {
        let fast = segment.fast_fields();
        let mut facets: Vec<Option<StrColumn>> = Vec::with_capacity(FACETS);
        for name in FACET_FIELDS {
            facets.push(fast.str(name)?);
        }
        let values = facets
            .iter()
            .map(|column| column.as_ref().map(ordinal_values).transpose().map(Option::unwrap_or_default))
            .collect::<tantivy::Result<_>>()?;
        let account_id: Option<Column<i64>> = fast.column_opt("account_id")?;
        let account_arr: Option<Column<i64>> = fast.column_opt("account_arr")?;

        let max_doc = segment.max_doc();
        let mut columns = SegmentColumns {
            facet_set: Vec::with_capacity(max_doc as usize),
            holder: Vec::with_capacity(max_doc as usize),
            values,
            ..SegmentColumns::default()
        };
        let mut set_of = FxHashMap::default();
        let mut holder_of = FxHashMap::default();
        // Holder 0 is "no account", whether or not a document has none.
        intern(&mut holder_of, &mut columns.holders, (None, 0));
        let mut docs: Vec<DocId> = Vec::with_capacity(BUILD_BLOCK as usize);
        let mut ords: Vec<[u32; FACETS]> = Vec::with_capacity(BUILD_BLOCK as usize);
        let mut scratch_ords = vec![None; BUILD_BLOCK as usize];
        let mut ids = vec![None; BUILD_BLOCK as usize];
        let mut arrs = vec![None; BUILD_BLOCK as usize];
        let mut start = 0;
        while start < max_doc {
            let end = max_doc.min(start.saturating_add(BUILD_BLOCK));
            docs.clear();
            docs.extend(start..end);
            let len = docs.len();
            ords.clear();
            ords.resize(len, [NO_VALUE; FACETS]);
            for (facet, column) in facets.iter().enumerate() {
                let Some(column) = column else { continue };
                let scratch = &mut scratch_ords[..len];
                scratch.fill(None);
                column.ords().first_vals(&docs, scratch);
                for (set, ord) in ords.iter_mut().zip(scratch.iter()) {
                    if let Some(ord) = ord.and_then(|ord| u32::try_from(ord).ok()) {
                        set[facet] = ord;
                    }
                }
            }
            read_column(account_id.as_ref(), &docs, &mut ids[..len]);
            read_column(account_arr.as_ref(), &docs, &mut arrs[..len]);
            for (index, set) in ords.iter().enumerate() {
                columns.facet_set.push(intern(&mut set_of, &mut columns.facet_sets, *set));
                let pair = (ids[index], arrs[index].unwrap_or(0));
                columns.holder.push(intern(&mut holder_of, &mut columns.holders, pair));
            }
            start = end;
        }
        columns.factors = columns.holders.iter().map(|&(_, arr)| revenue_factor(arr)).collect();
        columns.max_factor = columns.factors.iter().copied().fold(1.0, f64::max);
        Ok(columns)
    }

    /// The revenue factor of a document's ARR (1 for a document this segment lacks).
    pub(crate) fn factor(&self, doc: DocId) -> f64 {
        self.holder.get(doc as usize).and_then(|&holder| self.factors.get(holder as usize)).copied().unwrap_or(1.0)
    }
}

/// The index of `value` in `distinct`, appended the first time it is seen.
fn intern<T: Copy + Eq + Hash>(index_of: &mut FxHashMap<T, u32>, distinct: &mut Vec<T>, value: T) -> u32 {
    *index_of.entry(value).or_insert_with(|| {
        distinct.push(value);
        // A segment holds fewer than `u32::MAX` documents, hence of distinct values.
        u32::try_from(distinct.len() - 1).unwrap_or(u32::MAX)
    })
}

/// A column's first value for each of `docs` (`None` where absent, or without a column).
fn read_column(column: Option<&Column<i64>>, docs: &[DocId], out: &mut [Option<i64>]) {
    out.fill(None);
    if let Some(column) = column {
        column.first_vals(docs, out);
    }
}

/// A string column's values by ordinal; a column that cannot be read is an error.
fn ordinal_values(column: &StrColumn) -> tantivy::Result<Vec<Option<String>>> {
    (0..column.num_terms() as u64)
        .map(|ord| {
            let mut value = String::new();
            Ok(column.ord_to_str(ord, &mut value)?.then_some(value))
        })
        .collect()
}

/// The dense columns of every segment some searcher holds, shared by the searches of one
/// generation; registered with its reader as a [`Warmer`].
#[derive(Debug, Default)]
pub(crate) struct ColumnCache {
    segments: Mutex<HashMap<SegmentId, Arc<SegmentColumns>>>,
}

impl ColumnCache {
    /// The segment's columns, built now if no warm-up did (a segment is built at most
    /// once per warm-up; two searches missing at once may both build, one result stays).
    pub(crate) fn get(&self, segment: &SegmentReader) -> tantivy::Result<Arc<SegmentColumns>> {
        let id = segment.segment_id();
        if let Some(columns) = self.lock().get(&id) {
            return Ok(Arc::clone(columns));
        }
        let built = Arc::new(SegmentColumns::build(segment)?);
        Ok(Arc::clone(self.lock().entry(id).or_insert(built)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SegmentId, Arc<SegmentColumns>>> {
        // The map is only ever inserted into or pruned whole: a panic cannot leave it torn.
        self.segments.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Warmer for ColumnCache {
    /// Builds the columns of the new searcher's segments that have none yet, so the first
    /// search after a commit or merge does not pay for them. Never fails the reload: a
    /// segment it cannot read is logged and left to the first search, which reports it.
    fn warm(&self, searcher: &Searcher) -> tantivy::Result<()> {
        for segment in searcher.segment_readers() {
            if let Err(error) = self.get(segment) {
                tracing::warn!(%error, segment = %segment.segment_id().short_uuid_string(), "could not warm a segment's columns");
            }
        }
        Ok(())
    }

    fn garbage_collect(&self, live_generations: &[&SearcherGeneration]) {
        let live: HashSet<SegmentId> =
            live_generations.iter().flat_map(|generation| generation.segments().keys().copied()).collect();
        self.lock().retain(|id, _| live.contains(id));
    }
}

#[cfg(test)]
mod tests {
    use tantivy::schema::{Schema, FAST, STRING};
    use tantivy::{Index, TantivyDocument};

    use super::*;

    /// Documents with and without an account, in two segments: each document's facet set
    /// and holder say what its columns hold, and only segments a live searcher holds stay.
    #[test]
    fn columns_describe_each_document_and_leave_with_their_segment() {
        let mut schema = Schema::builder();
        let source = schema.add_text_field("source", STRING | FAST);
        let account_id = schema.add_i64_field("account_id", FAST);
        let account_arr = schema.add_i64_field("account_arr", FAST);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).expect("writer");
        for (value, account) in [("jira", Some((7, 500))), ("zendesk", None), ("jira", Some((7, 500)))] {
            let mut doc = TantivyDocument::default();
            doc.add_text(source, value);
            if let Some((id, arr)) = account {
                doc.add_i64(account_id, id);
                doc.add_i64(account_arr, arr);
            }
            writer.add_document(doc).expect("add");
        }
        writer.commit().expect("commit");
        let mut doc = TantivyDocument::default();
        doc.add_text(source, "slack");
        writer.add_document(doc).expect("add");
        writer.commit().expect("commit");

        let reader = index.reader().expect("reader");
        let searcher = reader.searcher();
        let cache = ColumnCache::default();
        cache.warm(&searcher).expect("warm");
        assert_eq!(cache.len(), 2);
        let first = searcher.segment_readers().iter().find(|segment| segment.max_doc() == 3).expect("segment of 3");
        let columns = cache.get(first).expect("columns");
        assert_eq!(columns.facet_set[0], columns.facet_set[2]);
        assert_ne!(columns.facet_set[0], columns.facet_set[1]);
        let value = |doc: usize| {
            let ord = columns.facet_sets[columns.facet_set[doc] as usize][0];
            columns.values[0][ord as usize].clone()
        };
        assert_eq!((value(0), value(1)), (Some("jira".to_owned()), Some("zendesk".to_owned())));
        assert_eq!(columns.holders[columns.holder[0] as usize], (Some(7), 500));
        assert_eq!(columns.holder[1], 0, "no account");
        assert!((columns.factor(0) - revenue_factor(500)).abs() < 1e-12 && columns.factor(1) == 1.0);
        assert!((columns.max_factor - revenue_factor(500)).abs() < 1e-12);

        let ids = index.searchable_segment_ids().expect("ids");
        writer.merge(&ids).wait().expect("merge");
        reader.reload().expect("reload");
        let merged = reader.searcher();
        cache.warm(&merged).expect("warm");
        assert_eq!(cache.len(), 3);
        cache.garbage_collect(&[merged.generation()]);
        assert_eq!(cache.len(), 1, "only the merged segment is still held");
    }
}

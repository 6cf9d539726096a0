//! The tantivy schema of an item document and its tokenizer (documents are built in
//! `documents`).
//!
//! One document per live item, keyed by `item_id` (the store's id): an update is
//! delete-term(item_id) + add, so at most one document per item is ever visible after a
//! commit. Account attributes (name, ARR in the reporting currency, segment, lifecycle
//! stage) are denormalized into the item's document; they are refreshed whenever the
//! account changes.
//! Each text field has a companion pair field (see `pairs`) for fast phrases, and all
//! three are indexed once more together in `words` (title weighted: see
//! [`TITLE_WEIGHT`]), so that a word searched everywhere — the common query — reads one
//! posting list instead of three (decision 0017).
//! `SCHEMA_VERSION` is written into every commit payload; an index built with another
//! version is refused and must be rebuilt.

use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
    FAST, INDEXED, STORED, STRING,
};
use tantivy::{DateTime, Index};

use crate::analysis::analyzer;
use crate::pairs::{FrequentWords, PairTokenizer};

/// Bumped whenever the schema, the tokenizer or a field's meaning changes (3: ARR in
/// the reporting currency; 4: the `words` field); a mismatch forces a rebuild.
pub const SCHEMA_VERSION: u32 = 4;

/// The name under which [`analyzer`](crate::analysis::analyzer) is registered on every index.
pub const TOKENIZER: &str = "chorus";

/// The name under which the generation's [`PairTokenizer`] is registered.
pub const PAIR_TOKENIZER: &str = "chorus_pairs";

/// The text fields a query word searches, and their boosts.
pub const TEXT_FIELDS: [(&str, f32); 3] = [("title", 2.0), ("body", 1.0), ("comments", 1.0)];

/// How many times the title's words count in `words`: BM25F's field weight, the same
/// weight as the title's boost in [`TEXT_FIELDS`] when it is searched field by field.
pub const TITLE_WEIGHT: usize = 2;

/// The keyword fields over which facets are counted, in answer order.
pub const FACET_FIELDS: [&str; 5] = ["source", "kind", "status", "segment", "lifecycle_stage"];

/// Handles to every field of the schema.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub item_id: Field,
    pub title: Field,
    pub body: Field,
    pub comments: Field,
    pub title_pairs: Field,
    pub body_pairs: Field,
    pub comments_pairs: Field,
    /// Every word of the title ([`TITLE_WEIGHT`] times), body and comments in one field,
    /// so that a word searched in all of them is one posting list (see `request`).
    pub words: Field,
    pub kind: Field,
    pub source: Field,
    pub status: Field,
    pub connector: Field,
    pub segment: Field,
    pub lifecycle_stage: Field,
    pub account_id: Field,
    pub account_arr: Field,
    pub account_name: Field,
    pub request_ids: Field,
    pub has_request: Field,
    pub created_at: Field,
    pub updated_at: Field,
    pub url: Field,
}

impl Fields {
    /// The schema and its field handles.
    pub fn build() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let text = TextOptions::default().set_stored().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        // Not stored (the words are in the text fields), no positions (see `pairs`).
        let pairs = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer(PAIR_TOKENIZER).set_index_option(IndexRecordOption::WithFreqs),
        );
        // Not stored, no positions: it answers single words, never phrases.
        let words = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer(TOKENIZER).set_index_option(IndexRecordOption::WithFreqs),
        );
        let keyword = STRING | FAST | STORED;
        let id = NumericOptions::default().set_indexed().set_fast().set_stored();
        let date =
            DateOptions::default().set_indexed().set_fast().set_stored().set_precision(DateTimePrecision::Seconds);
        let fields = Fields {
            item_id: builder.add_i64_field("item_id", id.clone()),
            title: builder.add_text_field("title", text.clone()),
            body: builder.add_text_field("body", text.clone()),
            comments: builder.add_text_field("comments", text),
            title_pairs: builder.add_text_field("title_pairs", pairs.clone()),
            body_pairs: builder.add_text_field("body_pairs", pairs.clone()),
            comments_pairs: builder.add_text_field("comments_pairs", pairs),
            words: builder.add_text_field("words", words),
            kind: builder.add_text_field("kind", keyword.clone()),
            source: builder.add_text_field("source", keyword.clone()),
            status: builder.add_text_field("status", keyword.clone()),
            connector: builder.add_text_field("connector", keyword.clone()),
            segment: builder.add_text_field("segment", keyword.clone()),
            lifecycle_stage: builder.add_text_field("lifecycle_stage", keyword),
            account_id: builder.add_i64_field("account_id", id),
            account_arr: builder.add_i64_field("account_arr", FAST | STORED),
            account_name: builder.add_text_field("account_name", STORED),
            request_ids: builder.add_i64_field("request_ids", INDEXED | STORED),
            has_request: builder.add_bool_field("has_request", INDEXED | FAST),
            created_at: builder.add_date_field("created_at", date.clone()),
            updated_at: builder.add_date_field("updated_at", date),
            url: builder.add_text_field("url", STORED),
        };
        (builder.build(), fields)
    }

    /// The handles of an opened index, checked against the expected schema.
    pub fn of(index: &Index) -> Result<Fields, String> {
        let (expected, fields) = Fields::build();
        if index.schema() != expected {
            return Err("schema differs from this version's".to_owned());
        }
        Ok(fields)
    }

    /// The text field a query prefix names (`title:`), if it is one.
    pub fn text_field(&self, name: &str) -> Option<Field> {
        match name {
            "title" => Some(self.title),
            "body" => Some(self.body),
            "comments" => Some(self.comments),
            _ => None,
        }
    }

    /// The pair field of a text field (see `pairs`).
    pub fn pair_field(&self, text: Field) -> Option<Field> {
        match text {
            field if field == self.title => Some(self.title_pairs),
            field if field == self.body => Some(self.body_pairs),
            field if field == self.comments => Some(self.comments_pairs),
            _ => None,
        }
    }
}

/// Registers the Chorus analyzer, and the pair tokenizer for the generation's frequent
/// words, on an index (needed after every open).
pub fn register_tokenizer(index: &Index, words: std::sync::Arc<FrequentWords>) {
    index.tokenizers().register(TOKENIZER, analyzer());
    index.tokenizers().register(PAIR_TOKENIZER, PairTokenizer::new(words));
}

/// Status values are free text in the sources; they are indexed trimmed and lowercased
/// so that `--status open` matches "Open".
pub fn normalize_status(status: &str) -> String {
    status.trim().to_lowercase()
}

/// A UTC timestamp as tantivy stores it (microsecond resolution).
pub fn to_tantivy_date(at: chrono::DateTime<chrono::Utc>) -> DateTime {
    DateTime::from_timestamp_micros(at.timestamp_micros())
}

/// A tantivy timestamp back as UTC (the epoch when out of range, which cannot happen for
/// values written by [`to_tantivy_date`]).
pub fn from_tantivy_date(at: DateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(at.into_timestamp_micros()).unwrap_or_default()
}

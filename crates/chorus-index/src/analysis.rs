//! The text analysis every indexed word and every query word goes through.
//!
//! A leaf module: the schema registers this analyzer and the pair tokenizer (`pairs`)
//! reads words with it, so both depend on it and it depends on neither. Invariant: a
//! word is split, filtered, lowercased and folded the same way at index and at query
//! time; changing anything here means bumping `schema::SCHEMA_VERSION`.

use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};

/// Tokens longer than this many bytes are dropped (hashes, base64 blobs).
pub const MAX_TOKEN_LEN: usize = 40;

/// The text analyzer for titles, bodies, comments and query words alike: split on
/// anything that is not a letter or digit, drop tokens over [`MAX_TOKEN_LEN`] bytes,
/// lowercase, fold accents to ASCII. No stemming (see docs/decisions/0004).
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_LEN))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

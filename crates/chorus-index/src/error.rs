//! Errors of the search index.
//!
//! `QueryError` is the user's fault: its message names the problem in the query and is
//! safe to show as a 400. Every other `IndexError` is ours (an I/O failure, a corrupt
//! index, a store outage) and maps to a 500. Messages are lowercase, no trailing period.

use chorus_store::StoreError;

/// Why a query was refused. The message is meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("query is too long ({len} characters; the limit is {max})")]
    TooLong { len: usize, max: usize },
    #[error("query nests parentheses too deeply (more than {max} levels)")]
    TooDeep { max: usize },
    #[error("query has too many terms (more than {max})")]
    TooManyTerms { max: usize },
    #[error("query `{query}` has no searchable words (wildcards and punctuation alone match nothing)")]
    NoWords { query: String },
    #[error("`{operator}` at position {position} must be followed by a word, a phrase or a group")]
    DanglingOperator { operator: String, position: usize },
    #[error("unbalanced parentheses: `(` at position {position} is never closed")]
    UnclosedGroup { position: usize },
    #[error("unbalanced parentheses: `)` at position {position} has no matching `(`")]
    UnexpectedClose { position: usize },
    #[error("unterminated phrase: the `\"` at position {position} is never closed")]
    UnclosedPhrase { position: usize },
    #[error("empty group `()` at position {position}")]
    EmptyGroup { position: usize },
    #[error("invalid filter: {0}")]
    Filter(String),
    #[error("invalid limit {limit}; expected 1 to {max}")]
    Limit { limit: usize, max: usize },
    /// The parser itself failed; a bug, reported instead of crashing the caller.
    #[error("query could not be parsed (internal parser failure); please rephrase it")]
    Internal,
}

/// Why an index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The query is unusable; show the message to the user (HTTP 400).
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    OpenDirectory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("search index i/o at {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The index on disk is unreadable or from an incompatible version; rebuild it.
    #[error("search index is corrupt or incompatible: {0}; run `chorus reindex`")]
    Corrupt(String),
    #[error("background index task failed: {0}")]
    Task(String),
}

impl IndexError {
    /// Whether the caller's input is at fault (a 400) rather than the system (a 500).
    pub fn is_user_error(&self) -> bool {
        matches!(self, Self::Query(_))
    }

    /// Whether another process (a running `chorus serve`) holds the index writer.
    pub fn is_writer_busy(&self) -> bool {
        matches!(self, Self::Tantivy(tantivy::TantivyError::LockFailure(..)))
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }
}

pub type Result<T, E = IndexError> = std::result::Result<T, E>;

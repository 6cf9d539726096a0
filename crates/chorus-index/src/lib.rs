//! Tantivy index of items as a projection of the store's change log; search, reach and
//! facets.
//!
//! Two halves share one on-disk index:
//! - [`SearchIndex`] (cloneable, read-only): [`SearchIndex::search`] answers a
//!   [`SearchRequest`] with a [`SearchAnswer`] — total, reach (distinct accounts and
//!   their ARR) and facet counts over all matches, and a page of ranked, highlighted hits;
//! - [`IndexProjection`] (one per index, owns the writer): follows the store's change log
//!   ([`IndexProjection::follow`], [`IndexProjection::catch_up`]) and rebuilds from the
//!   store without taking search down ([`IndexProjection::rebuild`]).
//!
//! [`SearchIndex::suggest_items`] and [`SearchIndex::likely_requests`] match requests
//! and items by the words they share (more-like-this over the same index).
//!
//! Invariant: the index reflects exactly the store's changes up to the position recorded
//! in its last commit's payload; a restart resumes from there.

mod analysis;
mod answer;
mod bits;
mod collector;
mod columns;
mod documents;
mod error;
mod generation;
mod index;
mod pairs;
mod profile;
mod projection;
mod query;
mod ranked;
mod request;
pub mod schema;
mod search;
mod suggest;
mod writer;

#[cfg(test)]
mod testing;

pub use answer::{FacetCount, Facets, Hit, Reach, SearchAnswer, Snippet};
pub use collector::revenue_factor;
pub use error::{IndexError, QueryError, Result};
pub use index::SearchIndex;
pub use projection::{
    rebuild_index, CatchUp, IndexProjection, RebuildReport, BULK_CHANGES, DEFAULT_BATCH, FOLLOW_POLL,
};
pub use request::{DateRange, Filters, SearchRequest, Sort};
pub use suggest::{
    is_offered, LikelyRequest, SuggestOptions, Suggestion, DEFAULT_SUGGESTIONS, MAX_SUGGESTIONS, NEIGHBOURS,
    SHARED_TERMS,
};
#[cfg(test)]
mod follower_tests;
#[cfg(test)]
mod projection_tests;
#[cfg(test)]
mod search_tests;
#[cfg(test)]
mod suggest_tests;

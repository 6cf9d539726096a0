//! The answer to a search, as the CLI prints it (`--format json`) and the API returns it.
//!
//! Invariant: `total`, `reach` and `facets` are computed over ALL matching documents,
//! independent of sort, limit and offset; `hits` is one page of them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Everything a search page shows.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SearchAnswer {
    /// How many items match.
    pub total: u64,
    pub reach: Reach,
    pub facets: Facets,
    pub hits: Vec<Hit>,
}

/// The distinct accounts among all matches and the sum of their ARR (each account once),
/// converted to the reporting currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reach {
    pub accounts: u64,
    /// Sum of the distinct accounts' ARR, in minor units of `currency`.
    pub arr_minor: i64,
    /// The reporting currency (`[money] reporting_currency`) of `arr_minor` and of every
    /// hit's `arr_minor`; `None` only for an index built before any rates were known
    /// (then it holds no ARR at all).
    #[serde(default)]
    pub currency: Option<chorus_core::Currency>,
}

/// One facet value and how many matches carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// Facet counts over all matches, each list by descending count, then value. Items
/// without a value (no account, hence no segment) are not counted in that facet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Facets {
    pub source: Vec<FacetCount>,
    pub kind: Vec<FacetCount>,
    pub status: Vec<FacetCount>,
    pub segment: Vec<FacetCount>,
    pub lifecycle_stage: Vec<FacetCount>,
}

impl Facets {
    /// Every facet list with its name, in display order.
    pub fn named(&self) -> [(&'static str, &[FacetCount]); 5] {
        [
            ("source", &self.source),
            ("kind", &self.kind),
            ("status", &self.status),
            ("segment", &self.segment),
            ("lifecycle_stage", &self.lifecycle_stage),
        ]
    }

    /// The count of one value in one facet list (0 when absent); handy in tests.
    pub fn count(list: &[FacetCount], value: &str) -> u64 {
        list.iter().find(|facet| facet.value == value).map_or(0, |facet| facet.count)
    }
}

/// A highlighted excerpt: `text` with the byte ranges of matched words.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Snippet {
    pub text: String,
    /// Byte ranges `[start, end)` into `text`.
    pub highlights: Vec<[usize; 2]>,
    /// `text` HTML-escaped with the highlights wrapped in `<b>…</b>`.
    pub html: String,
}

/// One matching item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub item_id: i64,
    /// Text relevance (BM25); 0 for a query without words.
    pub score: f32,
    /// The value the hits are ordered by (depends on the sort).
    pub rank: f64,
    pub title: String,
    pub snippet: Snippet,
    pub account_id: Option<i64>,
    pub account_name: Option<String>,
    /// The account's ARR in minor units of the reporting currency (`reach.currency`).
    pub arr_minor: i64,
    pub kind: String,
    pub source: String,
    pub status: String,
    pub url: Option<String>,
    pub updated_at: DateTime<Utc>,
}

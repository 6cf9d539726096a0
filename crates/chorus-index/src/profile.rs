//! A text profile for more-like-this matching: the words of some texts, counted through
//! the analyzer the index uses, weighed by tf-idf against the live generation, and the
//! query that finds the documents sharing the heaviest of them (see `suggest`).
//!
//! A word's weight is `(1 + ln tf) × idf`: `tf` counts its occurrences in the texts (a
//! title's count double, as search boosts titles), `idf` is BM25's over the index's own
//! document frequencies. Function words, one-letter words and bare numbers are noise and
//! never weighed. Invariant: the work is bounded whatever the texts — at most
//! `MAX_TEXT_CHARS` of each text and `MAX_PROFILE_CHARS` in all are read, at most
//! `MAX_DISTINCT_WORDS` words are weighed (one dictionary look-up per word and text
//! field), and a profile keeps at most `MAX_QUERY_TERMS` words, so the query has at most
//! `MAX_QUERY_TERMS × 3` term clauses.

use std::collections::{HashMap, HashSet};

use chorus_core::Item;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Searcher, TantivyDocument, Term};

use crate::request::analyze;
use crate::schema::{Fields, TEXT_FIELDS};

/// Most words a profile keeps (and so a similarity query asks for).
pub const MAX_QUERY_TERMS: usize = 24;
/// Most characters read of one text (a title, a body, one comment).
pub const MAX_TEXT_CHARS: usize = 8_000;
/// Most characters read into one profile, all texts together.
pub const MAX_PROFILE_CHARS: usize = 200_000;
/// Most distinct words weighed for one profile; later new words are not counted.
pub const MAX_DISTINCT_WORDS: usize = 2_000;

/// Words that say nothing about a topic, sorted (checked by a test) for binary search.
const STOP_WORDS: [&str; 122] = [
    "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been",
    "before", "being", "but", "by", "can", "cannot", "could", "did", "do", "does", "doing", "don", "down", "each",
    "even", "every", "few", "for", "from", "get", "gets", "had", "has", "have", "having", "he", "her", "here", "hers",
    "him", "his", "how", "if", "in", "into", "is", "isn", "it", "its", "just", "let", "like", "me", "more", "most",
    "much", "must", "my", "need", "needs", "no", "nor", "not", "now", "of", "off", "on", "once", "one", "only", "or",
    "other", "our", "ours", "out", "over", "own", "please", "same", "she", "should", "so", "some", "still", "such",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "us", "very", "via", "was", "we", "were", "what", "when", "where", "which", "while", "who",
    "why", "will", "with",
];

/// Whether a word is too common or too short to say what a text is about.
fn is_noise(word: &str) -> bool {
    word.len() < 2 || word.bytes().all(|b| b.is_ascii_digit()) || STOP_WORDS.binary_search(&word).is_ok()
}

/// The weight a title's words count with: the title's boost in search.
fn title_weight() -> f32 {
    TEXT_FIELDS.iter().find(|(name, _)| *name == "title").map_or(1.0, |(_, boost)| *boost)
}

/// At most `max` characters of `text`.
fn clip(text: &str, max: usize) -> &str {
    text.char_indices().nth(max).map_or(text, |(at, _)| &text[..at])
}

/// Word counts of some texts, before weighing.
#[derive(Debug, Clone)]
pub(crate) struct Words {
    counts: HashMap<String, f32>,
    /// Characters still to be read.
    budget: usize,
}

impl Default for Words {
    fn default() -> Self {
        Self { counts: HashMap::new(), budget: MAX_PROFILE_CHARS }
    }
}

impl Words {
    /// Counts the words of `text`, each occurrence as `weight`.
    pub fn add(&mut self, text: &str, weight: f32) {
        let text = clip(text, MAX_TEXT_CHARS.min(self.budget));
        self.budget -= text.chars().count().min(self.budget);
        for word in analyze(text) {
            if is_noise(&word) {
                continue;
            }
            let full = self.counts.len() >= MAX_DISTINCT_WORDS;
            match self.counts.get_mut(&word) {
                Some(count) => *count += weight,
                None if !full => {
                    self.counts.insert(word, weight);
                }
                None => {}
            }
        }
    }

    /// A title (counted double), its description or body.
    pub fn add_titled(&mut self, title: &str, body: &str) {
        self.add(title, title_weight());
        self.add(body, 1.0);
    }

    /// An item's title, body and comments.
    pub fn add_item(&mut self, item: &Item) {
        self.add_titled(&item.title, &item.body);
        for comment in &item.comments {
            self.add(&comment.body, 1.0);
        }
    }
}

/// Which documents a similarity query may return, by their request links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Linked {
    /// Only items linked to no request.
    Unlinked,
    /// Only items linked to some request.
    Only,
    /// Either.
    Any,
}

/// The heaviest words of some texts with their weights, heaviest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Profile {
    terms: Vec<(String, f32)>,
}

impl Profile {
    /// Weighs the counted words against the index behind `searcher`; words no document
    /// holds are dropped (they can match nothing).
    pub fn weigh(words: &Words, searcher: &Searcher, fields: &Fields) -> tantivy::Result<Profile> {
        let docs = searcher.num_docs() as f32;
        let text_fields: Vec<_> = TEXT_FIELDS.iter().filter_map(|(name, _)| fields.text_field(name)).collect();
        let mut terms = Vec::with_capacity(words.counts.len());
        for (word, count) in &words.counts {
            let mut freq = 0;
            for field in &text_fields {
                freq = freq.max(searcher.doc_freq(&Term::from_field_text(*field, word))?);
            }
            if freq == 0 {
                continue;
            }
            let freq = freq as f32;
            let idf = (1.0 + (docs - freq + 0.5) / (freq + 0.5)).ln();
            terms.push((word.clone(), (1.0 + count.max(1.0).ln()) * idf));
        }
        terms.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        terms.truncate(MAX_QUERY_TERMS);
        Ok(Profile { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The sum of all weights.
    pub fn total(&self) -> f32 {
        self.terms.iter().map(|(_, weight)| weight).sum()
    }

    /// The weight of a profile word (0 for any other).
    pub fn weight(&self, word: &str) -> f32 {
        self.terms.iter().find(|(term, _)| term == word).map_or(0.0, |(_, weight)| *weight)
    }

    /// The profile words among `words`, heaviest first.
    pub fn shared(&self, words: &HashSet<String>) -> Vec<String> {
        self.terms.iter().filter(|(term, _)| words.contains(term)).map(|(term, _)| term.clone()).collect()
    }

    /// The more-like-this query: any profile word in any text field, each clause boosted
    /// by the word's weight (relative to the heaviest) times the field's search boost and
    /// scored by BM25; restricted by `linked` and never returning an `excluded` item.
    pub fn query(&self, fields: &Fields, linked: Linked, excluded: &[i64]) -> Box<dyn Query> {
        let heaviest = self.terms.first().map_or(1.0, |(_, weight)| *weight).max(f32::MIN_POSITIVE);
        let mut similar: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(self.terms.len() * TEXT_FIELDS.len());
        for (word, weight) in &self.terms {
            for (name, boost) in TEXT_FIELDS {
                let Some(field) = fields.text_field(name) else { continue };
                let term = TermQuery::new(Term::from_field_text(field, word), IndexRecordOption::WithFreqs);
                let clause: Box<dyn Query> = Box::new(BoostQuery::new(Box::new(term), boost * weight / heaviest));
                similar.push((Occur::Should, clause));
            }
        }
        let similar: Box<dyn Query> = Box::new(BooleanQuery::new(similar));
        let mut clauses = vec![(Occur::Must, similar)];
        let linked_term = || {
            Box::new(TermQuery::new(Term::from_field_bool(fields.has_request, true), IndexRecordOption::Basic))
                as Box<dyn Query>
        };
        match linked {
            Linked::Unlinked => clauses.push((Occur::MustNot, linked_term())),
            Linked::Only => {
                clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(linked_term(), 0.0)) as Box<dyn Query>))
            }
            Linked::Any => {}
        }
        if !excluded.is_empty() {
            let ids = excluded.iter().map(|id| Term::from_field_i64(fields.item_id, *id));
            clauses.push((Occur::MustNot, Box::new(TermSetQuery::new(ids)) as Box<dyn Query>));
        }
        Box::new(BooleanQuery::new(clauses))
    }
}

/// The distinct words of a text, as profiles count them.
pub(crate) fn text_words(texts: &[&str]) -> HashSet<String> {
    let mut budget = MAX_PROFILE_CHARS;
    let mut words = HashSet::new();
    for text in texts {
        let text = clip(text, MAX_TEXT_CHARS.min(budget));
        budget -= text.chars().count().min(budget);
        words.extend(analyze(text).into_iter().filter(|word| !is_noise(word)));
    }
    words
}

/// The distinct words of an indexed document's title, body and comments.
pub(crate) fn document_words(doc: &TantivyDocument, fields: &Fields) -> HashSet<String> {
    let texts: Vec<&str> = [fields.title, fields.body, fields.comments]
        .into_iter()
        .flat_map(|field| doc.get_all(field).filter_map(|value| value.as_str()))
        .collect();
    text_words(&texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_unique_and_analyzed_forms() {
        assert!(STOP_WORDS.windows(2).all(|pair| pair[0] < pair[1]), "STOP_WORDS must stay sorted");
        for word in STOP_WORDS {
            assert_eq!(analyze(word), vec![word.to_owned()], "a stop word is one analyzed token");
        }
    }

    #[test]
    fn noise_is_dropped_and_titles_count_double() {
        let mut words = Words::default();
        words.add_titled("The SSO login", "sso via Okta, ticket 12345 a");
        assert_eq!(words.counts.get("sso"), Some(&3.0));
        assert_eq!(words.counts.get("login"), Some(&2.0));
        assert_eq!(words.counts.get("okta"), Some(&1.0));
        for noise in ["the", "via", "12345", "a"] {
            assert!(!words.counts.contains_key(noise), "{noise} is noise");
        }
    }

    #[test]
    fn counting_is_bounded() {
        let mut words = Words::default();
        for chunk in 0..5 {
            let many: String = (0..1_000).map(|n| format!("w{chunk}x{n} ")).collect();
            words.add(&many, 1.0);
        }
        assert_eq!(words.counts.len(), MAX_DISTINCT_WORDS, "new words stop counting at the cap");
        let long = "okta ".repeat(MAX_PROFILE_CHARS);
        for _ in 0..100 {
            words.add(&long, 1.0);
        }
        let read = words.counts.get("okta").copied().unwrap_or(0.0);
        assert!(read <= (MAX_PROFILE_CHARS / 5 + 1) as f32, "at most the profile budget is read: {read}");
        assert_eq!(clip("héllo", 2), "hé");
    }
}

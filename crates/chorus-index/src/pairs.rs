//! Word pairs: a phrase of two frequent words found with one term lookup.
//!
//! A phrase query checks word positions in every document that holds all its words; for
//! the most frequent words ("to the", "is not") that is most of the index. So each text
//! field has a companion pair field (`title_pairs`, ...) holding one term `"a b"` for each
//! two adjacent words that are BOTH in the generation's frequent-word list (frequencies, no
//! positions). A two-word phrase of frequent words becomes that one term — an exact
//! rewrite, not an approximation: pairs are only formed between adjacent positions of one
//! field value, exactly where the word phrase matches. A longer phrase stays a word phrase,
//! narrowed to the documents that hold each of its frequent pairs. A phrase with a word
//! outside the list is cheap anyway: its rarest word bounds the documents whose positions
//! are checked.
//!
//! The list belongs to a generation: it is chosen when the generation is created (from a
//! sample of the store, see [`FrequentWords::choose`]), saved in the generation's
//! directory, and never changes afterwards — every document of the generation was paired
//! with the same list, so queries can rely on it. A generation chosen from a small sample
//! (a fresh install starts from none) is rebuilt by the projection once the index has
//! grown well past that sample ([`FrequentWords::outgrown_by`]), so the list follows the
//! corpus at a cost bounded by a geometric series.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use rustc_hash::FxHashSet;
use tantivy::tokenizer::{BoxTokenStream, TextAnalyzer, Token, TokenStream, Tokenizer};

use crate::analysis;
use crate::error::{IndexError, Result};

/// File in a generation directory holding its frequent words and sample size (JSON).
const FILE: &str = "frequent-words.json";

/// A word is frequent when at least this share of the sampled items contain it.
pub const FREQUENT_SHARE: f64 = 0.05;
/// Items sampled to choose the list.
pub const SAMPLE_ITEMS: usize = 20_000;
/// Fewest sampled items that contain a frequent word (tiny corpora pair nothing).
const MIN_ITEMS: usize = 50;
/// Most words in a list: bounds the pair vocabulary to `MAX_WORDS²` terms.
pub const MAX_WORDS: usize = 256;

/// A list chosen from this many items is re-chosen once the index holds this many times
/// more (and the sample was not full).
const REGROW_FACTOR: u64 = 4;
/// Below this many documents an index is never rebuilt for its list.
const REGROW_MIN_DOCS: u64 = 4_000;

/// The words whose adjacent pairs a generation indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrequentWords {
    /// A fast hash: every word of every indexed text is looked up here.
    words: FxHashSet<String>,
    /// How many items the list was chosen from.
    sampled: usize,
}

/// The saved form.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    sampled: usize,
    words: BTreeSet<String>,
}

impl FrequentWords {
    pub fn new(words: impl IntoIterator<Item = String>, sampled: usize) -> Self {
        Self { words: words.into_iter().collect(), sampled }
    }

    /// Whether an index of `docs` documents has outgrown the sample this list was
    /// chosen from, so that a rebuild would choose a better one.
    pub fn outgrown_by(&self, docs: u64) -> bool {
        let sampled = self.sampled as u64;
        sampled < SAMPLE_ITEMS as u64 && docs >= REGROW_MIN_DOCS.max(sampled * REGROW_FACTOR)
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn contains(&self, word: &str) -> bool {
        self.words.contains(word)
    }

    /// The pair term indexed for two adjacent words, if both are on the list.
    pub fn pair(&self, first: &str, second: &str) -> Option<String> {
        (self.contains(first) && self.contains(second)).then(|| pair_term(first, second))
    }

    /// Chooses the words contained in at least [`FREQUENT_SHARE`] of the sampled texts
    /// (each sample is one item's title, body and comments), at most [`MAX_WORDS`] of
    /// them, the most frequent first.
    pub fn choose<'a>(samples: impl IntoIterator<Item = Vec<&'a str>>) -> Self {
        let mut analyzer = analysis::analyzer();
        let mut document_frequency: HashMap<String, usize> = HashMap::new();
        let mut sampled = 0usize;
        let mut seen = HashSet::new();
        for texts in samples {
            sampled += 1;
            seen.clear();
            for text in texts {
                let mut stream = analyzer.token_stream(text);
                while stream.advance() {
                    if !seen.contains(&stream.token().text) {
                        seen.insert(stream.token().text.clone());
                    }
                }
            }
            for word in seen.drain() {
                *document_frequency.entry(word).or_insert(0) += 1;
            }
        }
        let threshold = ((sampled as f64 * FREQUENT_SHARE).ceil() as usize).max(MIN_ITEMS);
        let mut frequent: Vec<(usize, String)> =
            document_frequency.into_iter().filter(|(_, count)| *count >= threshold).map(|(w, c)| (c, w)).collect();
        frequent.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        frequent.truncate(MAX_WORDS);
        Self::new(frequent.into_iter().map(|(_, word)| word), sampled)
    }

    /// Reads the list saved in a generation directory (empty when there is none).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let saved: Saved = serde_json::from_slice(&bytes)
                    .map_err(|error| IndexError::Corrupt(format!("{}: {error}", path.display())))?;
                Ok(Self::new(saved.words, saved.sampled))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(IndexError::io(&path, error)),
        }
    }

    /// Saves the list into a generation directory (before its first commit).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let saved = Saved { sampled: self.sampled, words: self.words.iter().cloned().collect() };
        let path = dir.join(FILE);
        // Strings and a number always serialize.
        let json = serde_json::to_vec(&saved).unwrap_or_default();
        std::fs::write(&path, json).map_err(|error| IndexError::io(&path, error))
    }
}

/// The indexed term for two adjacent words.
fn pair_term(first: &str, second: &str) -> String {
    let mut term = String::with_capacity(first.len() + 1 + second.len());
    write_pair(&mut term, first, second);
    term
}

/// Writes the pair term of two words into `out` (cleared first): the words joined by a
/// space, which no analyzed word contains.
fn write_pair(out: &mut String, first: &str, second: &str) {
    out.clear();
    out.push_str(first);
    out.push(' ');
    out.push_str(second);
}

/// The tokenizer of the pair fields: the word analyzer's tokens, paired.
#[derive(Clone)]
pub struct PairTokenizer {
    words: Arc<FrequentWords>,
    analyzer: TextAnalyzer,
}

impl PairTokenizer {
    pub fn new(words: Arc<FrequentWords>) -> Self {
        Self { words, analyzer: analysis::analyzer() }
    }
}

/// The pairs of one text, produced as the words stream by (no allocation per pair: the
/// token and the previous word reuse their buffers).
pub struct PairStream<'a> {
    words: &'a FrequentWords,
    inner: Option<BoxTokenStream<'a>>,
    /// The previous word, when it is frequent.
    previous: Option<(usize, usize)>,
    previous_text: String,
    token: Token,
}

impl Tokenizer for PairTokenizer {
    type TokenStream<'a> = PairStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> PairStream<'a> {
        let inner = (!self.words.is_empty()).then(|| self.analyzer.token_stream(text));
        PairStream { words: &self.words, inner, previous: None, previous_text: String::new(), token: Token::default() }
    }
}

impl TokenStream for PairStream<'_> {
    fn advance(&mut self) -> bool {
        let Some(inner) = self.inner.as_mut() else { return false };
        while inner.advance() {
            let word = inner.token();
            if !self.words.contains(&word.text) {
                self.previous = None;
                continue;
            }
            let paired = match self.previous {
                Some((position, offset_from)) if position + 1 == word.position => {
                    write_pair(&mut self.token.text, &self.previous_text, &word.text);
                    self.token.position = position;
                    self.token.offset_from = offset_from;
                    self.token.offset_to = word.offset_to;
                    self.token.position_length = 1;
                    true
                }
                _ => false,
            };
            self.previous = Some((word.position, word.offset_from));
            self.previous_text.clear();
            self.previous_text.push_str(&word.text);
            if paired {
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(words: &[&str], text: &str) -> Vec<(String, usize)> {
        let list = FrequentWords::new(words.iter().map(|w| (*w).to_owned()), 1);
        let mut tokenizer = PairTokenizer::new(Arc::new(list));
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push((stream.token().text.clone(), stream.token().position));
        }
        out
    }

    #[test]
    fn only_adjacent_frequent_words_pair() {
        assert_eq!(
            pairs(&["the", "to", "is"], "Go to the page; the login is to the Left"),
            vec![("to the".to_owned(), 1), ("is to".to_owned(), 6), ("to the".to_owned(), 7)]
        );
        // A dropped over-long token leaves a gap: the words around it are not adjacent.
        let long = "x".repeat(analysis::MAX_TOKEN_LEN + 1);
        assert_eq!(pairs(&["the", "to"], &format!("to {long} the")), vec![]);
        assert_eq!(pairs(&[], "to the"), vec![]);
    }

    #[test]
    fn the_list_holds_words_in_enough_samples() {
        let mut samples = vec![vec!["the login", "the page"]; 60];
        samples.extend(vec![vec!["rare words here"]; 940]);
        let chosen = FrequentWords::choose(samples);
        // "the" is in 60 of 1 000 samples (≥ 5% and ≥ 50 items); "login" is too.
        assert!(chosen.contains("the") && chosen.contains("login") && chosen.contains("rare"));
        assert!(!FrequentWords::choose(vec![vec!["the"]; 49]).contains("the"), "too few items to matter");
    }

    #[test]
    fn the_list_survives_a_save_and_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(FrequentWords::load(dir.path()).expect("absent").is_empty());
        let words = FrequentWords::new(["to".to_owned(), "the".to_owned()], 1_000);
        words.save(dir.path()).expect("save");
        assert_eq!(FrequentWords::load(dir.path()).expect("load"), words);
    }

    /// Every phrase finds exactly the documents the word phrase finds, across title,
    /// body and several comments (pairs never span two values), for 2–4 words.
    #[test]
    fn pair_phrases_match_exactly_what_word_phrases_match() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        use tantivy::collector::DocSetCollector;
        use tantivy::{Index, TantivyDocument};

        use crate::query;
        use crate::request::{build_query, Filters};
        use crate::schema::{register_tokenizer, Fields};

        const VOCABULARY: [&str; 5] = ["the", "to", "is", "login", "x"];
        let (schema, fields) = Fields::build();
        let index = Index::create_in_ram(schema);
        let words = FrequentWords::new(["the", "to", "is", "login"].map(str::to_owned), 1);
        register_tokenizer(&index, Arc::new(words.clone()));
        let mut writer = index.writer_with_num_threads(1, 15_000_000).expect("writer");
        let mut rng = StdRng::seed_from_u64(11);
        let sentence = |rng: &mut StdRng, max: usize| -> String {
            let len = rng.gen_range(0..=max);
            (0..len).map(|_| VOCABULARY[rng.gen_range(0..VOCABULARY.len())]).collect::<Vec<_>>().join(" ")
        };
        for _ in 0..2_000 {
            let mut doc = TantivyDocument::default();
            let (title, body) = (sentence(&mut rng, 4), sentence(&mut rng, 12));
            doc.add_text(fields.title, &title);
            doc.add_text(fields.title_pairs, &title);
            doc.add_text(fields.body, &body);
            doc.add_text(fields.body_pairs, &body);
            for _ in 0..rng.gen_range(0..3) {
                let comment = sentence(&mut rng, 3);
                doc.add_text(fields.comments, &comment);
                doc.add_text(fields.comments_pairs, &comment);
            }
            writer.add_document(doc).expect("add");
        }
        writer.commit().expect("commit");
        let searcher = index.reader().expect("reader").searcher();
        let none = FrequentWords::default();
        let mut paired = 0;
        for n in 0..300 {
            let len = 2 + n % 4;
            let phrase: Vec<&str> = (0..len).map(|_| VOCABULARY[rng.gen_range(0..VOCABULARY.len())]).collect();
            for scope in ["", "title:", "comments:"] {
                let text = format!("{scope}\"{}\"", phrase.join(" "));
                let ast = query::parse(&text).expect("parse");
                let with_pairs = build_query(&ast, &Filters::default(), &fields, &words).expect("pairs").text;
                let with_words = build_query(&ast, &Filters::default(), &fields, &none).expect("words").text;
                let found = searcher.search(&*with_pairs, &DocSetCollector).expect("search");
                let expected = searcher.search(&*with_words, &DocSetCollector).expect("search");
                assert_eq!(found, expected, "{text}");
                // The rewrite really happened: a phrase of list words queries pair terms
                // (two words: only a pair term, no word positions at all).
                let pair_fields = [fields.title_pairs, fields.body_pairs, fields.comments_pairs];
                let (mut pair_terms, mut word_terms) = (0, 0);
                with_pairs.query_terms(&mut |term, _| {
                    if pair_fields.contains(&term.field()) {
                        pair_terms += 1;
                    } else {
                        word_terms += 1;
                    }
                });
                let all_listed = !phrase.contains(&"x");
                assert_eq!(pair_terms > 0, all_listed || phrase.windows(2).any(|w| !w.contains(&"x")), "{text}");
                if all_listed && len == 2 {
                    assert_eq!(word_terms, 0, "{text}: a two-word phrase of list words is one pair term");
                }
                paired += usize::from(all_listed && !expected.is_empty());
            }
        }
        assert!(paired > 100, "the test must exercise the pair path ({paired})");
    }

    #[test]
    fn a_small_sample_is_outgrown_a_full_one_never() {
        let empty = FrequentWords::default();
        assert!(!empty.outgrown_by(REGROW_MIN_DOCS - 1));
        assert!(empty.outgrown_by(REGROW_MIN_DOCS));
        let small = FrequentWords::new([], 5_000);
        assert!(!small.outgrown_by(19_999) && small.outgrown_by(20_000));
        assert!(!FrequentWords::new([], SAMPLE_ITEMS).outgrown_by(u64::MAX));
    }
}

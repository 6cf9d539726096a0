//! The user query language, parsed here rather than by tantivy's `QueryParser`.
//!
//! Syntax: words are ANDed; `"a phrase"`; `-word`, `-"phrase"`, `-(group)` and `NOT x`
//! exclude; `a OR b`; `( … )` groups; `title:`, `body:` and `comments:` scope a word, a
//! phrase or a group. Punctuation inside words splits them like the indexed text does
//! (`e-mail` is the phrase `"e mail"`); `*` and `?` are plain punctuation. A prefix that
//! is not a field name (`re:`, `https:`) is ordinary text.
//!
//! Invariant: no input reaches tantivy unless it passed the limits below, the parser
//! never recurses deeper than `MAX_DEPTH`, and any failure is a [`QueryError`] whose
//! message names the problem — never a panic, never an unbounded loop.

use crate::error::QueryError;

/// Longest accepted query, in characters (checked before anything else).
pub const MAX_QUERY_CHARS: usize = 1_000;
/// Deepest accepted nesting of parentheses.
pub const MAX_DEPTH: usize = 8;
/// Most words and phrases one query may contain.
pub const MAX_TERMS: usize = 32;

/// A parsed query: an OR of ANDs; empty when the input was blank (matches everything).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryAst {
    pub any_of: Vec<Conjunction>,
}

/// Clauses that must all hold (the excluded ones must not).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conjunction {
    pub clauses: Vec<Clause>,
}

/// One included or excluded operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub exclude: bool,
    pub operand: Operand,
}

/// A word, a phrase, or a parenthesized group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// Raw text (tokenized later with the index analyzer); `field` is `None` for all
    /// text fields. `phrase` records the user's quotes.
    Text {
        field: Option<String>,
        text: String,
        phrase: bool,
    },
    Group(QueryAst),
}

impl QueryAst {
    /// Whether the query matches every document (blank input).
    pub fn is_match_all(&self) -> bool {
        self.any_of.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Minus,
    Or,
    Field(String),
    Phrase(String),
    Word(String),
}

const FIELD_NAMES: [&str; 3] = ["title", "body", "comments"];

/// Parses a user query. Blank input gives the match-all query.
pub fn parse(input: &str) -> Result<QueryAst, QueryError> {
    // Cheap byte bound first so a megabyte string is never even scanned char by char.
    if input.len() > MAX_QUERY_CHARS * 4 {
        return Err(QueryError::TooLong { len: input.chars().count(), max: MAX_QUERY_CHARS });
    }
    let chars: Vec<char> = input.chars().collect();
    if chars.len() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong { len: chars.len(), max: MAX_QUERY_CHARS });
    }
    let tokens = lex(&chars)?;
    let mut parser = Parser { tokens, next: 0, terms: 0 };
    let ast = parser.expression(None, 0)?;
    if let Some((_, position)) = parser.tokens.get(parser.next) {
        // Only an unmatched `)` can stop the top-level expression early.
        return Err(QueryError::UnexpectedClose { position: *position });
    }
    if ast.is_match_all() && !input.trim().is_empty() {
        return Err(QueryError::NoWords { query: input.trim().to_owned() });
    }
    Ok(ast)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn lex(chars: &[char]) -> Result<Vec<(Token, usize)>, QueryError> {
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let start = at;
        if c.is_whitespace() {
            at += 1;
            continue;
        }
        match c {
            '(' => {
                tokens.push((Token::Open, start));
                at += 1;
            }
            ')' => {
                tokens.push((Token::Close, start));
                at += 1;
            }
            '"' => {
                let Some(len) = chars[at + 1..].iter().position(|&c| c == '"') else {
                    return Err(QueryError::UnclosedPhrase { position: start });
                };
                let text: String = chars[at + 1..at + 1 + len].iter().collect();
                tokens.push((Token::Phrase(text), start));
                at += len + 2;
            }
            '-' | '+' if chars.get(at + 1).is_some_and(|&next| !next.is_whitespace()) => {
                // `+` is the explicit "must", which is the default anyway.
                if c == '-' {
                    tokens.push((Token::Minus, start));
                }
                at += 1;
            }
            _ => {
                let len = chars[at..]
                    .iter()
                    .position(|&c| c.is_whitespace() || matches!(c, '(' | ')' | '"'))
                    .unwrap_or(chars.len() - at);
                let word: String = chars[at..at + len].iter().collect();
                at += len;
                let detached = chars.get(at).is_none_or(|next| next.is_whitespace());
                let field_prefix = word.strip_suffix(':').is_some_and(|name| FIELD_NAMES.contains(&name));
                if field_prefix && detached {
                    // `title: x` — the prefix must touch its operand.
                    return Err(QueryError::DanglingOperator { operator: word, position: start });
                }
                push_word(&mut tokens, word, start);
            }
        }
    }
    Ok(tokens)
}

/// Classifies a bare word: an operator keyword, a field prefix (`title:` possibly glued
/// to its operand), or text.
fn push_word(tokens: &mut Vec<(Token, usize)>, word: String, start: usize) {
    match word.as_str() {
        "OR" | "||" => return tokens.push((Token::Or, start)),
        "AND" | "&&" => return,
        "NOT" => return tokens.push((Token::Minus, start)),
        _ => {}
    }
    if let Some((name, rest)) = word.split_once(':') {
        if FIELD_NAMES.contains(&name) {
            tokens.push((Token::Field(name.to_owned()), start));
            if !rest.is_empty() {
                let rest_start = start + name.chars().count() + 1;
                push_word(tokens, rest.to_owned(), rest_start);
            }
            return;
        }
    }
    tokens.push((Token::Word(word), start));
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    next: usize,
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(token, _)| token)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.next).map_or(usize::MAX, |(_, position)| *position)
    }

    /// `conjunction (OR conjunction)*`, up to a `)` or the end.
    fn expression(&mut self, field: Option<&str>, depth: usize) -> Result<QueryAst, QueryError> {
        let mut any_of = Vec::new();
        loop {
            let conjunction = self.conjunction(field, depth)?;
            if let Some(Token::Or) = self.peek() {
                let position = self.position();
                if conjunction.clauses.is_empty() {
                    return Err(QueryError::DanglingOperator { operator: "OR".into(), position });
                }
                any_of.push(conjunction);
                self.next += 1;
                let follows = !matches!(self.peek(), None | Some(Token::Close | Token::Or));
                if !follows {
                    return Err(QueryError::DanglingOperator { operator: "OR".into(), position });
                }
                continue;
            }
            if !conjunction.clauses.is_empty() {
                any_of.push(conjunction);
            }
            return Ok(QueryAst { any_of });
        }
    }

    fn conjunction(&mut self, field: Option<&str>, depth: usize) -> Result<Conjunction, QueryError> {
        let mut clauses = Vec::new();
        while let Some(token) = self.peek() {
            if matches!(token, Token::Or | Token::Close) {
                break;
            }
            if let Some(clause) = self.clause(field, depth)? {
                clauses.push(clause);
            }
        }
        Ok(Conjunction { clauses })
    }

    /// One operand with its optional `-`; `None` for a word that is only punctuation.
    fn clause(&mut self, field: Option<&str>, depth: usize) -> Result<Option<Clause>, QueryError> {
        let mut exclude = false;
        let mut operator: Option<(String, usize)> = None;
        if let Some(Token::Minus) = self.peek() {
            exclude = true;
            operator = Some(("-".into(), self.position()));
            self.next += 1;
        }
        let mut scope = field.map(str::to_owned);
        if let Some(Token::Field(name)) = self.peek() {
            scope = Some(name.clone());
            operator = Some((format!("{name}:"), self.position()));
            self.next += 1;
        }
        let dangling = |operator: Option<(String, usize)>| match operator {
            Some((operator, position)) => Err(QueryError::DanglingOperator { operator, position }),
            None => Ok(None),
        };
        let position = self.position();
        let Some(token) = self.peek().cloned() else {
            return dangling(operator);
        };
        let operand = match token {
            Token::Word(text) | Token::Phrase(text) if !has_word(&text) => {
                self.next += 1;
                return dangling(operator);
            }
            Token::Word(text) => {
                self.next += 1;
                self.count_term()?;
                Operand::Text { field: scope, text, phrase: false }
            }
            Token::Phrase(text) => {
                self.next += 1;
                self.count_term()?;
                Operand::Text { field: scope, text, phrase: true }
            }
            Token::Open => {
                if depth + 1 > MAX_DEPTH {
                    return Err(QueryError::TooDeep { max: MAX_DEPTH });
                }
                self.next += 1;
                let group = self.expression(scope.as_deref(), depth + 1)?;
                match self.peek() {
                    Some(Token::Close) => self.next += 1,
                    _ => return Err(QueryError::UnclosedGroup { position }),
                }
                if group.is_match_all() {
                    return Err(QueryError::EmptyGroup { position });
                }
                Operand::Group(group)
            }
            Token::Minus | Token::Field(_) | Token::Or | Token::Close => {
                return dangling(operator);
            }
        };
        Ok(Some(Clause { exclude, operand }))
    }

    fn count_term(&mut self) -> Result<(), QueryError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(QueryError::TooManyTerms { max: MAX_TERMS });
        }
        Ok(())
    }
}

/// Whether the text holds at least one indexable character (letters or digits).
fn has_word(text: &str) -> bool {
    text.chars().any(is_word_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str) -> Clause {
        Clause { exclude: false, operand: Operand::Text { field: None, text: text.into(), phrase: false } }
    }

    #[test]
    fn words_are_anded_and_or_splits() {
        let ast = parse("sso login OR saml").expect("valid");
        assert_eq!(ast.any_of.len(), 2);
        assert_eq!(ast.any_of[0].clauses, vec![word("sso"), word("login")]);
        assert_eq!(ast.any_of[1].clauses, vec![word("saml")]);
    }

    #[test]
    fn prefixes_phrases_and_exclusions() {
        let ast = parse(r#"title:"single sign" -slack body:(a b) re:sso"#).expect("valid");
        let clauses = &ast.any_of[0].clauses;
        assert_eq!(
            clauses[0].operand,
            Operand::Text { field: Some("title".into()), text: "single sign".into(), phrase: true }
        );
        assert!(clauses[1].exclude);
        let Operand::Group(group) = &clauses[2].operand else { panic!("group expected") };
        assert_eq!(
            group.any_of[0].clauses[0].operand,
            Operand::Text { field: Some("body".into()), text: "a".into(), phrase: false }
        );
        assert_eq!(clauses[3], word("re:sso"));
    }

    #[test]
    fn blank_matches_all_and_punctuation_alone_is_refused() {
        assert!(parse("   ").expect("blank").is_match_all());
        for hostile in ["*", "?", "- *", "-*", "!!!", "title:*"] {
            let error = parse(hostile).expect_err(hostile);
            assert!(
                matches!(error, QueryError::NoWords { .. } | QueryError::DanglingOperator { .. }),
                "{hostile}: {error}"
            );
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            ("a:(^", "unbalanced parentheses: `(` at position 2 is never closed"),
            ("foo)", "unbalanced parentheses: `)` at position 3 has no matching `(`"),
            ("\"open", "unterminated phrase: the `\"` at position 0 is never closed"),
            ("a OR", "`OR` at position 2 must be followed by a word, a phrase or a group"),
            ("-*", "`-` at position 0 must be followed by a word, a phrase or a group"),
            ("title: x", "`title:` at position 0 must be followed by a word, a phrase or a group"),
            ("a ()", "empty group `()` at position 2"),
        ];
        for (input, message) in cases {
            assert_eq!(parse(input).expect_err(input).to_string(), message, "{input}");
        }
    }

    #[test]
    fn limits_hold_before_any_work() {
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(parse(&deep), Err(QueryError::TooLong { len: 20_001, max: MAX_QUERY_CHARS }));
        let nested = format!("{}a{}", "(".repeat(9), ")".repeat(9));
        assert_eq!(parse(&nested), Err(QueryError::TooDeep { max: MAX_DEPTH }));
        let ok = format!("{}a{}", "(".repeat(8), ")".repeat(8));
        assert!(parse(&ok).is_ok());
        let huge = "a ".repeat(512 * 1024);
        assert!(matches!(parse(&huge), Err(QueryError::TooLong { .. })));
        let many = "w ".repeat(MAX_TERMS + 1);
        assert_eq!(parse(&many), Err(QueryError::TooManyTerms { max: MAX_TERMS }));
    }
}

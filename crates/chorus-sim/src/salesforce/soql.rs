//! The SOQL subset the simulator understands, parsed and evaluated over JSON records.
//!
//! `SELECT f, Rel.f, ... FROM Object [WHERE cond] [ORDER BY f [ASC|DESC], ...] [LIMIT n]`,
//! where `cond` is comparisons (`=`, `!=`, `<`, `<=`, `>`, `>=`) of a field with a
//! literal (`'text'` with `\'` escapes, an unquoted datetime such as
//! `2024-01-01T00:00:00.000+0000` or `...Z`, a number, `true`, `false`, `null`) joined
//! by `AND`/`OR` with parentheses, and `field IN (literal, ...)`. Keywords are
//! case-insensitive, as in SOQL. Anything
//! else is refused with `MALFORMED_QUERY`, as Salesforce refuses what it cannot parse;
//! field checks against the object's schema (unknown fields, fields that cannot be
//! filtered, quoted datetimes) happen in `check`. Invariant: parsing is linear in the
//! query's length and never panics on any input.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub fields: Vec<String>,
    pub object: String,
    pub filter: Option<Expr>,
    /// `(field, descending)`.
    pub order_by: Vec<(String, bool)>,
    pub limit: Option<usize>,
}

/// A `WHERE` condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare {
        field: String,
        op: Op,
        value: Literal,
    },
    /// `field IN (a, b, ...)`: equal to one of the values.
    In {
        field: String,
        values: Vec<Literal>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    DateTime(DateTime<Utc>),
    Number(f64),
    Bool(bool),
    Null,
}

/// Why a query was refused: Salesforce's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub code: &'static str,
    pub message: String,
}

impl QueryError {
    pub fn malformed(message: impl Into<String>) -> Self {
        Self { code: "MALFORMED_QUERY", message: message.into() }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Comma,
    Open,
    Close,
    Op(Op),
}

fn tokenize(input: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        match c {
            c if c.is_whitespace() => at += 1,
            ',' => {
                tokens.push(Token::Comma);
                at += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                at += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                at += 1;
            }
            '\'' => {
                let mut text = String::new();
                at += 1;
                loop {
                    match chars.get(at) {
                        None => return Err(QueryError::malformed("unterminated string literal")),
                        Some('\\') => {
                            let escaped = chars.get(at + 1).ok_or_else(|| QueryError::malformed("bad escape"))?;
                            text.push(*escaped);
                            at += 2;
                        }
                        Some('\'') => {
                            at += 1;
                            break;
                        }
                        Some(other) => {
                            text.push(*other);
                            at += 1;
                        }
                    }
                }
                tokens.push(Token::Text(text));
            }
            '=' => {
                tokens.push(Token::Op(Op::Eq));
                at += 1;
            }
            '!' if chars.get(at + 1) == Some(&'=') => {
                tokens.push(Token::Op(Op::Ne));
                at += 2;
            }
            '<' | '>' => {
                let eq = chars.get(at + 1) == Some(&'=');
                let op = match (c, eq) {
                    ('<', true) => Op::Le,
                    ('<', false) => Op::Lt,
                    ('>', true) => Op::Ge,
                    _ => Op::Gt,
                };
                tokens.push(Token::Op(op));
                at += if eq { 2 } else { 1 };
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' || c == '+' || c == ':' => {
                let start = at;
                while at < chars.len() {
                    let c = chars[at];
                    if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '+' | ':') {
                        at += 1;
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(chars[start..at].iter().collect()));
            }
            other => return Err(QueryError::malformed(format!("unexpected character '{other}'"))),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect_keyword(&mut self, word: &str) -> Result<(), QueryError> {
        if self.keyword(word) {
            self.at += 1;
            Ok(())
        } else {
            Err(QueryError::malformed(format!("expected {word}")))
        }
    }

    fn identifier(&mut self) -> Result<String, QueryError> {
        match self.next() {
            Some(Token::Word(word)) if is_identifier(&word) => Ok(word),
            Some(Token::Word(word)) => Err(QueryError::malformed(format!("unexpected token: '{word}'"))),
            _ => Err(QueryError::malformed("expected a field name")),
        }
    }

    /// `atom (AND atom)*` joined by `OR`: AND binds tighter, as in SOQL.
    fn expr(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut left = self.conjunction(depth)?;
        while self.keyword("OR") {
            self.at += 1;
            let right = self.conjunction(depth)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn conjunction(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut left = self.atom(depth)?;
        while self.keyword("AND") {
            self.at += 1;
            let right = self.atom(depth)?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn atom(&mut self, depth: usize) -> Result<Expr, QueryError> {
        if depth > 32 {
            return Err(QueryError::malformed("too deeply nested"));
        }
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.expr(depth + 1)?;
            if self.next() != Some(Token::Close) {
                return Err(QueryError::malformed("expected ')'"));
            }
            return Ok(inner);
        }
        let field = self.identifier()?;
        if self.keyword("IN") {
            self.at += 1;
            return self.in_list(field);
        }
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            Some(Token::Word(word)) => {
                return Err(QueryError::malformed(format!(
                    "unexpected token: '{word}' (this simulator knows =, !=, <, <=, >, >=)"
                )))
            }
            _ => return Err(QueryError::malformed("expected an operator")),
        };
        let value = match self.next() {
            Some(Token::Text(text)) => Literal::Text(text),
            Some(Token::Word(word)) => literal(&word)?,
            _ => return Err(QueryError::malformed("expected a value")),
        };
        Ok(Expr::Compare { field, op, value })
    }

    /// The `(a, b, ...)` after `field IN`: one or more literals.
    fn in_list(&mut self, field: String) -> Result<Expr, QueryError> {
        if self.next() != Some(Token::Open) {
            return Err(QueryError::malformed("expected '(' after IN"));
        }
        let mut values = Vec::new();
        loop {
            values.push(match self.next() {
                Some(Token::Text(text)) => Literal::Text(text),
                Some(Token::Word(word)) => literal(&word)?,
                _ => return Err(QueryError::malformed("expected a value in the IN list")),
            });
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::Close) => return Ok(Expr::In { field, values }),
                _ => return Err(QueryError::malformed("expected ',' or ')' in the IN list")),
            }
        }
    }
}

fn is_identifier(word: &str) -> bool {
    let mut parts = word.split('.');
    let ok = |part: &str| {
        part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    parts.all(ok) && word.split('.').count() <= 2
}

fn literal(word: &str) -> Result<Literal, QueryError> {
    if word.eq_ignore_ascii_case("true") {
        return Ok(Literal::Bool(true));
    }
    if word.eq_ignore_ascii_case("false") {
        return Ok(Literal::Bool(false));
    }
    if word.eq_ignore_ascii_case("null") {
        return Ok(Literal::Null);
    }
    if let Some(at) = parse_datetime(word) {
        return Ok(Literal::DateTime(at));
    }
    if let Ok(number) = word.parse::<f64>() {
        if number.is_finite() {
            return Ok(Literal::Number(number));
        }
    }
    Err(QueryError::malformed(format!("unexpected token: '{word}'")))
}

/// Salesforce's datetime forms: `2024-01-01T00:00:00.000+0000`, `...Z`, with or
/// without milliseconds.
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(at) = DateTime::parse_from_str(text, format) {
            return Some(at.to_utc());
        }
    }
    DateTime::parse_from_rfc3339(text).ok().map(|at| at.to_utc())
}

/// How the API writes a datetime: `2024-01-01T00:00:00.000+0000`.
pub fn format_datetime(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Parses a query of the subset.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    if input.len() > 100_000 {
        return Err(QueryError { code: "QUERY_TOO_COMPLICATED", message: "query is too long".into() });
    }
    let mut parser = Parser { tokens: tokenize(input)?, at: 0 };
    parser.expect_keyword("SELECT")?;
    let mut fields = vec![parser.identifier()?];
    while parser.peek() == Some(&Token::Comma) {
        parser.at += 1;
        fields.push(parser.identifier()?);
    }
    parser.expect_keyword("FROM")?;
    let object = parser.identifier()?;
    let filter = if parser.keyword("WHERE") {
        parser.at += 1;
        Some(parser.expr(0)?)
    } else {
        None
    };
    let mut order_by = Vec::new();
    if parser.keyword("ORDER") {
        parser.at += 1;
        parser.expect_keyword("BY")?;
        loop {
            let field = parser.identifier()?;
            let descending = if parser.keyword("DESC") {
                parser.at += 1;
                true
            } else {
                if parser.keyword("ASC") {
                    parser.at += 1;
                }
                false
            };
            order_by.push((field, descending));
            if parser.peek() != Some(&Token::Comma) {
                break;
            }
            parser.at += 1;
        }
    }
    let mut limit = None;
    if parser.keyword("LIMIT") {
        parser.at += 1;
        match parser.next() {
            Some(Token::Word(word)) => {
                limit = Some(word.parse().map_err(|_| QueryError::malformed(format!("bad LIMIT: '{word}'")))?)
            }
            _ => return Err(QueryError::malformed("expected a number after LIMIT")),
        }
    }
    if let Some(token) = parser.peek() {
        return Err(QueryError::malformed(format!("unexpected token: {token:?}")));
    }
    Ok(Query { fields, object, filter, order_by, limit })
}

impl Expr {
    /// Every field the condition names, in order.
    pub fn fields(&self) -> Vec<(&str, &Literal)> {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                let mut out = a.fields();
                out.extend(b.fields());
                out
            }
            Expr::Compare { field, value, .. } => vec![(field.as_str(), value)],
            Expr::In { field, values } => values.iter().map(|value| (field.as_str(), value)).collect(),
        }
    }

    /// Whether `record` (field name → value; case-insensitive names) matches.
    pub fn matches(&self, record: &dyn Fn(&str) -> Value) -> bool {
        match self {
            Expr::And(a, b) => a.matches(record) && b.matches(record),
            Expr::Or(a, b) => a.matches(record) || b.matches(record),
            Expr::Compare { field, op, value } => compare(&record(field), *op, value),
            Expr::In { field, values } => {
                let actual = record(field);
                values.iter().any(|value| compare(&actual, Op::Eq, value))
            }
        }
    }
}

fn compare(actual: &Value, op: Op, expected: &Literal) -> bool {
    let ordering = match (actual, expected) {
        (Value::Null, Literal::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Literal::Null) => return op == Op::Ne,
        (Value::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        (Value::Number(a), Literal::Number(b)) => a.as_f64().and_then(|a| a.partial_cmp(b)),
        (Value::String(a), Literal::DateTime(b)) => parse_datetime(a).map(|a| a.cmp(b)),
        (Value::String(a), Literal::Text(b)) => Some(a.as_str().cmp(b.as_str())),
        _ => None,
    };
    let Some(ordering) = ordering else { return false };
    match op {
        Op::Eq => ordering == Ordering::Equal,
        Op::Ne => ordering != Ordering::Equal,
        Op::Lt => ordering == Ordering::Less,
        Op::Le => ordering != Ordering::Greater,
        Op::Gt => ordering == Ordering::Greater,
        Op::Ge => ordering != Ordering::Less,
    }
}

/// Orders two values as `ORDER BY` does: nulls first, datetimes by instant.
pub fn order_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()).unwrap_or(Ordering::Equal),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::String(a), Value::String(b)) => match (parse_datetime(a), parse_datetime(b)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => a.cmp(b),
        },
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resume_predicate_parses_and_evaluates() {
        let query = parse(
            "SELECT Id, SystemModstamp FROM Case WHERE (SystemModstamp > 2024-01-01T00:00:00.000+0000 OR \
             (SystemModstamp = 2024-01-01T00:00:00.000+0000 AND Id > '500A')) AND IsDeleted = true \
             ORDER BY SystemModstamp ASC, Id LIMIT 200",
        )
        .expect("parses");
        assert_eq!(query.object, "Case");
        assert_eq!(query.order_by, vec![("SystemModstamp".into(), false), ("Id".into(), false)]);
        assert_eq!(query.limit, Some(200));
        let filter = query.filter.expect("filter");
        let record = |stamp: &'static str, id: &'static str| {
            move |field: &str| match field {
                "SystemModstamp" => Value::from(stamp),
                "Id" => Value::from(id),
                "IsDeleted" => Value::Bool(true),
                _ => Value::Null,
            }
        };
        assert!(!filter.matches(&record("2024-01-01T00:00:00.000+0000", "500A")));
        assert!(filter.matches(&record("2024-01-01T00:00:00.000+0000", "500B")));
        assert!(filter.matches(&record("2024-01-01T00:00:01.000+0000", "5000")));
        assert!(!filter.matches(&record("2023-12-31T23:59:59.000+0000", "500Z")));
    }

    #[test]
    fn what_is_not_understood_is_malformed() {
        for bad in [
            "SELECT FROM Account",
            "SELECT Id FROM Account WHERE Name LIKE 'A%'",
            "SELECT Id FROM Account WHERE",
            "SELECT Id FROM Account LIMIT x",
            "SELECT Id FROM Account WHERE Name = 'open",
            "SELECT COUNT() FROM Account",
            "DELETE FROM Account",
            "SELECT Id FROM Account GROUP BY Name",
            "SELECT Id FROM Account WHERE ((((((((((((((((((((((((((((((((((Id = 'a'))))))))))))))))))))))))))))))))))",
        ] {
            let error = parse(bad).expect_err(bad);
            assert_eq!(error.code, "MALFORMED_QUERY", "{bad}");
        }
    }

    #[test]
    fn an_in_list_matches_any_of_its_values_and_a_broken_one_is_malformed() {
        let query = parse("SELECT Id FROM Case WHERE Id IN ('500A', '500C') AND IsDeleted = false").expect("parses");
        let filter = query.filter.expect("filter");
        let record = |id: &'static str| {
            move |field: &str| match field {
                "Id" => Value::from(id),
                "IsDeleted" => Value::Bool(false),
                _ => Value::Null,
            }
        };
        assert!(filter.matches(&record("500A")) && filter.matches(&record("500C")));
        assert!(!filter.matches(&record("500B")));
        assert_eq!(filter.fields().len(), 3, "every value is checked against the field");
        for bad in [
            "SELECT Id FROM Case WHERE Id IN ()",
            "SELECT Id FROM Case WHERE Id IN ('a'",
            "SELECT Id FROM Case WHERE Id IN 'a'",
        ] {
            assert_eq!(parse(bad).expect_err(bad).code, "MALFORMED_QUERY", "{bad}");
        }
    }

    #[test]
    fn datetimes_read_and_write_in_salesforce_form() {
        let at = parse_datetime("2024-01-01T10:00:00.000+0000").expect("parses");
        assert_eq!(format_datetime(at), "2024-01-01T10:00:00.000+0000");
        assert_eq!(parse_datetime("2024-01-01T10:00:00Z"), Some(at));
    }
}

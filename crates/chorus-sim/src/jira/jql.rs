//! A JQL subset, parsed and evaluated the way Jira Cloud's search does.
//!
//! Supported: `AND`, `OR`, `NOT`, parentheses; fields `project`, `key`/`issuekey`,
//! `id`, `issuetype`/`type`, `status`, `labels`, `updated`, `created`; operators
//! `=`, `!=`, `>`, `>=`, `<`, `<=`, `in`, `not in`; `ORDER BY field [ASC|DESC], ...`.
//! Dates are `"yyyy-MM-dd HH:mm"` or `"yyyy-MM-dd"`, read in the calling user's zone
//! at minute granularity. Invariant: anything outside the subset is a `JqlError`
//! (answered 400 like Jira), never a silent match-all; a query without any
//! restriction is refused as unbounded, as the enhanced search does; an `id` or `key`
//! literal that names no issue is refused too (`Expr::unknown_literal`), as Jira's
//! validator does, so `id in (…)` over deleted issues fails.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::zone::SimZone;
use super::SimIssue;

/// Why a query was refused; the message is what Jira's `errorMessages` would carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JqlError(pub String);

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub filter: Option<Expr>,
    pub order: Vec<(Field, bool)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Project,
    Key,
    Id,
    IssueType,
    Status,
    Labels,
    Updated,
    Created,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Clause { field: Field, op: Op, values: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    In,
    NotIn,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Comma,
    Op(&'static str),
}

fn tokenize(input: &str) -> Result<Vec<Token>, JqlError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '"' | '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&d| d == c)
                    .ok_or_else(|| JqlError("unterminated string".into()))?;
                tokens.push(Token::Quoted(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            '!' | '>' | '<' | '=' => {
                let next = chars.get(i + 1).copied();
                let (op, width) = match (c, next) {
                    ('!', Some('=')) => ("!=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', Some('=')) => ("<=", 2),
                    ('>', _) => (">", 1),
                    ('<', _) => ("<", 1),
                    ('=', _) => ("=", 1),
                    _ => return Err(JqlError(format!("unexpected character '{c}'"))),
                };
                tokens.push(Token::Op(op));
                i += width;
            }
            _ => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || "_-.:/".contains(chars[i])) {
                    i += 1;
                }
                if start == i {
                    return Err(JqlError(format!("unexpected character '{c}'")));
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn expr(&mut self) -> Result<Expr, JqlError> {
        let mut left = self.term()?;
        while self.peek_word("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Expr, JqlError> {
        let mut left = self.factor()?;
        while self.peek_word("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Expr, JqlError> {
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.factor()?)));
        }
        if self.tokens.get(self.pos) == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.expr()?;
            if self.next() != Some(Token::Close) {
                return Err(JqlError("expected ')'".into()));
            }
            return Ok(inner);
        }
        self.clause()
    }

    fn clause(&mut self) -> Result<Expr, JqlError> {
        let field = match self.next() {
            Some(Token::Word(w)) | Some(Token::Quoted(w)) => field(&w)?,
            other => return Err(JqlError(format!("expected a field, found {other:?}"))),
        };
        let op = match self.next() {
            Some(Token::Op("=")) => Op::Eq,
            Some(Token::Op("!=")) => Op::Ne,
            Some(Token::Op(">")) => Op::Gt,
            Some(Token::Op(">=")) => Op::Ge,
            Some(Token::Op("<")) => Op::Lt,
            Some(Token::Op("<=")) => Op::Le,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => Op::In,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("not") && self.peek_word("in") => {
                self.pos += 1;
                Op::NotIn
            }
            other => return Err(JqlError(format!("unsupported operator {other:?}"))),
        };
        let values = if matches!(op, Op::In | Op::NotIn) { self.list()? } else { vec![self.value()?] };
        Ok(Expr::Clause { field, op, values })
    }

    fn value(&mut self) -> Result<String, JqlError> {
        match self.next() {
            Some(Token::Word(w)) | Some(Token::Quoted(w)) => Ok(w),
            other => Err(JqlError(format!("expected a value, found {other:?}"))),
        }
    }

    fn list(&mut self) -> Result<Vec<String>, JqlError> {
        if self.next() != Some(Token::Open) {
            return Err(JqlError("expected '(' after IN".into()));
        }
        let mut values = vec![self.value()?];
        loop {
            match self.next() {
                Some(Token::Comma) => values.push(self.value()?),
                Some(Token::Close) => return Ok(values),
                other => return Err(JqlError(format!("expected ',' or ')', found {other:?}"))),
            }
        }
    }
}

fn field(name: &str) -> Result<Field, JqlError> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "project" => Field::Project,
        "key" | "issuekey" => Field::Key,
        "id" => Field::Id,
        "issuetype" | "type" => Field::IssueType,
        "status" => Field::Status,
        "labels" => Field::Labels,
        "updated" | "updateddate" => Field::Updated,
        "created" | "createddate" => Field::Created,
        other => {
            return Err(JqlError(format!("Field '{other}' does not exist or you do not have permission to view it.")))
        }
    })
}

/// Parses a query (with an optional `ORDER BY`).
pub fn parse(jql: &str) -> Result<Query, JqlError> {
    let tokens = tokenize(jql)?;
    let order_at = tokens.windows(2).position(|w| {
        matches!((&w[0], &w[1]), (Token::Word(a), Token::Word(b)) if a.eq_ignore_ascii_case("order") && b.eq_ignore_ascii_case("by"))
    });
    let (filter_tokens, order_tokens) = match order_at {
        Some(at) => (tokens[..at].to_vec(), tokens[at + 2..].to_vec()),
        None => (tokens, Vec::new()),
    };
    let filter = if filter_tokens.is_empty() {
        None
    } else {
        let mut parser = Parser { tokens: filter_tokens, pos: 0 };
        let expr = parser.expr()?;
        if parser.pos < parser.tokens.len() {
            return Err(JqlError(format!("unexpected {:?}", parser.tokens[parser.pos])));
        }
        Some(expr)
    };
    let mut order = Vec::new();
    let mut parts = order_tokens.split(|t| *t == Token::Comma);
    for part in parts.by_ref() {
        match part {
            [Token::Word(f)] => order.push((field(f)?, true)),
            [Token::Word(f), Token::Word(dir)] if dir.eq_ignore_ascii_case("asc") => order.push((field(f)?, true)),
            [Token::Word(f), Token::Word(dir)] if dir.eq_ignore_ascii_case("desc") => order.push((field(f)?, false)),
            [] if order_at.is_none() => {}
            other => return Err(JqlError(format!("bad ORDER BY clause {other:?}"))),
        }
    }
    Ok(Query { filter, order })
}

/// A JQL date in the user's zone: `yyyy-MM-dd HH:mm`, `yyyy/MM/dd HH:mm` or `yyyy-MM-dd`.
pub fn parse_date(text: &str, zone: SimZone) -> Result<DateTime<Utc>, JqlError> {
    let normalized = text.trim().replace('/', "-");
    let local = NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%d %H:%M")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(&normalized, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
        .ok_or_else(|| {
            JqlError(format!(
                "Date value '{text}' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd'"
            ))
        })?;
    Ok(zone.from_local(local))
}

impl Expr {
    /// Whether `issue` matches; dates are read in `zone`.
    pub fn matches(&self, issue: &SimIssue, zone: SimZone) -> Result<bool, JqlError> {
        match self {
            Expr::And(a, b) => Ok(a.matches(issue, zone)? && b.matches(issue, zone)?),
            Expr::Or(a, b) => Ok(a.matches(issue, zone)? || b.matches(issue, zone)?),
            Expr::Not(a) => Ok(!a.matches(issue, zone)?),
            Expr::Clause { field, op, values } => clause_matches(issue, *field, *op, values, zone),
        }
    }
}

impl Expr {
    /// The first `id`/`key` literal of an `=`, `!=`, `in` or `not in` clause that names
    /// no issue, as Jira's validator refuses it (400), whether or not the clause would
    /// matter to the result. `exists(field, value)` says whether an issue has it.
    pub fn unknown_literal(&self, exists: &impl Fn(Field, &str) -> bool) -> Option<JqlError> {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => a.unknown_literal(exists).or_else(|| b.unknown_literal(exists)),
            Expr::Not(a) => a.unknown_literal(exists),
            Expr::Clause {
                field: field @ (Field::Id | Field::Key),
                op: Op::Eq | Op::Ne | Op::In | Op::NotIn,
                values,
            } => {
                let name = if *field == Field::Id { "id" } else { "key" };
                values
                    .iter()
                    .find(|value| !exists(*field, value))
                    .map(|value| JqlError(format!("An issue with key '{value}' does not exist for field '{name}'.")))
            }
            Expr::Clause { .. } => None,
        }
    }
}

fn clause_matches(issue: &SimIssue, field: Field, op: Op, values: &[String], zone: SimZone) -> Result<bool, JqlError> {
    if matches!(field, Field::Updated | Field::Created) {
        let at = if field == Field::Updated { issue.updated } else { issue.created };
        let Some(raw) = values.first() else {
            return Ok(false);
        };
        let bound = parse_date(raw, zone)?;
        return Ok(match op {
            Op::Eq => at == bound,
            Op::Ne => at != bound,
            Op::Gt => at > bound,
            Op::Ge => at >= bound,
            Op::Lt => at < bound,
            Op::Le => at <= bound,
            Op::In | Op::NotIn => return Err(JqlError("IN is not supported for dates".into())),
        });
    }
    let candidates: Vec<String> = match field {
        Field::Project => vec![issue.project.to_ascii_lowercase()],
        Field::Key => vec![issue.key().to_ascii_lowercase()],
        Field::Id => vec![issue.id.to_string()],
        Field::IssueType => vec![issue.issue_type.to_ascii_lowercase()],
        Field::Status => vec![issue.status.to_ascii_lowercase()],
        Field::Labels => issue.labels.iter().map(|l| l.to_ascii_lowercase()).collect(),
        Field::Updated | Field::Created => Vec::new(),
    };
    let wanted: Vec<String> = values.iter().map(|v| v.to_ascii_lowercase()).collect();
    let hit = candidates.iter().any(|c| wanted.contains(c));
    match op {
        Op::Eq | Op::In => Ok(hit),
        Op::Ne | Op::NotIn => Ok(!hit),
        _ if field == Field::Id => {
            let id = issue.id as i64;
            let bound: i64 = wanted.first().and_then(|v| v.parse().ok()).ok_or_else(|| JqlError("bad id".into()))?;
            Ok(match op {
                Op::Gt => id > bound,
                Op::Ge => id >= bound,
                Op::Lt => id < bound,
                _ => id <= bound,
            })
        }
        _ => Err(JqlError(format!("operator not supported for field {field:?}"))),
    }
}

/// One value of an issue's sort tuple.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Int(i64),
    Text(String),
}

/// The issue's sort tuple under `order` (ascending-normalized), ending with the id.
pub fn sort_key(issue: &SimIssue, order: &[(Field, bool)]) -> Vec<(SortValue, bool)> {
    let mut key = Vec::new();
    for (field, asc) in order {
        match field {
            Field::Updated => key.push((SortValue::Int(issue.updated.timestamp_millis()), *asc)),
            Field::Created => key.push((SortValue::Int(issue.created.timestamp_millis()), *asc)),
            Field::Key => {
                key.push((SortValue::Text(issue.project.clone()), *asc));
                key.push((SortValue::Int(issue.number as i64), *asc));
            }
            Field::Project => key.push((SortValue::Text(issue.project.clone()), *asc)),
            Field::IssueType => key.push((SortValue::Text(issue.issue_type.clone()), *asc)),
            Field::Status => key.push((SortValue::Text(issue.status.clone()), *asc)),
            Field::Id | Field::Labels => key.push((SortValue::Int(issue.id as i64), *asc)),
        }
    }
    key.push((SortValue::Int(issue.id as i64), true));
    key
}

/// Compares two sort tuples made by `sort_key` with the same order.
pub fn compare(a: &[(SortValue, bool)], b: &[(SortValue, bool)]) -> Ordering {
    for ((va, asc), (vb, _)) in a.iter().zip(b) {
        let ordering = if *asc { va.cmp(vb) } else { vb.cmp(va) };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_connector_queries() {
        let q = parse("(project in (PROD, SUP)) AND updated >= \"2024-06-01 10:04\" ORDER BY updated ASC, key ASC")
            .expect("parses");
        assert_eq!(q.order, vec![(Field::Updated, true), (Field::Key, true)]);
        assert!(matches!(q.filter, Some(Expr::And(_, _))));
        let q = parse("(project = PROD) AND id in (10001, 10002)").expect("parses");
        assert!(q.order.is_empty());
        assert!(parse("project = PROD OR NOT (labels = x AND key != PROD-1)").is_ok());
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert!(parse("assignee = currentUser()").is_err());
        assert!(parse("project = \"PROD").is_err());
        assert!(parse("project in PROD").is_err());
        assert!(parse("project = PROD ORDER BY").is_err());
        assert!(parse_date("-5d", SimZone::Utc).is_err());
        assert!(parse_date("2024-06-01T10:00:00Z", SimZone::Utc).is_err());
    }
}

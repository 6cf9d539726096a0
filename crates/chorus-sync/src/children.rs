//! Child records of an item: Jira comments, Zendesk comments, Slack thread replies.
//!
//! Every connector turns them into one `Vec<chorus_core::Comment>` with the same rules,
//! kept here once: `CommentThread` merges comments by id (a later version of a comment
//! replaces the earlier one, so re-reading a page or merging news into a stored item
//! never duplicates), orders them oldest first (ties by id, numeric ids by value), keeps
//! the newest `max` when there are more, and normalizes each body with `tidy_text`.
//! Invariant: what `CommentThread::finish` returns holds each id once, in that order,
//! at most `max` long, whatever order and repeats it was fed; building it costs
//! O(n log n) in the comments fed.

use std::cmp::Ordering;
use std::collections::HashMap;

use chorus_core::Comment;

/// How many comments an item keeps by default: the newest this many (Jira reads at
/// most 20 pages of 100). Far beyond a normal ticket or thread; a runaway one (a bot
/// posting every minute) stays bounded.
pub const MAX_COMMENTS: usize = 2000;

/// The comments of one item, gathered from any number of reads.
#[derive(Debug, Clone)]
pub struct CommentThread {
    by_id: HashMap<String, Comment>,
    max: usize,
}

impl Default for CommentThread {
    fn default() -> Self {
        Self::new(MAX_COMMENTS)
    }
}

impl CommentThread {
    /// An empty thread that keeps the newest `max` comments.
    pub fn new(max: usize) -> Self {
        Self { by_id: HashMap::new(), max }
    }

    /// A thread seeded with what the store holds for the item.
    pub fn from_stored(stored: &[Comment], max: usize) -> Self {
        let mut thread = Self::new(max);
        thread.extend(stored.iter().cloned());
        thread
    }

    /// Adds a comment; one with an id already held replaces it (the newer read wins).
    /// A comment without an id is left out: it could not be merged later.
    pub fn push(&mut self, mut comment: Comment) {
        if comment.external_id.trim().is_empty() {
            return;
        }
        comment.body = tidy_text(&comment.body);
        self.by_id.insert(comment.external_id.clone(), comment);
    }

    pub fn extend(&mut self, comments: impl IntoIterator<Item = Comment>) {
        for comment in comments {
            self.push(comment);
        }
    }

    /// The comments, oldest first, the newest `max` of them.
    pub fn finish(self) -> Vec<Comment> {
        let mut comments: Vec<Comment> = self.by_id.into_values().collect();
        comments.sort_by(comment_order);
        let excess = comments.len().saturating_sub(self.max);
        comments.drain(..excess);
        comments
    }
}

/// `stored` and `new` merged by id, ordered and capped at `MAX_COMMENTS`.
pub fn merge_comments(stored: &[Comment], new: impl IntoIterator<Item = Comment>) -> Vec<Comment> {
    let mut thread = CommentThread::from_stored(stored, MAX_COMMENTS);
    thread.extend(new);
    thread.finish()
}

/// A list read in one go, deduplicated by id, ordered and capped at `MAX_COMMENTS`.
pub fn comment_list(comments: impl IntoIterator<Item = Comment>) -> Vec<Comment> {
    let mut thread = CommentThread::default();
    thread.extend(comments);
    thread.finish()
}

/// Oldest first; at one instant by id, numeric ids by value (`9` before `10`).
fn comment_order(a: &Comment, b: &Comment) -> Ordering {
    a.created_at.cmp(&b.created_at).then_with(|| id_order(&a.external_id, &b.external_id))
}

fn id_order(a: &str, b: &str) -> Ordering {
    let numeric = |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    match (numeric(a), numeric(b)) {
        (true, true) => {
            let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
            a.len().cmp(&b.len()).then_with(|| a.cmp(b))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

/// Plain text as every connector stores it: trailing spaces trimmed on each line, at
/// most one blank line in a row, no leading or trailing whitespace. Linear in the text.
pub fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_before = false;
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() {
            blank_before = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_before {
                out.push('\n');
            }
        }
        blank_before = false;
        out.push_str(line);
    }
    // Leading whitespace of the first line goes too (the text's own start).
    match out.find(|c: char| !c.is_whitespace()) {
        Some(0) | None => out,
        Some(start) => out[start..].to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use chorus_core::Person;
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).single().unwrap_or(DateTime::UNIX_EPOCH)
    }

    fn comment(id: &str, body: &str, seconds: i64) -> Comment {
        Comment {
            external_id: id.into(),
            author: Person::default(),
            body: body.into(),
            public: true,
            created_at: at(seconds),
        }
    }

    fn ids(comments: &[Comment]) -> Vec<&str> {
        comments.iter().map(|c| c.external_id.as_str()).collect()
    }

    #[test]
    fn news_merge_into_stored_comments_by_id() {
        let stored = [comment("1", "first", 10), comment("2", "second", 20)];
        let merged = merge_comments(&stored, [comment("2", "second, edited", 20), comment("3", "third", 30)]);
        assert_eq!(ids(&merged), ["1", "2", "3"]);
        assert_eq!(merged[1].body, "second, edited", "the newer read of a comment wins");
        assert_eq!(merge_comments(&stored, []), stored, "nothing new keeps what is stored");
    }

    #[test]
    fn comments_are_ordered_by_time_then_by_id_numerically() {
        let list = comment_list([
            comment("10", "b", 5),
            comment("9", "a", 5),
            comment("1700000000.000200", "slack", 5),
            comment("2", "late", 6),
            comment("3", "early", 1),
        ]);
        assert_eq!(ids(&list), ["3", "9", "10", "1700000000.000200", "2"]);
    }

    #[test]
    fn the_cap_keeps_the_newest() {
        let mut thread = CommentThread::new(2);
        thread.extend((0..5).rev().map(|n| comment(&n.to_string(), "x", n)));
        assert_eq!(ids(&thread.finish()), ["3", "4"]);
    }

    #[test]
    fn a_comment_without_an_id_is_left_out_and_bodies_are_tidied() {
        let list = comment_list([comment(" ", "lost", 1), comment("1", "  \n hello  \n\n\n\nworld \n", 2)]);
        assert_eq!(ids(&list), ["1"]);
        assert_eq!(list[0].body, "hello\n\nworld");
    }

    #[test]
    fn tidy_text_trims_lines_and_keeps_one_blank_line() {
        assert_eq!(tidy_text(""), "");
        assert_eq!(tidy_text(" \n\t\n"), "");
        assert_eq!(tidy_text("a  \n\n\n b\nc"), "a\n\n b\nc");
        assert_eq!(tidy_text("\n\n  indented\n"), "indented");
        assert_eq!(tidy_text("a\r\n\r\nb"), "a\n\nb");
    }

    #[test]
    fn tidy_text_is_linear_in_a_hostile_input() {
        let hostile = "x \n\n\n".repeat(200_000);
        let start = std::time::Instant::now();
        let tidied = tidy_text(&hostile);
        assert!(start.elapsed() < std::time::Duration::from_secs(2), "{:?}", start.elapsed());
        assert_eq!(tidied.len(), "x\n\n".len() * 200_000 - 2);
    }
}

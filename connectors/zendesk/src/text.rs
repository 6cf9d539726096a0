//! The plain-text writer that the HTML and Markdown converters share.
//!
//! Both converters walk their input once and tell a `Writer` what they meet: words,
//! verbatim text, line and paragraph breaks. The writer decides how breaks and spaces
//! meet: paragraphs are separated by one blank line, a run of breaks never makes more
//! than one, and spaces never pile up. Invariant: every method costs time linear in the
//! text it is given (a pending break looks back at most two characters), so a whole
//! conversion stays linear in its input; `finish` never returns leading or trailing
//! whitespace nor two blank lines in a row. This module imports no other module of the
//! crate, so `html.rs` and `markdown.rs` depend on it and never on each other.

/// Accumulates the text of one body.
pub(crate) struct Writer {
    out: String,
    pending_space: bool,
    pending_breaks: usize,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Self { out: String::new(), pending_space: false, pending_breaks: 0 }
    }

    /// Ends the current line (`count` 1) or paragraph (`count` 2) before the next text.
    pub(crate) fn line_break(&mut self, count: usize) {
        self.pending_breaks = self.pending_breaks.max(count);
        self.pending_space = false;
    }

    /// A space before the next text, unless a break or a space already separates them.
    pub(crate) fn space(&mut self) {
        self.pending_space = true;
    }

    fn flush_pending(&mut self) {
        if self.out.is_empty() {
            self.pending_breaks = 0;
            self.pending_space = false;
            return;
        }
        if self.pending_breaks > 0 {
            while self.out.ends_with(' ') {
                self.out.pop();
            }
            let existing = self.out.chars().rev().take(2).take_while(|c| *c == '\n').count();
            for _ in existing..self.pending_breaks.min(2) {
                self.out.push('\n');
            }
        } else if self.pending_space && !self.out.ends_with([' ', '\n']) {
            self.out.push(' ');
        }
        self.pending_breaks = 0;
        self.pending_space = false;
    }

    /// Text with its whitespace collapsed to single spaces (HTML outside `<pre>`).
    pub(crate) fn text(&mut self, text: &str) {
        for (index, word) in text.split(char::is_whitespace).enumerate() {
            if index > 0 {
                self.pending_space = true;
            }
            if word.is_empty() {
                continue;
            }
            self.flush_pending();
            self.out.push_str(word);
        }
    }

    /// Text kept as it is, line breaks included (`<pre>`, code blocks, list markers,
    /// link targets, Markdown text).
    pub(crate) fn verbatim(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        self.flush_pending();
        self.out.push_str(text);
    }

    /// Where the text written so far ends; `since` reads what was written after it.
    pub(crate) fn mark(&self) -> usize {
        self.out.len()
    }

    /// The text written since `mark`, trimmed (empty if `mark` is not a mark of this writer).
    pub(crate) fn since(&self, mark: usize) -> &str {
        self.out.get(mark..).unwrap_or("").trim()
    }

    /// Appends ` (url)` after a link's text when the URL adds something to it. The
    /// target stays on the line of the text; a space or break that was due after the
    /// text comes after the target.
    pub(crate) fn link_end(&mut self, href: &str, mark: usize) {
        let Some(target) = link_target(href, self.since(mark)) else {
            return;
        };
        let target = format!("({target})");
        let (space, breaks) = (self.pending_space, self.pending_breaks);
        self.pending_space = true;
        self.pending_breaks = 0;
        self.verbatim(&target);
        self.pending_space = space;
        self.pending_breaks = breaks;
    }

    pub(crate) fn finish(self) -> String {
        tidy(&self.out)
    }
}

/// Trims trailing spaces on every line, keeps at most one blank line, trims the ends:
/// the one normalization every connector's text goes through.
pub(crate) use chorus_sync::children::tidy_text as tidy;

/// The URL to print after a link's text, or `None` when it would add nothing: no
/// target, an anchor on the same page, a script, or a target the text already shows.
pub(crate) fn link_target<'a>(href: &'a str, text: &str) -> Option<&'a str> {
    let href = href.trim();
    let scheme_is_script = href.get(..11).is_some_and(|scheme| scheme.eq_ignore_ascii_case("javascript:"));
    if href.is_empty() || href.starts_with('#') || scheme_is_script {
        return None;
    }
    let shown = href.strip_prefix("mailto:").unwrap_or(href);
    (text != href && text != shown).then_some(shown)
}

/// Checks that a converter takes time linear in its input, for the hostile-input tests
/// of `html.rs` and `markdown.rs`.
#[cfg(test)]
pub(crate) mod linear {
    use std::time::{Duration, Instant};

    /// The largest input: 1 MiB.
    pub(crate) const LARGE: usize = 1 << 20;
    /// Generous for a debug build on a loaded machine; a quadratic path on 1 MiB of
    /// hostile input takes minutes.
    const ABSOLUTE_BOUND: Duration = Duration::from_secs(5);
    /// Linear work grows 4× from 256 KiB to 1 MiB, quadratic work 16×; 8× is halfway
    /// (geometrically) and absorbs cache effects and a loaded 2-core machine.
    const MAX_RATIO: u32 = 8;
    /// Times below this are noise, not a base for a ratio.
    const FLOOR: Duration = Duration::from_millis(5);

    /// `pattern` repeated to about `len` bytes.
    pub(crate) fn repeat(pattern: &str, len: usize) -> String {
        pattern.repeat(len / pattern.len().max(1))
    }

    /// The fastest of three conversions of each input, taken in turn so that a burst
    /// of load on the machine slows both sizes alike.
    fn fastest(small: &str, large: &str, convert: fn(&str) -> String) -> (Duration, Duration) {
        let time = |input: &str| {
            let started = Instant::now();
            std::hint::black_box(convert(std::hint::black_box(input)));
            started.elapsed()
        };
        (0..3).fold((Duration::MAX, Duration::MAX), |(small_best, large_best), _| {
            (small_best.min(time(small)), large_best.min(time(large)))
        })
    }

    /// Asserts that `convert` on `make(1 MiB)` takes under `ABSOLUTE_BOUND` and at most
    /// `MAX_RATIO` times as long as on `make(256 KiB)`. A ratio spoiled by load on the
    /// machine is measured again (three attempts); a quadratic path fails every one.
    pub(crate) fn assert_linear(name: &str, make: impl Fn(usize) -> String, convert: fn(&str) -> String) {
        let small_input = make(LARGE / 4);
        let large_input = make(LARGE);
        let mut attempts = Vec::new();
        for _ in 0..3 {
            let (small, large) = fastest(&small_input, &large_input, convert);
            assert!(large < ABSOLUTE_BOUND, "{name}: 1 MiB took {large:?}");
            if large <= small.max(FLOOR) * MAX_RATIO {
                return;
            }
            attempts.push(format!("256 KiB {small:?}, 1 MiB {large:?}"));
        }
        panic!("{name}: more than {MAX_RATIO}× the time for 4× the input: {}", attempts.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaks_and_spaces_never_pile_up() {
        let mut writer = Writer::new();
        writer.line_break(2);
        writer.text("  first   words ");
        writer.line_break(1);
        writer.line_break(2);
        writer.line_break(2);
        writer.verbatim("second\n");
        writer.line_break(1);
        writer.space();
        writer.text("third");
        assert_eq!(writer.finish(), "first words\n\nsecond\nthird");
    }

    #[test]
    fn link_targets_are_shown_only_when_they_add_something() {
        assert_eq!(link_target(" https://a.example ", "docs"), Some("https://a.example"));
        assert_eq!(link_target("https://a.example", "https://a.example"), None);
        assert_eq!(link_target("mailto:ops@acme.com", "ops@acme.com"), None);
        assert_eq!(link_target("mailto:ops@acme.com", "write us"), Some("ops@acme.com"));
        assert_eq!(link_target("#top", "top"), None);
        assert_eq!(link_target("JavaScript:alert(1)", "x"), None);
        assert_eq!(link_target("", "x"), None);
    }
}

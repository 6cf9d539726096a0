//! Ticket and comment bodies (HTML, or Markdown via `markdown.rs`) as readable plain text.
//!
//! Zendesk stores comments as HTML (`html_body`) and descriptions as plain text that
//! agents and API clients often write in Markdown. Both become text a person can read
//! in a terminal or a search snippet: paragraphs separated by a blank line, line
//! breaks kept, list items on their own lines with `- ` or `1. `, links as
//! `text (url)`, entities decoded, and nothing of `<script>`/`<style>` kept.
//! Invariant: the output holds no complete tag, never starts or ends with whitespace,
//! and never has more than one blank line in a row. Neither function can fail: bad
//! markup degrades to its text.

pub use crate::markdown::markdown_to_text;

/// Converts a body that may be HTML or Markdown (or plain text) to plain text.
pub fn body_to_text(raw: &str) -> String {
    if looks_like_html(raw) {
        html_to_text(raw)
    } else {
        markdown_to_text(raw)
    }
}

const HTML_HINTS: &[&str] = &[
    "<p",
    "<div",
    "<br",
    "<a ",
    "<ul",
    "<ol",
    "<li",
    "<span",
    "<b>",
    "<strong",
    "<i>",
    "<em",
    "<h1",
    "<h2",
    "<h3",
    "<h4",
    "<table",
    "<img",
    "<pre",
    "<code",
    "<blockquote",
    "<html",
    "<body",
    "<script",
    "<style",
    "</",
];

/// Whether the text contains markup we should parse as HTML.
pub fn looks_like_html(raw: &str) -> bool {
    let lower = raw.to_ascii_lowercase();
    HTML_HINTS.iter().any(|hint| lower.contains(hint))
}

/// Elements whose content is never text.
const SKIPPED: &[&str] = &["script", "style", "head", "template", "noscript", "svg", "iframe"];
/// Elements that start and end a paragraph.
const PARAGRAPHS: &[&str] =
    &["p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "dl", "figure", "hr"];
/// Elements that start and end a line.
const LINES: &[&str] = &["div", "tr", "li", "dt", "dd", "section", "article", "header", "footer", "main", "nav"];

struct Writer {
    out: String,
    pending_space: bool,
    pending_breaks: usize,
}

impl Writer {
    fn new() -> Self {
        Self { out: String::new(), pending_space: false, pending_breaks: 0 }
    }

    fn line_break(&mut self, count: usize) {
        self.pending_breaks = self.pending_breaks.max(count);
        self.pending_space = false;
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
            let existing = self.out.chars().rev().take_while(|c| *c == '\n').count();
            for _ in existing..self.pending_breaks.min(2) {
                self.out.push('\n');
            }
        } else if self.pending_space && !self.out.ends_with([' ', '\n']) {
            self.out.push(' ');
        }
        self.pending_breaks = 0;
        self.pending_space = false;
    }

    /// Text with whitespace collapsed (outside `<pre>`).
    fn text(&mut self, text: &str) {
        for (index, word) in text.split(|c: char| c.is_whitespace()).enumerate() {
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

    /// Text kept verbatim (inside `<pre>`), line breaks included.
    fn verbatim(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        self.flush_pending();
        self.out.push_str(text);
    }

    /// Literal text that is not collapsed (list markers, link targets).
    fn raw(&mut self, text: &str) {
        self.flush_pending();
        self.out.push_str(text);
    }

    fn finish(self) -> String {
        tidy(&self.out)
    }
}

/// Trims trailing spaces on every line, keeps at most one blank line, trims the ends.
pub(crate) fn tidy(text: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if line.trim().is_empty() && lines.last().is_some_and(|last| last.is_empty()) {
            continue;
        }
        lines.push(if line.trim().is_empty() { "" } else { line });
    }
    lines.join("\n").trim().to_owned()
}

struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    attrs: Vec<(String, String)>,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// Parses the inside of `<...>` (without the brackets).
fn parse_tag(inner: &str) -> Tag {
    let trimmed = inner.trim();
    let (closing, rest) = match trimmed.strip_prefix('/') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, trimmed),
    };
    let self_closing = rest.ends_with('/');
    let rest = rest.trim_end_matches('/');
    let name_end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    let name = rest[..name_end].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut chars = rest[name_end..].chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace() && *c != '=')).collect();
        if key.is_empty() {
            break;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            match chars.peek().copied() {
                Some(quote @ ('"' | '\'')) => {
                    chars.next();
                    value = std::iter::from_fn(|| chars.next_if(|c| *c != quote)).collect();
                    chars.next();
                }
                _ => value = std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())).collect(),
            }
        }
        attrs.push((key.to_ascii_lowercase(), decode_entities(&value)));
    }
    Tag { name, closing, self_closing, attrs }
}

/// Finds the `>` that ends a tag starting at `from`, skipping quoted attribute values.
fn tag_end(html: &str, from: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (offset, c) in html[from..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(from + offset),
            (None, _) => {}
        }
    }
    None
}

enum ListKind {
    Bullet,
    Ordered(u32),
}

/// Open lists kept on the stack; deeper (hostile, unclosed) lists are only counted.
const MAX_LIST_DEPTH: usize = 64;
/// Nesting levels shown as indentation, as for Markdown bullets.
const MAX_LIST_INDENT: usize = 8;

/// The open lists: at most `MAX_LIST_DEPTH` kept, the rest counted so closes balance.
#[derive(Default)]
struct Lists {
    stack: Vec<ListKind>,
    overflow: usize,
}

impl Lists {
    fn is_empty(&self) -> bool {
        self.stack.is_empty()
    }

    fn push(&mut self, kind: ListKind) {
        if self.stack.len() < MAX_LIST_DEPTH {
            self.stack.push(kind);
        } else {
            self.overflow = self.overflow.saturating_add(1);
        }
    }

    fn pop(&mut self) {
        if self.overflow > 0 {
            self.overflow -= 1;
        } else {
            self.stack.pop();
        }
    }
}

/// Converts HTML to plain text (see the module docs for the rules).
pub fn html_to_text(html: &str) -> String {
    let mut writer = Writer::new();
    let mut lists = Lists::default();
    let mut unclosed: Vec<String> = Vec::new();
    let mut links: Vec<(Option<String>, usize)> = Vec::new();
    let mut pre_depth = 0usize;
    let mut pos = 0usize;
    while pos < html.len() {
        let Some(lt) = html[pos..].find('<').map(|i| pos + i) else {
            emit_text(&mut writer, &html[pos..], pre_depth > 0);
            break;
        };
        emit_text(&mut writer, &html[pos..lt], pre_depth > 0);
        let after = &html[lt + 1..];
        if after.starts_with("!--") {
            pos = html[lt..].find("-->").map_or(html.len(), |i| lt + i + 3);
            continue;
        }
        let starts_tag = after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!' || c == '?');
        let Some(gt) = starts_tag.then(|| tag_end(html, lt + 1)).flatten() else {
            emit_text(&mut writer, "<", pre_depth > 0);
            pos = lt + 1;
            continue;
        };
        let tag = parse_tag(&html[lt + 1..gt]);
        pos = gt + 1;
        if tag.name.starts_with('!') || tag.name.starts_with('?') {
            continue;
        }
        if SKIPPED.contains(&tag.name.as_str()) && !tag.closing && !tag.self_closing {
            pos = skip_element(html, pos, &tag.name, &mut unclosed);
            continue;
        }
        handle_tag(&mut writer, &tag, &mut lists, &mut links, &mut pre_depth);
    }
    writer.finish()
}

fn emit_text(writer: &mut Writer, text: &str, preformatted: bool) {
    let decoded = decode_entities(text);
    if preformatted {
        writer.verbatim(&decoded);
    } else {
        writer.text(&decoded);
    }
}

/// Skips the content of a skipped element whose start tag ends at `from`: returns the
/// position after `</name>`; for `head` (whose end tag is optional) the position of an
/// earlier `<body`. Without either only the start tag is skipped (returns `from`), so
/// the rest of the document is not lost. `unclosed` remembers names without an end tag
/// after some position, which keeps repeated unclosed tags linear.
fn skip_element(html: &str, from: usize, name: &str, unclosed: &mut Vec<String>) -> usize {
    if unclosed.iter().any(|n| n == name) {
        return from;
    }
    let close = format!("</{name}");
    let needles: &[&str] = if name == "head" { &[close.as_str(), "<body"] } else { &[close.as_str()] };
    match find_ascii_ci(html, from, needles) {
        Some((at, 0)) => tag_end(html, at).map_or(from, |gt| gt + 1),
        Some((at, _)) => at,
        None => {
            unclosed.push(name.to_owned());
            from
        }
    }
}

/// The first position at or after `from` where one of the (ASCII, lowercase) needles
/// starts, compared case-insensitively, with the index of that needle.
fn find_ascii_ci(html: &str, from: usize, needles: &[&str]) -> Option<(usize, usize)> {
    let bytes = html.as_bytes();
    (from..bytes.len()).find_map(|at| {
        let rest = &bytes[at..];
        needles
            .iter()
            .position(|needle| {
                rest.len() >= needle.len() && rest[..needle.len()].eq_ignore_ascii_case(needle.as_bytes())
            })
            .map(|index| (at, index))
    })
}

fn handle_tag(
    writer: &mut Writer,
    tag: &Tag,
    lists: &mut Lists,
    links: &mut Vec<(Option<String>, usize)>,
    pre_depth: &mut usize,
) {
    let name = tag.name.as_str();
    match (name, tag.closing) {
        ("br", _) => writer.line_break(1),
        ("ul", false) => {
            writer.line_break(if lists.is_empty() { 2 } else { 1 });
            lists.push(ListKind::Bullet);
        }
        ("ol", false) => {
            writer.line_break(if lists.is_empty() { 2 } else { 1 });
            let start = tag.attr("start").and_then(|s| s.trim().parse().ok()).unwrap_or(1);
            lists.push(ListKind::Ordered(start));
        }
        ("ul" | "ol", true) => {
            lists.pop();
            writer.line_break(if lists.is_empty() { 2 } else { 1 });
        }
        ("li", false) => {
            writer.line_break(1);
            let indent = "  ".repeat(lists.stack.len().saturating_sub(1).min(MAX_LIST_INDENT));
            let marker = match lists.stack.last_mut() {
                Some(ListKind::Ordered(n)) => {
                    let marker = format!("{indent}{n}. ");
                    *n = n.saturating_add(1);
                    marker
                }
                _ => format!("{indent}- "),
            };
            writer.raw(&marker);
        }
        ("a", false) => links.push((tag.attr("href").map(str::to_owned), writer.out.len())),
        ("a", true) => {
            if let Some((Some(href), start)) = links.pop() {
                let text = writer.out.get(start..).unwrap_or("").trim().to_owned();
                if let Some(target) = link_target(&href, &text) {
                    writer.raw(&format!(" ({target})"));
                }
            }
        }
        ("img", _) => {
            if let Some(alt) = tag.attr("alt").filter(|alt| !alt.trim().is_empty()) {
                writer.text(&format!("[{}]", alt.trim()));
            }
        }
        ("td" | "th", false) => writer.pending_space = true,
        ("pre", closing) => {
            if closing {
                *pre_depth = pre_depth.saturating_sub(1);
            } else {
                *pre_depth += 1;
            }
            writer.line_break(2);
        }
        _ if PARAGRAPHS.contains(&name) => writer.line_break(2),
        _ if LINES.contains(&name) => writer.line_break(1),
        _ => {}
    }
}

/// The URL to print after a link's text, or `None` when it would add nothing.
pub(crate) fn link_target(href: &str, text: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') || href.to_ascii_lowercase().starts_with("javascript:") {
        return None;
    }
    let shown = href.strip_prefix("mailto:").unwrap_or(href);
    (text != href && text != shown).then(|| shown.to_owned())
}

/// Decodes named (common) and numeric character references; unknown ones stay as-is.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let candidate = &rest[amp + 1..];
        let decoded = candidate.find(';').filter(|end| *end <= 10).and_then(|end| {
            let name = &candidate[..end];
            decode_entity(name).map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &candidate[end + 1..];
            }
            None => {
                out.push('&');
                rest = candidate;
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "bull" => '•',
        "middot" => '·',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "pound" => '£',
        "deg" => '°',
        "times" => '×',
        "rarr" => '→',
        "larr" => '←',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unclosed_lists_cost_linear_output() {
        let levels = 50_000;
        let html = "<ul><li>x".repeat(levels);
        let started = std::time::Instant::now();
        let text = html_to_text(&html);
        // Each item is a line of at most the capped indent, the marker and the text.
        assert!(text.len() <= levels * (2 * MAX_LIST_INDENT + 4), "{} bytes", text.len());
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert!(text.lines().all(|line| line.trim_start() == "- x"));
        // Closes beyond the kept depth still balance: the paragraph after is not indented.
        let deep = format!("{}{}<p>after</p><ul><li>y</li></ul>", "<ul><li>x".repeat(100), "</li></ul>".repeat(100));
        assert!(html_to_text(&deep).ends_with("x\n\nafter\n\n- y"), "{:?}", html_to_text(&deep));
    }

    #[test]
    fn missing_end_tags_of_skipped_elements_lose_no_body() {
        assert_eq!(html_to_text("<html><head><title>T</title><body><p>Hello</p></body></html>"), "Hello");
        assert_eq!(html_to_text("<HEAD><style>p{}</style><BODY>Hi</BODY>"), "Hi");
        assert_eq!(html_to_text("<p>before</p><script>x()<p>after</p>"), "before\n\nx()\n\nafter");
        assert_eq!(html_to_text("<svg><p>a</p><svg><p>b</p>"), "a\n\nb");
        assert_eq!(html_to_text("<script>x()</SCRIPT><p>kept</p>"), "kept");
    }

    #[test]
    fn hostile_ordered_list_start_saturates() {
        let html = format!("<ol start=\"{}\"><li>a</li><li>b</li></ol>", u32::MAX);
        assert_eq!(html_to_text(&html), format!("{m}. a\n{m}. b", m = u32::MAX));
    }

    #[test]
    fn paragraphs_breaks_and_inline_markup() {
        let html = "<p>Hello <strong>team</strong>,</p><p>line one<br>line two<br/>line three</p>";
        assert_eq!(html_to_text(html), "Hello team,\n\nline one\nline two\nline three");
    }

    #[test]
    fn lists_nested_and_ordered() {
        let html = "<p>Steps:</p><ol><li>Open</li><li>Click <em>Run</em><ul><li>twice</li></ul></li></ol><p>Done</p>";
        assert_eq!(html_to_text(html), "Steps:\n\n1. Open\n2. Click Run\n  - twice\n\nDone");
        assert_eq!(html_to_text("<ol start=\"4\"><li>a</li><li>b</li></ol>"), "4. a\n5. b");
    }

    #[test]
    fn links_print_their_target_once() {
        let html = r##"See <a href="https://status.example.com/i/1">the status page</a>, <a href="https://x.example">https://x.example</a>, <a href="mailto:ops@acme.com">ops@acme.com</a> and <a href="#top">top</a>."##;
        assert_eq!(
            html_to_text(html),
            "See the status page (https://status.example.com/i/1), https://x.example, ops@acme.com and top."
        );
    }

    #[test]
    fn entities_are_decoded_and_unknown_ones_kept() {
        assert_eq!(
            html_to_text("<p>R&amp;D &lt;3 &quot;caf&eacute;&quot; &#233;&#x263A;&nbsp;ok &mdash; &bogus;</p>"),
            "R&D <3 \"caf&eacute;\" é☺ ok — &bogus;"
        );
        assert_eq!(decode_entities("AT&T and 5 & 6"), "AT&T and 5 & 6");
    }

    #[test]
    fn scripts_styles_comments_and_head_are_dropped() {
        let html = "<html><head><title>x</title><style>p{color:red}</style></head><body><!-- note --><script>alert('<p>')</script><p>Visible</p><SCRIPT type=\"x\">bad()</SCRIPT></body></html>";
        assert_eq!(html_to_text(html), "Visible");
    }

    #[test]
    fn preformatted_text_keeps_its_lines_and_tables_their_cells() {
        assert_eq!(html_to_text("<p>Log:</p><pre>a  b\n  c</pre><p>end</p>"), "Log:\n\na  b\n  c\n\nend");
        assert_eq!(
            html_to_text("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>"),
            "a b\nc d"
        );
    }

    #[test]
    fn broken_markup_degrades_to_text() {
        assert_eq!(html_to_text("a < b and <p>c"), "a < b and\n\nc");
        assert_eq!(html_to_text("<p>unterminated <a href=\"x"), "unterminated <a href=\"x");
        assert_eq!(html_to_text("<div>\n\n\n</div>"), "");
        assert_eq!(html_to_text("<img alt=\"diagram\" src=\"d.png\"> caption"), "[diagram] caption");
    }

    #[test]
    fn body_detection_picks_the_right_converter() {
        assert_eq!(body_to_text("<p>Hi</p><p>there</p>"), "Hi\n\nthere");
        assert_eq!(body_to_text("plain **bold** text\nsecond line"), "plain bold text\nsecond line");
        assert_eq!(body_to_text("if a < b then"), "if a < b then");
    }
}

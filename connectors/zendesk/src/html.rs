//! HTML bodies (Zendesk's `html_body`) as readable plain text.
//!
//! Comments arrive as HTML and become text a person can read in a terminal or a
//! search snippet: paragraphs separated by a blank line, line breaks kept, list items
//! on their own lines with `- ` or `1. `, links as `text (url)`, table cells separated
//! by a space and rows by a line, entities decoded, and nothing of `<script>`,
//! `<style>`, `<title>`, `<svg>` and the like kept. Invariant: the output holds no
//! complete tag, never starts or ends with whitespace, and never has more than one
//! blank line in a row; the conversion is one pass over `html_lexer`'s tokens, so it is
//! linear in the input, and it cannot fail: bad markup degrades to its text.

use crate::html_lexer::{decode_entities, Lexer, Tag, Token};
use crate::text::Writer;

/// Elements whose content is never text; skipped up to their end tag when they have one.
const SKIPPED: &[&str] = &["script", "style", "title", "template", "noscript", "svg", "iframe"];
/// Elements that start and end a paragraph.
const PARAGRAPHS: &[&str] =
    &["p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "dl", "figure", "hr"];
/// Elements that start and end a line.
const LINES: &[&str] = &["div", "tr", "li", "dt", "dd", "section", "article", "header", "footer", "main", "nav"];

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

/// The state of one conversion besides the text written.
#[derive(Default)]
struct State {
    lists: Lists,
    /// The open link's target and where its text starts. Links do not nest: a new `<a>`
    /// ends the open one first, as browsers do, so this is never more than one.
    link: Option<(String, usize)>,
    pre_depth: usize,
}

/// Converts HTML to plain text (see the module docs for the rules).
pub fn html_to_text(html: &str) -> String {
    let mut writer = Writer::new();
    let mut state = State::default();
    let mut lexer = Lexer::new(html);
    while let Some(token) = lexer.next() {
        match token {
            Token::Text(text) => emit_text(&mut writer, text, state.pre_depth > 0),
            Token::Tag(tag) if !tag.closing && !tag.self_closing && SKIPPED.contains(&tag.name.as_str()) => {
                lexer.skip_element(&tag.name);
            }
            Token::Tag(tag) => handle_tag(&mut writer, &tag, &mut state),
        }
    }
    if let Some((href, start)) = state.link.take() {
        writer.link_end(&href, start);
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

fn handle_tag(writer: &mut Writer, tag: &Tag, state: &mut State) {
    let lists = &mut state.lists;
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
            writer.verbatim(&marker);
        }
        ("a", closing) => {
            if let Some((href, start)) = state.link.take() {
                writer.link_end(&href, start);
            }
            if let Some(href) = tag.attr("href").filter(|_| !closing) {
                state.link = Some((href.to_owned(), writer.mark()));
            }
        }
        ("img", _) => {
            if let Some(alt) = tag.attr("alt").filter(|alt| !alt.trim().is_empty()) {
                writer.text(&format!("[{}]", alt.trim()));
            }
        }
        ("td" | "th", false) => writer.space(),
        ("pre", closing) => {
            if closing {
                state.pre_depth = state.pre_depth.saturating_sub(1);
            } else {
                state.pre_depth += 1;
            }
            writer.line_break(2);
        }
        _ if PARAGRAPHS.contains(&name) => writer.line_break(2),
        _ if LINES.contains(&name) => writer.line_break(1),
        _ => {}
    }
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
            "R&D <3 \"café\" é☺ ok — &bogus;"
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
    fn links_do_not_nest() {
        let html = r#"<a href="https://a.example/1">one <a href="https://a.example/2">two</a> three</a> <a>bare</a>"#;
        assert_eq!(html_to_text(html), "one (https://a.example/1) two (https://a.example/2) three bare");
        assert_eq!(html_to_text(r#"<p>cut <a href="https://a.example">off"#), "cut off (https://a.example)");
    }

    /// `<p a0 a1 a2 …>`: one tag with ever more distinct attributes (html5ever checks
    /// each new attribute against all the tag's earlier ones).
    fn many_attributes(len: usize) -> String {
        let mut html = String::from("<p");
        let mut index = 0;
        while html.len() < len {
            html.push_str(&format!(" a{index}"));
            index += 1;
        }
        html + ">x"
    }

    #[test]
    fn hostile_html_converts_in_linear_time() {
        use crate::text::linear::{assert_linear, repeat};
        assert_linear("`<` without `>`", |len| repeat("<", len), html_to_text);
        assert_linear("`&` without `;`", |len| repeat("&", len), html_to_text);
        assert_linear("`<a` repeated", |len| repeat("<a", len), html_to_text);
        assert_linear("`&#` repeated", |len| repeat("&#", len), html_to_text);
        assert_linear("`[` without `]`", |len| repeat("[", len), html_to_text);
        assert_linear("`<div>` nested", |len| repeat("<div>", len), html_to_text);
        assert_linear("`<a href=x>` nested", |len| repeat("<a href=x>y", len), html_to_text);
        assert_linear("`<a b='` quotes", |len| repeat("<a b='", len), html_to_text);
        assert_linear("`<script>` unclosed", |len| repeat("<script>", len) + "</script", html_to_text);
        assert_linear("`<!--` unclosed", |len| repeat("a<!-", len) + "<!--", html_to_text);
        assert_linear("`<!x` unclosed", |len| repeat("<!x", len), html_to_text);
        assert_linear("distinct attributes", many_attributes, html_to_text);
    }
}

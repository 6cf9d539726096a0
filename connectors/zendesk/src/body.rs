//! Which converter a ticket or comment body takes: HTML (`html.rs`) or Markdown
//! (`markdown.rs`, which plain text passes through unchanged but for its whitespace).
//!
//! Zendesk stores comments as HTML (`html_body`) and descriptions as plain text that
//! agents and API clients often write in Markdown. Invariant: the choice is made on
//! the whole body, in one linear pass, and both converters are linear in their input,
//! so a body of any shape converts in time proportional to its length.

use crate::html::html_to_text;
use crate::markdown::markdown_to_text;

/// Converts a body that may be HTML or Markdown (or plain text) to plain text.
pub fn body_to_text(raw: &str) -> String {
    if looks_like_html(raw) {
        html_to_text(raw)
    } else {
        markdown_to_text(raw)
    }
}

/// Tags whose presence makes a body HTML.
const HTML_HINTS: &[&str] = &[
    "p",
    "div",
    "br",
    "a",
    "ul",
    "ol",
    "li",
    "span",
    "b",
    "strong",
    "i",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "table",
    "img",
    "pre",
    "code",
    "blockquote",
    "html",
    "body",
    "script",
    "style",
];

/// Whether the text contains markup to parse as HTML: an end tag (`</`) or the start
/// of one of `HTML_HINTS` (`<p>`, `<p class=…>`, `<br/>`), in any case.
pub fn looks_like_html(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    raw.match_indices('<').any(|(at, _)| {
        let rest = &bytes[at + 1..];
        if rest.first() == Some(&b'/') {
            return true;
        }
        HTML_HINTS.iter().any(|hint| {
            let after = rest.get(hint.len()).copied();
            rest.len() >= hint.len()
                && rest[..hint.len()].eq_ignore_ascii_case(hint.as_bytes())
                && after.is_none_or(|b| b.is_ascii_whitespace() || b == b'>' || b == b'/')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_detection_picks_the_right_converter() {
        assert_eq!(body_to_text("<p>Hi</p><p>there</p>"), "Hi\n\nthere");
        assert_eq!(body_to_text("<P CLASS=x>Hi<BR/>there"), "Hi\nthere");
        assert_eq!(body_to_text("plain **bold** text\nsecond line"), "plain bold text\nsecond line");
        assert_eq!(body_to_text("if a < b then"), "if a < b then");
        assert_eq!(
            body_to_text("use <placeholder> and <pre-release> builds"),
            "use <placeholder> and <pre-release> builds"
        );
    }

    #[test]
    fn hostile_bodies_convert_in_linear_time() {
        use crate::text::linear::{assert_linear, repeat};
        assert_linear("`<` repeated", |len| repeat("<", len), body_to_text);
        assert_linear("`<b` repeated", |len| repeat("<b", len), body_to_text);
        assert_linear("`</` repeated", |len| repeat("</", len), body_to_text);
    }
}

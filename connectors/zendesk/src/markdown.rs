//! Markdown bodies as readable plain text.
//!
//! Ticket descriptions are plain text that agents and API clients often write in
//! Markdown. Headings, emphasis, code spans and quote markers are dropped, bullets
//! become `- `, `[text](url)` becomes `text (url)`, images keep their alt text, fenced
//! code is kept verbatim and entities are decoded. Invariant: like `html_to_text`, the
//! output has no leading or trailing whitespace and never two blank lines in a row.

use crate::html::{decode_entities, link_target, tidy};

/// Converts Markdown (as Zendesk agents and API clients write it) to plain text.
pub fn markdown_to_text(markdown: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        out.push_str(&markdown_line(line));
        out.push('\n');
    }
    tidy(&out)
}

fn markdown_line(line: &str) -> String {
    let indent_width = line.len() - line.trim_start().len();
    let mut rest = line.trim();
    if is_rule(rest) {
        return String::new();
    }
    while let Some(quoted) = rest.strip_prefix('>') {
        rest = quoted.trim_start();
    }
    let heading = rest.trim_start_matches('#');
    if heading.len() < rest.len() && rest.len() - heading.len() <= 6 && (heading.is_empty() || heading.starts_with(' '))
    {
        rest = heading.trim();
    }
    let indent = " ".repeat(indent_width.min(8) / 2 * 2);
    for bullet in ["- ", "* ", "+ "] {
        if let Some(item) = rest.strip_prefix(bullet) {
            return format!("{indent}- {}", markdown_inline(item.trim_start()));
        }
    }
    if rest.is_empty() {
        return String::new();
    }
    format!("{}{}", if starts_ordered_item(rest) { indent.as_str() } else { "" }, markdown_inline(rest))
}

fn is_rule(line: &str) -> bool {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    compact.len() >= 3 && ["-", "*", "_"].iter().any(|mark| compact.chars().all(|c| c.to_string() == *mark))
}

fn starts_ordered_item(line: &str) -> bool {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && line[digits..].starts_with(". ")
}

/// Inline Markdown: links, images, autolinks, emphasis, code spans and escapes.
fn markdown_inline(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() && chars[i + 1].is_ascii_punctuation() => {
                out.push(chars[i + 1]);
                i += 2;
            }
            '!' if chars.get(i + 1) == Some(&'[') => match parse_link(&chars, i + 1) {
                Some((alt, _, end)) => {
                    if !alt.trim().is_empty() {
                        out.push_str(&format!("[{}]", alt.trim()));
                    }
                    i = end;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            },
            '[' => match parse_link(&chars, i) {
                Some((label, url, end)) => {
                    let label = markdown_inline(&label);
                    out.push_str(&label);
                    if let Some(target) = link_target(&url, &label) {
                        out.push_str(&format!(" ({target})"));
                    }
                    i = end;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            },
            '<' => {
                let close = chars[i..].iter().position(|c| *c == '>').map(|p| i + p);
                let inner: Option<String> = close.map(|end| chars[i + 1..end].iter().collect());
                match (close, inner) {
                    (Some(end), Some(url))
                        if url.starts_with("http://") || url.starts_with("https://") || url.starts_with("mailto:") =>
                    {
                        out.push_str(url.strip_prefix("mailto:").unwrap_or(&url));
                        i = end + 1;
                    }
                    _ => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            '*' | '`' | '~' => i += 1,
            '_' => {
                let word_inside = i > 0
                    && chars[i - 1].is_alphanumeric()
                    && chars.get(i + 1).is_some_and(|next| next.is_alphanumeric());
                if word_inside {
                    out.push(c);
                }
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    decode_entities(&out)
}

/// Parses `[label](url)` at `open`; returns the label, url and the index after it.
fn parse_link(chars: &[char], open: usize) -> Option<(String, String, usize)> {
    let mut depth = 0usize;
    let mut close = None;
    for (offset, c) in chars[open..].iter().enumerate() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    close = Some(open + offset);
                    break;
                }
            }
            _ => {}
        }
    }
    let close = close?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = chars[close + 2..].iter().position(|c| *c == ')').map(|p| close + 2 + p)?;
    let label: String = chars[open + 1..close].iter().collect();
    let target: String = chars[close + 2..end].iter().collect();
    let url = target.split_whitespace().next().unwrap_or("").trim_matches(['<', '>']).to_owned();
    Some((label, url, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_plain_text() {
        let md = "# Title\n\nHow do I enable **CSV export**? The [guide](https://help.example.com/1) is _unclear_.\n\n* step 1\n* step `2`\n\n1. first\n\n---\n> quoted\n```\nlet x = 1;\n```\nsnake_case_name stays";
        assert_eq!(
            markdown_to_text(md),
            "Title\n\nHow do I enable CSV export? The guide (https://help.example.com/1) is unclear.\n\n- step 1\n- step 2\n\n1. first\n\nquoted\nlet x = 1;\nsnake_case_name stays"
        );
        assert_eq!(
            markdown_to_text("![chart](c.png) <https://a.example> \\*literal\\*"),
            "[chart] https://a.example *literal*"
        );
    }
}

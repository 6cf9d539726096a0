//! Markdown bodies as readable plain text.
//!
//! Ticket descriptions are plain text that agents and API clients often write in
//! Markdown. Headings, emphasis, code spans and quote markers are dropped, bullets
//! become `- `, `[text](url)` becomes `text (url)`, images keep their alt text, fenced
//! code is kept verbatim and entities are decoded. Invariant: like `html_to_text`, the
//! output has no leading or trailing whitespace and never two blank lines in a row.

use std::collections::HashMap;

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

/// Link labels nested deeper than this are kept as plain text instead of being parsed
/// again: each level recurses, and hostile input nests thousands deep.
const MAX_LINK_DEPTH: usize = 16;

/// Inline Markdown: links, images, autolinks, emphasis, code spans and escapes.
fn markdown_inline(text: &str) -> String {
    inline(text, 0)
}

fn inline(text: &str, depth: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let paired = paired_markers(&chars);
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
                    let label = if depth < MAX_LINK_DEPTH { inline(&label, depth + 1) } else { label };
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
            '*' | '`' | '~' => {
                if !paired[i] {
                    out.push(c);
                }
                i += 1;
            }
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

/// Marks the `*`, `~` and backtick runs that pair up around text (`**bold**`, `~~old~~`,
/// `` `code` ``): an opening run is followed by a non-space, a closing run of the same
/// marker and length is preceded by one. Lone markers (`~/.config`, `2 * 3`) stay.
/// Escaped markers never pair. Linear: each run meets at most one pending opener.
fn paired_markers(chars: &[char]) -> Vec<bool> {
    let mut paired = vec![false; chars.len()];
    let mut open: HashMap<(char, usize), usize> = HashMap::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            i += 2;
            continue;
        }
        if !matches!(c, '*' | '~' | '`') {
            i += 1;
            continue;
        }
        let len = chars[i..].iter().take_while(|&&m| m == c).count();
        let can_open = chars.get(i + len).is_some_and(|next| !next.is_whitespace());
        let can_close = i > 0 && !chars[i - 1].is_whitespace();
        match open.get(&(c, len)).copied() {
            Some(start) if can_close => {
                open.remove(&(c, len));
                paired[start..start + len].fill(true);
                paired[i..i + len].fill(true);
            }
            None if can_open => {
                open.insert((c, len), i);
            }
            _ => {}
        }
        i += len;
    }
    paired
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

    #[test]
    fn deeply_nested_link_labels_do_not_overflow_the_stack() {
        let levels = 100_000;
        let md = format!("{}a{}", "[".repeat(levels), "]()".repeat(levels));
        // The default thread stack (2 MiB) overflowed at ~16k levels before the depth limit.
        let text = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || markdown_to_text(&md))
            .unwrap_or_else(|e| panic!("spawn: {e}"))
            .join()
            .unwrap_or_else(|_| panic!("markdown_to_text panicked"));
        assert!(text.contains('a'));
        assert!(text.len() <= 4 * levels + 1);
        // Shallow nesting is still fully parsed.
        assert_eq!(
            markdown_to_text("[[[x](https://a.example/1)](https://a.example/2)]()"),
            "x (https://a.example/1) (https://a.example/2)"
        );
    }

    #[test]
    fn lone_emphasis_markers_are_kept() {
        assert_eq!(markdown_to_text("edit ~/.config/app.toml"), "edit ~/.config/app.toml");
        assert_eq!(markdown_to_text("2 * 3 * 4 and a*b"), "2 * 3 * 4 and a*b");
        assert_eq!(markdown_to_text("run `ls` then ~~old~~ **bold** *it* ~/x"), "run ls then old bold it ~/x");
        assert_eq!(markdown_to_text("it's `broken"), "it's `broken");
    }
}

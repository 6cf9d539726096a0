//! Markdown bodies as readable plain text, read with `pulldown-cmark`.
//!
//! Ticket descriptions are plain text that agents and API clients often write in
//! Markdown (CommonMark, with `~~strikethrough~~`). Headings, emphasis, code spans and
//! quote markers are dropped, bullets become `- ` and numbered items `1. `, nested
//! items are indented, `[text](url)` becomes `text (url)`, images keep their alt text
//! as `[alt]`, code blocks are kept verbatim and entities are decoded. Blocks keep the
//! spacing of the source: blocks on adjacent lines stay on adjacent lines, blocks
//! separated by a blank line stay so. Invariant: like `html_to_text`, the output has no
//! leading or trailing whitespace and never two blank lines in a row, and the
//! conversion is linear in the input (`pulldown-cmark` parses in linear time, and the
//! source between blocks is scanned once).

use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::text::Writer;

/// Nesting levels shown as indentation (deeper items are indented as deep as this).
const MAX_LIST_INDENT: usize = 8;

/// Converts Markdown (as Zendesk agents and API clients write it) to plain text.
pub fn markdown_to_text(markdown: &str) -> String {
    let mut converter = Converter::new(markdown);
    for (event, range) in Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH).into_offset_iter() {
        converter.event(event, range);
    }
    converter.writer.finish()
}

struct Converter<'a> {
    source: &'a str,
    writer: Writer,
    /// Where the last text taken from the source ends.
    content_end: usize,
    /// How far the source has been scanned for line breaks between blocks.
    scanned: usize,
    /// The next number of each open list (`None` for bullets), innermost last.
    lists: Vec<Option<u64>>,
    /// Whether a list marker was the last thing written (its first block stays on its line).
    after_marker: bool,
    /// The open links: their targets and where their text starts.
    links: Vec<(String, usize)>,
    /// Inside an image: its alt text, gathered to be written as `[alt]`.
    image_alt: Option<String>,
    image_depth: usize,
}

impl<'a> Converter<'a> {
    fn new(source: &'a str) -> Self {
        Self {
            source,
            writer: Writer::new(),
            content_end: 0,
            scanned: 0,
            lists: Vec::new(),
            after_marker: false,
            links: Vec::new(),
            image_alt: None,
            image_depth: 0,
        }
    }

    fn event(&mut self, event: Event<'_>, range: Range<usize>) {
        match event {
            Event::Start(tag) => self.start(tag, range),
            Event::End(tag) => self.end(tag),
            Event::Text(text) | Event::Code(text) | Event::InlineHtml(text) | Event::Html(text) => {
                self.content(&text, range)
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(alt) = &mut self.image_alt {
                    alt.push(' ');
                } else {
                    self.writer.line_break(1);
                }
            }
            Event::Rule => self.block_start(range.start),
            _ => {}
        }
    }

    /// Text from the source, into the image's alt text when inside an image.
    fn content(&mut self, text: &str, range: Range<usize>) {
        self.content_end = self.content_end.max(range.end);
        if let Some(alt) = &mut self.image_alt {
            alt.push_str(text);
            return;
        }
        self.after_marker = false;
        self.writer.verbatim(text);
    }

    /// A block starts at `start`: a line break, or a blank line when the source has
    /// one between the previous text and this block.
    fn block_start(&mut self, start: usize) {
        // One byte back: a code block's text ends with the newline that ends its line.
        let from = self.content_end.saturating_sub(1).max(self.scanned);
        let blank = self.source.get(from..start).is_some_and(has_blank_line);
        self.scanned = self.scanned.max(start);
        self.writer.line_break(if blank { 2 } else { 1 });
    }

    fn start(&mut self, tag: Tag<'_>, range: Range<usize>) {
        match tag {
            // An item's first block stays on the line of its marker.
            Tag::Paragraph | Tag::Heading { .. } | Tag::HtmlBlock | Tag::CodeBlock(_) if self.after_marker => {}
            Tag::Paragraph | Tag::Heading { .. } | Tag::HtmlBlock | Tag::CodeBlock(_) => self.block_start(range.start),
            Tag::List(first) => self.lists.push(first),
            Tag::Item => {
                self.block_start(range.start);
                let depth = self.lists.len().saturating_sub(1).min(MAX_LIST_INDENT);
                let marker = match self.lists.last_mut() {
                    Some(Some(number)) => {
                        let marker = format!("{}{number}. ", "  ".repeat(depth));
                        *number = number.saturating_add(1);
                        marker
                    }
                    _ => format!("{}- ", "  ".repeat(depth)),
                };
                self.writer.verbatim(&marker);
                self.after_marker = true;
            }
            Tag::Link { dest_url, .. } => self.links.push((dest_url.into_string(), self.writer.mark())),
            Tag::Image { .. } => {
                self.image_depth += 1;
                self.image_alt.get_or_insert_with(String::new);
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::List(_) => {
                self.lists.pop();
            }
            TagEnd::Link => {
                if let Some((href, mark)) = self.links.pop() {
                    self.writer.link_end(&href, mark);
                }
            }
            TagEnd::Image => {
                self.image_depth = self.image_depth.saturating_sub(1);
                if self.image_depth == 0 {
                    let alt = self.image_alt.take().unwrap_or_default();
                    if !alt.trim().is_empty() {
                        self.after_marker = false;
                        self.writer.verbatim(&format!("[{}]", alt.trim()));
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether `gap` (from the end of one block's text to the start of the next block)
/// holds a whole line that is blank, or blank inside a quote (only `>` markers).
fn has_blank_line(gap: &str) -> bool {
    let mut lines = gap.split('\n');
    // The first piece ends the previous text's line, the last starts the next block's.
    let _end_of_previous = lines.next();
    let mut whole_lines: Vec<&str> = lines.collect();
    whole_lines.pop();
    whole_lines.iter().any(|line| line.chars().all(|c| c.is_whitespace() || c == '>'))
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
        // As CommonMark (and GitHub) read it: a link cannot contain a link, so the
        // brackets around the innermost one are text.
        assert_eq!(
            markdown_to_text("[[[x](https://a.example/1)](https://a.example/2)]()"),
            "[[x (https://a.example/1)](https://a.example/2)]()"
        );
        assert_eq!(
            markdown_to_text("[**see** ![logo](l.png) docs](https://a.example/d)"),
            "see [logo] docs (https://a.example/d)"
        );
    }

    #[test]
    fn lone_emphasis_markers_are_kept() {
        assert_eq!(markdown_to_text("edit ~/.config/app.toml"), "edit ~/.config/app.toml");
        assert_eq!(markdown_to_text("2 * 3 * 4 and a*b"), "2 * 3 * 4 and a*b");
        assert_eq!(markdown_to_text("run `ls` then ~~old~~ **bold** *it* ~/x"), "run ls then old bold it ~/x");
        assert_eq!(markdown_to_text("it's `broken"), "it's `broken");
    }

    #[test]
    fn lists_quotes_and_code_keep_the_source_layout() {
        let md = "Steps:\n\n1. Open\n2. Click *Run*\n   - twice\n     - really\n\n* loose\n\n* items\n\n>  a quote\n> continued\n\n    indented code\n\nR&amp;D &copy; &#233;";
        assert_eq!(
            markdown_to_text(md),
            "Steps:\n\n1. Open\n2. Click Run\n  - twice\n    - really\n\n- loose\n\n- items\n\na quote\ncontinued\n\nindented code\n\nR&D © é"
        );
        assert_eq!(markdown_to_text("7. seven\n8. eight"), "7. seven\n8. eight");
        assert_eq!(markdown_to_text("line one  \nline two\\\nline three"), "line one\nline two\nline three");
        assert_eq!(markdown_to_text("use <placeholder> here"), "use <placeholder> here");
    }

    #[test]
    fn hostile_markdown_converts_in_linear_time() {
        use crate::text::linear::{assert_linear, repeat};
        assert_linear("`[` without `]`", |len| repeat("[", len), markdown_to_text);
        assert_linear(
            "`[[[…a]]]` nested",
            |len| format!("{}a{}", repeat("[", len / 2), repeat("]", len / 2)),
            markdown_to_text,
        );
        assert_linear("`[a](` repeated", |len| repeat("[a](", len), markdown_to_text);
        assert_linear("`![` repeated", |len| repeat("![", len), markdown_to_text);
        assert_linear("`<` without `>`", |len| repeat("<", len), markdown_to_text);
        assert_linear("`<a` repeated", |len| repeat("<a", len), markdown_to_text);
        assert_linear("`&` without `;`", |len| repeat("&", len), markdown_to_text);
        assert_linear("`&#` repeated", |len| repeat("&#", len), markdown_to_text);
        assert_linear("`*a ` repeated", |len| repeat("*a ", len), markdown_to_text);
        assert_linear("`` ` `` repeated", |len| repeat("`a", len), markdown_to_text);
        assert_linear("`>` nested quotes", |len| repeat(">", len), markdown_to_text);
        assert_linear("`- ` nested lists", |len| repeat("- ", len), markdown_to_text);
        assert_linear("list items", |len| repeat("  - x\n", len), markdown_to_text);
    }
}

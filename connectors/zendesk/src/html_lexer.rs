//! A single-pass HTML tokenizer for `html.rs`: text runs, start and end tags.
//!
//! Tags are read as the HTML standard's tokenizer reads them (a tag ends at the first
//! `>` outside a quoted attribute value; quotes only count after `=`), comments,
//! doctypes and processing instructions are dropped, and the content of an element
//! whose text is never shown (`script`, `style`, …) can be skipped up to its end tag.
//! Input that is not markup stays text: a `<` that does not start a tag, and a tag cut
//! off by the end of the input (kept as text instead of being dropped, so a truncated
//! body loses nothing).
//!
//! Invariant: the whole input is read in time linear in its length. Every scan either
//! consumes what it scanned, or reaches the end of the input and ends the run; the one
//! scan that may do neither (looking for the end tag of a skipped element) happens at
//! most once per element name. Nothing is searched again from an earlier position.
//! `html5ever` was measured and not used: see docs/decisions/0007-hand-written-html-tokenizer.md.

/// Attributes `html.rs` reads; the others are parsed but not kept.
const KEPT_ATTRIBUTES: &[&str] = &["href", "alt", "start"];

/// A start or end tag.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Tag {
    /// The element name, ASCII-lowercased.
    pub(crate) name: String,
    pub(crate) closing: bool,
    pub(crate) self_closing: bool,
    /// The `KEPT_ATTRIBUTES` present, names lowercased, values with entities decoded;
    /// the first of duplicates wins.
    attrs: Vec<(&'static str, String)>,
}

impl Tag {
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(key, _)| *key == name).map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// Text as it appears in the input: entities are not decoded yet.
    Text(&'a str),
    Tag(Tag),
}

/// The tokens of one HTML document, in order.
pub(crate) struct Lexer<'a> {
    html: &'a str,
    pos: usize,
    /// Names of skipped elements known to have no end tag after some earlier position
    /// (so after any later one): their end tag is never searched for again.
    unclosed: Vec<String>,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(html: &'a str) -> Self {
        Self { html, pos: 0, unclosed: Vec::new() }
    }

    /// Skips the content of element `name`, whose start tag was the last token, up to
    /// and including its end tag. Without an end tag nothing is skipped, so the rest of
    /// the document is not lost.
    pub(crate) fn skip_element(&mut self, name: &str) {
        if self.unclosed.iter().any(|known| known == name) {
            return;
        }
        match find_end_tag(self.html, self.pos, name) {
            Some(at) => {
                // The end tag itself is read (and dropped) as the next token.
                self.pos = at;
                let _end_tag = self.next();
            }
            None => self.unclosed.push(name.to_owned()),
        }
    }

    /// Reads the markup that starts with the `<` at `self.pos` (see `starts_markup`):
    /// a tag (returned), or a comment or declaration (skipped, `None`).
    fn markup(&mut self) -> Option<Token<'a>> {
        let lt = self.pos;
        let rest = &self.html[lt + 1..];
        let next = rest.bytes().next();
        if rest.starts_with("!--") {
            let body = lt + 4;
            let after = &self.html[body..];
            // `<!-->` and `<!--->` are complete (empty) comments; an unclosed one runs to the end.
            let end = if after.starts_with('>') {
                Some(body + 1)
            } else if after.starts_with("->") {
                Some(body + 2)
            } else {
                after.find("-->").map(|i| body + i + 3)
            };
            self.pos = end.unwrap_or(self.html.len());
            return None;
        }
        match next {
            Some(b'/') if rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) => self.tag(lt, true),
            Some(c) if c.is_ascii_alphabetic() => self.tag(lt, false),
            // `<!x>` and `<?x>` are bogus comments, `</>` is dropped, `</ x>` is a bogus comment.
            _ => {
                self.pos = self.html[lt..].find('>').map_or(self.html.len(), |i| lt + i + 1);
                None
            }
        }
    }

    /// Reads the tag whose `<` is at `lt`. A tag cut off by the end of the input is
    /// returned as text, from its `<` to the end.
    fn tag(&mut self, lt: usize, closing: bool) -> Option<Token<'a>> {
        let name_start = lt + 1 + usize::from(closing);
        match scan_tag(self.html, name_start) {
            Some(scanned) => {
                self.pos = scanned.end;
                let mut tag = Tag {
                    name: self.html[name_start..scanned.name_end].to_ascii_lowercase(),
                    closing,
                    self_closing: scanned.self_closing,
                    attrs: Vec::new(),
                };
                for (name, value) in scanned.attrs {
                    let kept = KEPT_ATTRIBUTES.iter().copied().find(|kept| kept.eq_ignore_ascii_case(name));
                    if let Some(kept) = kept.filter(|kept| tag.attr(kept).is_none()) {
                        tag.attrs.push((kept, decode_entities(value)));
                    }
                }
                Some(Token::Tag(tag))
            }
            None => {
                self.pos = self.html.len();
                Some(Token::Text(&self.html[lt..]))
            }
        }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        while self.pos < self.html.len() {
            let rest = &self.html[self.pos..];
            if starts_markup(rest) {
                if let Some(token) = self.markup() {
                    return Some(token);
                }
                continue;
            }
            // Text up to the next `<` that starts markup: stray `<` belong to it.
            let mut len = rest.chars().next().map_or(1, char::len_utf8);
            while let Some(offset) = rest[len..].find('<') {
                len += offset;
                if starts_markup(&rest[len..]) {
                    break;
                }
                len += 1;
            }
            if !rest[len..].starts_with('<') {
                len = rest.len();
            }
            self.pos += len;
            return Some(Token::Text(&rest[..len]));
        }
        None
    }
}

/// Whether `rest` starts with a `<` that begins markup: a tag, an end tag, a comment,
/// a declaration or a processing instruction. Any other `<` is text.
fn starts_markup(rest: &str) -> bool {
    let mut bytes = rest.bytes();
    bytes.next() == Some(b'<')
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || matches!(b, b'!' | b'?' | b'/'))
}

/// What `scan_tag` found: where the name ends, the attributes (raw values), whether the
/// tag closes itself, and the position after its `>`.
struct ScannedTag<'a> {
    name_end: usize,
    attrs: Vec<(&'a str, &'a str)>,
    self_closing: bool,
    end: usize,
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// Scans a tag whose name starts at `from`, following the states of the HTML
/// tokenizer (tag name, attribute name, attribute value, self-closing start tag).
/// `None` when the input ends inside the tag. Linear in the length of the tag.
fn scan_tag(html: &str, from: usize) -> Option<ScannedTag<'_>> {
    let bytes = html.as_bytes();
    let take_while = |at: usize, keep: &dyn Fn(u8) -> bool| {
        bytes[at..].iter().position(|b| !keep(*b)).map_or(bytes.len(), |len| at + len)
    };
    let name_end = take_while(from, &|b| !is_space(b) && b != b'/' && b != b'>');
    let mut attrs = Vec::new();
    let mut at = name_end;
    loop {
        at = take_while(at, &is_space);
        match bytes.get(at)? {
            b'>' => return Some(ScannedTag { name_end, attrs, self_closing: false, end: at + 1 }),
            b'/' => {
                at += 1;
                if bytes.get(at) == Some(&b'>') {
                    return Some(ScannedTag { name_end, attrs, self_closing: true, end: at + 1 });
                }
                continue;
            }
            _ => {}
        }
        // An attribute name; a leading `=` belongs to it.
        let name_start = at;
        at = take_while(at + 1, &|b| !is_space(b) && !matches!(b, b'/' | b'>' | b'='));
        let name = &html[name_start..at];
        at = take_while(at, &is_space);
        if bytes.get(at) != Some(&b'=') {
            attrs.push((name, ""));
            continue;
        }
        at = take_while(at + 1, &is_space);
        let value = match *bytes.get(at)? {
            quote @ (b'"' | b'\'') => {
                let close = at + 1 + bytes[at + 1..].iter().position(|b| *b == quote)?;
                let value = &html[at + 1..close];
                at = close + 1;
                value
            }
            b'>' => "",
            _ => {
                let value_start = at;
                at = take_while(at, &|b| !is_space(b) && b != b'>');
                &html[value_start..at]
            }
        };
        attrs.push((name, value));
    }
}

/// The position of the `</name` (ASCII case-insensitive, followed by a space, `/`, `>`
/// or the end) that ends element `name`, searching from `from`. Linear in the input.
fn find_end_tag(html: &str, from: usize, name: &str) -> Option<usize> {
    let bytes = html.as_bytes();
    let mut at = from;
    while let Some(offset) = html.get(at..)?.find("</") {
        let start = at + offset;
        let name_end = start + 2 + name.len();
        let names_match =
            bytes.get(start + 2..name_end).is_some_and(|found| found.eq_ignore_ascii_case(name.as_bytes()));
        let ends_name = bytes.get(name_end).is_none_or(|b| is_space(*b) || matches!(b, b'/' | b'>'));
        if names_match && ends_name {
            return Some(start);
        }
        at = start + 2;
    }
    None
}

/// The longest character reference `decode_entity` knows, `;` excluded (`#x10FFFF`
/// and the longest name are 8 bytes; a few more allow leading zeros).
const MAX_ENTITY_LEN: usize = 10;

/// Decodes named (common) and numeric character references; unknown ones stay as-is.
/// Linear: after a `&`, at most `MAX_ENTITY_LEN` bytes are looked at for the `;`.
pub(crate) fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let candidate = &rest[amp + 1..];
        let semicolon = candidate.bytes().take(MAX_ENTITY_LEN + 1).position(|b| b == b';');
        let decoded = semicolon.and_then(|end| decode_entity(&candidate[..end]).map(|c| (c, end)));
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
        "eacute" => 'é',
        "egrave" => 'è',
        "agrave" => 'à',
        "ccedil" => 'ç',
        "uuml" => 'ü',
        "ouml" => 'ö',
        "auml" => 'ä',
        "szlig" => 'ß',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(html: &str) -> Vec<String> {
        Lexer::new(html)
            .map(|token| match token {
                Token::Text(text) => format!("text {text:?}"),
                Token::Tag(tag) => {
                    let attrs: Vec<String> = tag.attrs.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                    let slash = if tag.closing { "/" } else { "" };
                    let self_closing = if tag.self_closing { " /" } else { "" };
                    format!(
                        "<{slash}{}{}{self_closing}>",
                        tag.name,
                        attrs.iter().map(|a| format!(" {a}")).collect::<String>()
                    )
                }
            })
            .collect()
    }

    #[test]
    fn tags_end_at_the_first_unquoted_bracket() {
        assert_eq!(
            tokens(r#"a<A HREF="x>y" title='z'>b</a >"#),
            ["text \"a\"", "<a href=\"x>y\">", "text \"b\"", "</a>"]
        );
        // A quote inside a name is no quote: the tag still ends at `>`.
        assert_eq!(tokens("<p it's>x"), ["<p>", "text \"x\""]);
        assert_eq!(tokens("<br/><img alt=a&amp;b src=x />"), ["<br />", "<img alt=\"a&b\" />"]);
        assert_eq!(tokens("<ol start = 3 start=4>"), ["<ol start=\"3\">"]);
    }

    #[test]
    fn comments_declarations_and_stray_brackets() {
        assert_eq!(
            tokens("<!DOCTYPE html><!-- <p> -->a<?xml x?>b</>c</ x>d"),
            ["text \"a\"", "text \"b\"", "text \"c\"", "text \"d\""]
        );
        assert_eq!(tokens("1 < 2 <3 <<b>"), ["text \"1 < 2 <3 <\"", "<b>"]);
        assert_eq!(tokens("<<"), ["text \"<<\""]);
        assert_eq!(tokens("é<b>ü<"), ["text \"é\"", "<b>", "text \"ü<\""]);
        assert_eq!(tokens("a<!-- never closed <p>b"), ["text \"a\""]);
        assert_eq!(tokens("<!---->x"), ["text \"x\""]);
    }

    #[test]
    fn a_tag_cut_off_by_the_end_stays_text() {
        assert_eq!(tokens("<p>x <a href=\"y"), ["<p>", "text \"x \"", "text \"<a href=\\\"y\""]);
        assert_eq!(tokens("x <b"), ["text \"x \"", "text \"<b\""]);
    }

    #[test]
    fn skipped_elements_end_at_their_end_tag_or_skip_nothing() {
        let mut lexer = Lexer::new("<script>if (a</b) x()</SCRIPT >after<script>y()");
        assert!(matches!(lexer.next(), Some(Token::Tag(tag)) if tag.name == "script"));
        lexer.skip_element("script");
        assert_eq!(lexer.next(), Some(Token::Text("after")));
        assert!(matches!(lexer.next(), Some(Token::Tag(tag)) if tag.name == "script"));
        lexer.skip_element("script");
        assert_eq!(lexer.next(), Some(Token::Text("y()")));
        assert_eq!(find_end_tag("</scriptx></script", 0, "script"), Some(10));
    }

    #[test]
    fn entities_decode_within_a_bounded_window() {
        assert_eq!(decode_entities("R&amp;D &#233;&#x263A; &bogus; AT&T &"), "R&D é☺ &bogus; AT&T &");
        assert_eq!(decode_entities("&amp"), "&amp");
        assert_eq!(decode_entities("&#0; &#xFFFFFFFFF;"), "&#0; &#xFFFFFFFFF;");
        assert_eq!(decode_entities(&format!("&{};", "a".repeat(50))), format!("&{};", "a".repeat(50)));
    }
}

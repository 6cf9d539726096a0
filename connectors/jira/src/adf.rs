//! Atlassian Document Format (ADF) → readable plain text.
//!
//! Jira v3 returns descriptions and comment bodies as ADF trees. This module walks the
//! tree as untyped JSON so that no node can make it fail: paragraphs and headings
//! become lines, lists keep their bullets and numbers (nested lists are indented),
//! code blocks keep their lines, mentions read `@Name`, links read `text (url)`,
//! emoji read as their character or short name, tables become `a | b` rows, quotes
//! get `> ` and unknown node types keep whatever text they hold. Invariant: the
//! output never loses a `text` leaf of the input (apart from whitespace), and
//! rendering never panics, however deep or odd the tree (depth is capped).

use serde_json::Value;

/// Deeper trees are cut here (their text is still collected flat), so a hostile
/// document cannot overflow the stack.
const MAX_DEPTH: usize = 48;

/// Inline node types: rendered within a line.
const INLINE_TYPES: &[&str] =
    &["text", "mention", "emoji", "hardBreak", "inlineCard", "status", "date", "placeholder", "mediaInline"];

/// Renders an ADF document (or a plain string, as older payloads carry) to text.
pub fn to_text(doc: &Value) -> String {
    let rendered = match doc {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Array(nodes) => blocks(nodes, 0),
        Value::Object(_) => block(doc, 0),
        other => other.to_string(),
    };
    chorus_sync::children::tidy_text(&rendered)
}

fn node_type(node: &Value) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or("")
}

fn children(node: &Value) -> &[Value] {
    node.get("content").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn attr<'a>(node: &'a Value, name: &str) -> Option<&'a str> {
    node.get("attrs").and_then(|attrs| attrs.get(name)).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn is_inline(node: &Value) -> bool {
    let kind = node_type(node);
    INLINE_TYPES.contains(&kind) || (kind.is_empty() && node.get("text").is_some()) || node.is_string()
}

/// Renders a run of sibling nodes as blocks separated by blank lines; consecutive
/// inline nodes (found where blocks were expected) form one paragraph.
fn blocks(nodes: &[Value], depth: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut pending_inline = String::new();
    for node in nodes {
        if is_inline(node) {
            inline(node, depth, &mut pending_inline);
            continue;
        }
        if !pending_inline.trim().is_empty() {
            out.push(std::mem::take(&mut pending_inline));
        }
        pending_inline.clear();
        let rendered = block(node, depth + 1);
        if !rendered.trim().is_empty() {
            out.push(rendered);
        }
    }
    if !pending_inline.trim().is_empty() {
        out.push(pending_inline);
    }
    out.join("\n\n")
}

/// Renders one block node.
fn block(node: &Value, depth: usize) -> String {
    if depth > MAX_DEPTH {
        let mut flat = String::new();
        collect_text(node, &mut flat);
        return flat;
    }
    match node_type(node) {
        "paragraph" | "heading" => inline_children(node, depth),
        "codeBlock" => {
            let mut code = String::new();
            for child in children(node) {
                collect_text(child, &mut code);
            }
            code
        }
        "bulletList" => list(node, depth, None),
        "orderedList" => {
            let start = node.get("attrs").and_then(|a| a.get("order")).and_then(Value::as_u64).unwrap_or(1);
            list(node, depth, Some(start))
        }
        "taskList" | "decisionList" => list(node, depth, None),
        "blockquote" => prefix_lines(&blocks(children(node), depth), "> "),
        "rule" => "---".to_owned(),
        "table" => table(node, depth),
        "expand" | "nestedExpand" => {
            let body = blocks(children(node), depth);
            match attr(node, "title") {
                Some(title) => format!("{title}\n{body}"),
                None => body,
            }
        }
        "mediaSingle" | "mediaGroup" | "media" => media(node, depth),
        "blockCard" | "embedCard" => attr(node, "url").unwrap_or_default().to_owned(),
        // doc, panel, layoutSection, layoutColumn, bodiedExtension and unknown types:
        // whatever they hold, as blocks (or their own text).
        _ => {
            if children(node).is_empty() {
                let mut text = String::new();
                inline(node, depth, &mut text);
                text
            } else {
                blocks(children(node), depth)
            }
        }
    }
}

fn inline_children(node: &Value, depth: usize) -> String {
    let mut line = String::new();
    for child in children(node) {
        inline(child, depth + 1, &mut line);
    }
    line
}

/// Appends one inline node's text to `out`.
fn inline(node: &Value, depth: usize, out: &mut String) {
    if let Value::String(text) = node {
        out.push_str(text);
        return;
    }
    match node_type(node) {
        "text" => {
            let text = node.get("text").and_then(Value::as_str).unwrap_or_default();
            out.push_str(text);
            if let Some(href) = link_href(node) {
                if href != text {
                    out.push_str(&format!(" ({href})"));
                }
            }
        }
        "hardBreak" => out.push('\n'),
        "mention" => {
            let name = attr(node, "text").or_else(|| attr(node, "displayName")).unwrap_or("someone");
            if !name.starts_with('@') {
                out.push('@');
            }
            out.push_str(name);
        }
        "emoji" => {
            let text = attr(node, "text").or_else(|| attr(node, "shortName")).unwrap_or_default();
            out.push_str(text);
        }
        "inlineCard" => out.push_str(attr(node, "url").unwrap_or_default()),
        "status" => out.push_str(&format!("[{}]", attr(node, "text").unwrap_or_default())),
        "date" => out.push_str(&date_attr(node)),
        _ => {
            if let Some(text) = node.get("text").and_then(Value::as_str) {
                out.push_str(text);
            } else if let Some(text) = attr(node, "text") {
                out.push_str(text);
            }
            if depth > MAX_DEPTH {
                for child in children(node) {
                    collect_text(child, out);
                }
                return;
            }
            for child in children(node) {
                if is_inline(child) {
                    inline(child, depth + 1, out);
                } else {
                    out.push_str(&block(child, depth + 1));
                }
            }
        }
    }
}

fn link_href(node: &Value) -> Option<&str> {
    node.get("marks")?.as_array()?.iter().find(|mark| node_type(mark) == "link").and_then(|mark| attr(mark, "href"))
}

fn date_attr(node: &Value) -> String {
    let millis = node.get("attrs").and_then(|a| a.get("timestamp")).and_then(|t| match t {
        Value::String(s) => s.parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    });
    millis
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn list(node: &Value, depth: usize, numbered_from: Option<u64>) -> String {
    let mut lines = Vec::new();
    for (index, item) in children(node).iter().enumerate() {
        let marker = match (numbered_from, node_type(item)) {
            (Some(start), _) => format!("{}. ", start.saturating_add(index as u64)),
            (None, "taskItem") if attr(item, "state") == Some("DONE") => "[x] ".to_owned(),
            (None, "taskItem") => "[ ] ".to_owned(),
            (None, "decisionItem") => "<> ".to_owned(),
            (None, _) => "- ".to_owned(),
        };
        // List items hold blocks (paragraphs, nested lists); task items hold inline text.
        let body = blocks(children(item), depth + 1).replace("\n\n", "\n");
        let indent = " ".repeat(marker.chars().count());
        for (line_no, line) in body.lines().enumerate() {
            if line_no == 0 {
                lines.push(format!("{marker}{line}"));
            } else {
                lines.push(format!("{indent}{line}"));
            }
        }
        if body.is_empty() {
            lines.push(marker.trim_end().to_owned());
        }
    }
    lines.join("\n")
}

fn table(node: &Value, depth: usize) -> String {
    children(node)
        .iter()
        .map(|row| {
            children(row)
                .iter()
                .map(|cell| blocks(children(cell), depth + 1).split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn media(node: &Value, depth: usize) -> String {
    if let Some(alt) = attr(node, "alt") {
        return format!("[{alt}]");
    }
    blocks(children(node), depth)
}

fn prefix_lines(text: &str, prefix: &str) -> String {
    text.lines().map(|line| format!("{prefix}{line}").trim_end().to_owned()).collect::<Vec<_>>().join("\n")
}

/// Every `text` leaf, concatenated (the fallback past `MAX_DEPTH`).
fn collect_text(node: &Value, out: &mut String) {
    let mut stack = vec![node];
    let mut ordered = Vec::new();
    while let Some(current) = stack.pop() {
        if let Some(text) = current.get("text").and_then(Value::as_str) {
            ordered.push(text);
        }
        for child in children(current).iter().rev() {
            stack.push(child);
        }
    }
    out.push_str(&ordered.join(""));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(content: Value) -> Value {
        json!({"type": "doc", "version": 1, "content": content})
    }

    fn text(t: &str) -> Value {
        json!({"type": "text", "text": t})
    }

    fn para(content: Value) -> Value {
        json!({"type": "paragraph", "content": content})
    }

    #[test]
    fn hostile_ordered_list_start_saturates() {
        let item = |t: &str| json!({"type": "listItem", "content": [para(json!([text(t)]))]});
        let d = doc(json!([{"type": "orderedList", "attrs": {"order": u64::MAX}, "content": [item("a"), item("b")]}]));
        let m = u64::MAX;
        assert_eq!(to_text(&d), format!("{m}. a\n{m}. b"));
    }

    #[test]
    fn paragraphs_and_headings_are_separated_by_blank_lines() {
        let d = doc(json!([
            {"type": "heading", "attrs": {"level": 2}, "content": [text("Title")]},
            para(json!([text("First "), {"type": "text", "text": "bold", "marks": [{"type": "strong"}]}])),
            para(json!([text("line one"), {"type": "hardBreak"}, text("line two")])),
        ]));
        assert_eq!(to_text(&d), "Title\n\nFirst bold\n\nline one\nline two");
    }

    #[test]
    fn lists_keep_markers_and_nesting() {
        let item = |t: &str| json!({"type": "listItem", "content": [para(json!([text(t)]))]});
        let nested = json!({"type": "listItem", "content": [
            para(json!([text("parent")])),
            {"type": "bulletList", "content": [item("child")]}
        ]});
        let d = doc(json!([
            {"type": "bulletList", "content": [item("a"), nested]},
            {"type": "orderedList", "attrs": {"order": 3}, "content": [item("x"), item("y")]},
        ]));
        assert_eq!(to_text(&d), "- a\n- parent\n  - child\n\n3. x\n4. y");
    }

    #[test]
    fn code_mentions_links_emoji() {
        let d = doc(json!([
            {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [text("fn main() {\n    run();\n}")]},
            para(json!([
                {"type": "mention", "attrs": {"id": "5b10", "text": "@Mia Krystof"}},
                text(" and "),
                {"type": "mention", "attrs": {"id": "5b11", "text": "Ann"}},
                text(" see "),
                {"type": "text", "text": "the docs", "marks": [{"type": "link", "attrs": {"href": "https://ex.com/d"}}]},
                text(" "),
                {"type": "text", "text": "https://ex.com/x", "marks": [{"type": "link", "attrs": {"href": "https://ex.com/x"}}]},
                text(" "),
                {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
                {"type": "emoji", "attrs": {"shortName": ":custom:"}},
            ])),
        ]));
        assert_eq!(
            to_text(&d),
            "fn main() {\n    run();\n}\n\n@Mia Krystof and @Ann see the docs (https://ex.com/d) https://ex.com/x 😄:custom:"
        );
    }

    #[test]
    fn tables_panels_quotes_and_rules() {
        let cell = |t: &str| json!({"type": "tableCell", "content": [para(json!([text(t)]))]});
        let d = doc(json!([
            {"type": "table", "content": [
                {"type": "tableRow", "content": [{"type": "tableHeader", "content": [para(json!([text("Plan")]))]}, cell("Seats")]},
                {"type": "tableRow", "content": [cell("Pro"), cell("50")]},
            ]},
            {"type": "panel", "attrs": {"panelType": "info"}, "content": [para(json!([text("Heads up")]))]},
            {"type": "blockquote", "content": [para(json!([text("quoted")])), para(json!([text("twice")]))]},
            {"type": "rule"},
        ]));
        assert_eq!(to_text(&d), "Plan | Seats\nPro | 50\n\nHeads up\n\n> quoted\n>\n> twice\n\n---");
    }

    #[test]
    fn unknown_nodes_keep_their_text() {
        let d = doc(json!([
            {"type": "fancyBlock", "content": [para(json!([text("inside fancy")]))]},
            para(json!([{"type": "sparkle", "content": [text("glitter")]}, {"type": "badge", "attrs": {"text": "NEW"}}])),
            {"type": "mystery", "text": "bare text"},
            {"type": "taskList", "content": [
                {"type": "taskItem", "attrs": {"state": "DONE"}, "content": [text("shipped")]},
                {"type": "taskItem", "attrs": {"state": "TODO"}, "content": [text("later")]},
            ]},
        ]));
        assert_eq!(to_text(&d), "inside fancy\n\nglitterNEW\n\nbare text\n\n[x] shipped\n[ ] later");
    }

    #[test]
    fn odd_inputs_do_not_fail() {
        assert_eq!(to_text(&Value::Null), "");
        assert_eq!(to_text(&json!("plain old string")), "plain old string");
        assert_eq!(to_text(&json!({"type": "doc"})), "");
        assert_eq!(to_text(&json!({"type": "doc", "content": "not an array"})), "");
        assert_eq!(to_text(&json!(42)), "42");
        let mut deep = text("bottom");
        for _ in 0..500 {
            deep = json!({"type": "blockquote", "content": [deep]});
        }
        assert!(to_text(&doc(json!([deep]))).contains("bottom"));
    }
}

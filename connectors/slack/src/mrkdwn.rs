//! Slack mrkdwn → plain text, in one pass.
//!
//! Slack stores message text with its entities in angle brackets and escapes the
//! three characters that would be ambiguous: `<@U123>` (a user), `<#C123|bugs>` (a
//! channel), `<!here>` / `<!channel>` / `<!subteam^S1|@team>` / `<!date^…|fallback>`
//! (special mentions), `<https://…|label>` and `<mailto:…|label>` (links), and
//! `&amp;`, `&lt;`, `&gt;`. Users and channels are named through `Names` (a mention
//! nobody can name stays `@U123`). Emphasis markers (`*bold*`, `_it_`, `` `code` ``)
//! are kept: they read fine as text. Invariant: linear in the input — every byte is
//! looked at a bounded number of times, and an unmatched `<` (which Slack itself
//! would have escaped) is kept as text without searching again.

/// Names for the ids mentions carry.
pub trait Names {
    fn user(&self, id: &str) -> Option<String>;
    fn channel(&self, id: &str) -> Option<String>;
}

/// Ids of the users mentioned in `text` (`<@U…>`), in order, to look up before mapping.
pub fn mentioned_users(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('>') else { break };
        let id = after[..end].split('|').next().unwrap_or_default();
        if !id.is_empty() {
            found.push(id.to_owned());
        }
        rest = &after[end + 1..];
    }
    found
}

/// The text of `mrkdwn`, entities resolved and escapes undone.
pub fn to_text(mrkdwn: &str, names: &dyn Names) -> String {
    let mut out = String::with_capacity(mrkdwn.len());
    let mut rest = mrkdwn;
    loop {
        let Some(open) = rest.find('<') else {
            unescape_into(rest, &mut out);
            break;
        };
        unescape_into(&rest[..open], &mut out);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            // No `>` anywhere after: nothing later can close either.
            unescape_into(&rest[open..], &mut out);
            break;
        };
        entity_into(&after[..close], names, &mut out);
        rest = &after[close + 1..];
    }
    out
}

fn entity_into(inner: &str, names: &dyn Names, out: &mut String) {
    let (target, label) = match inner.split_once('|') {
        Some((target, label)) => (target, Some(label)),
        None => (inner, None),
    };
    if let Some(id) = target.strip_prefix('@') {
        out.push('@');
        let name = names.user(id).or_else(|| label.map(str::to_owned));
        out.push_str(name.as_deref().unwrap_or(id));
    } else if let Some(id) = target.strip_prefix('#') {
        out.push('#');
        let name = label.map(str::to_owned).or_else(|| names.channel(id));
        out.push_str(name.as_deref().unwrap_or(id));
    } else if let Some(special) = target.strip_prefix('!') {
        match label {
            Some(label) => unescape_into(label, out),
            None => {
                out.push('@');
                out.push_str(special.split('^').next().unwrap_or(special));
            }
        }
    } else {
        let url = target.strip_prefix("mailto:").unwrap_or(target);
        match label.filter(|l| *l != url && *l != target) {
            Some(label) => {
                unescape_into(label, out);
                out.push_str(" (");
                unescape_into(url, out);
                out.push(')');
            }
            None => unescape_into(url, out),
        }
    }
}

fn unescape_into(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let (replacement, len) = if tail.starts_with("&amp;") {
            ('&', 5)
        } else if tail.starts_with("&lt;") {
            ('<', 4)
        } else if tail.starts_with("&gt;") {
            ('>', 4)
        } else {
            ('&', 1)
        };
        out.push(replacement);
        rest = &tail[len..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Known;
    impl Names for Known {
        fn user(&self, id: &str) -> Option<String> {
            (id == "U1").then(|| "Priya Natarajan".to_owned())
        }
        fn channel(&self, id: &str) -> Option<String> {
            (id == "C2").then(|| "bugs".to_owned())
        }
    }

    #[test]
    fn entities_and_escapes_become_text() {
        let cases = [
            ("hi <@U1>, see <#C2> &amp; <#C9|ideas>", "hi @Priya Natarajan, see #bugs & #ideas"),
            ("<@U7|sam> and <@U8>", "@sam and @U8"),
            ("<!here> <!channel> <!subteam^S1|@design>", "@here @channel @design"),
            ("<https://a.example/x?y=1&amp;z=2|the spec>", "the spec (https://a.example/x?y=1&z=2)"),
            ("<https://a.example> <mailto:a@b.example|a@b.example>", "https://a.example a@b.example"),
            ("1 &lt; 2 &gt; 0 &amp;&amp; &nbsp;", "1 < 2 > 0 && &nbsp;"),
            ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
            ("a < b and no close", "a < b and no close"),
        ];
        for (input, expected) in cases {
            assert_eq!(to_text(input, &Known), expected, "{input}");
        }
        assert_eq!(mentioned_users("<@U1> <@U2|x> <#C1>"), ["U1", "U2"]);
    }

    #[test]
    fn hostile_input_is_linear() {
        let opens = "<".repeat(200_000);
        let started = std::time::Instant::now();
        assert_eq!(to_text(&opens, &Known).len(), 200_000);
        let amps = "&".repeat(200_000) + &"<@U1>".repeat(50_000);
        assert!(to_text(&amps, &Known).ends_with("@Priya Natarajan"));
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    }
}

//! Environment in the config: `${VAR}` substitution and `CHORUS__…` overrides.
//!
//! Substitution happens on parsed string values, never on raw text, so a variable's
//! content cannot inject TOML. `$${` writes a literal `${`. An unset variable is an
//! error naming the variable (not silently empty). Overrides address keys by path:
//! `CHORUS__STORE__URL`, `CHORUS__SYNC__CLAIM_TTL_SECS`, and for a connector by its id:
//! `CHORUS__CONNECTORS__JIRA_MAIN__SETTINGS__API_TOKEN` (ids match case-insensitively,
//! with `-` spelled `_`).

/// Replaces `${VAR}` in every string value using `lookup`.
pub fn substitute_vars(value: &mut toml::Value, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    match value {
        toml::Value::String(text) => {
            *text = substitute(text, lookup)?;
            Ok(())
        }
        toml::Value::Array(items) => items.iter_mut().try_for_each(|item| substitute_vars(item, lookup)),
        toml::Value::Table(table) => table.iter_mut().try_for_each(|(_, item)| substitute_vars(item, lookup)),
        _ => Ok(()),
    }
}

fn substitute(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or_else(|| "unterminated `${` in a string value".to_owned())?;
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`${{{name}}}` is not a valid variable name"));
            }
            let value = lookup(name).ok_or_else(|| format!("environment variable `{name}` is not set"))?;
            out.push_str(&value);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

const PREFIX: &str = "CHORUS__";

/// Applies `CHORUS__A__B=value` overrides; values parse as TOML scalars when they can.
pub fn apply_overrides(root: &mut toml::Value, env: &[(String, String)]) -> Result<(), String> {
    let mut overrides: Vec<_> = env.iter().filter(|(k, _)| k.starts_with(PREFIX)).collect();
    overrides.sort();
    for (key, raw) in overrides {
        let path: Vec<String> = key[PREFIX.len()..].split("__").map(|p| p.to_ascii_lowercase()).collect();
        if path.iter().any(String::is_empty) {
            return Err(format!("{key}: empty path segment"));
        }
        set_path(root, &path, scalar(raw)).map_err(|e| format!("{key}: {e}"))?;
    }
    Ok(())
}

fn scalar(raw: &str) -> toml::Value {
    if let Ok(b) = raw.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    toml::Value::String(raw.to_owned())
}

fn set_path(node: &mut toml::Value, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((head, rest)) = path.split_first() else {
        // A key the file writes as a string stays a string (a numeric token, a custom
        // field id); otherwise the value keeps the type it parsed as.
        *node = match (&*node, value) {
            (toml::Value::String(_), toml::Value::Integer(i)) => toml::Value::String(i.to_string()),
            (toml::Value::String(_), toml::Value::Boolean(b)) => toml::Value::String(b.to_string()),
            (_, value) => value,
        };
        return Ok(());
    };
    let toml::Value::Table(table) = node else {
        return Err(format!("`{head}` is under a value that is not a table"));
    };
    if head != "connectors" {
        let child = table.entry(head.clone()).or_insert_with(|| toml::Value::Table(toml::map::Map::new()));
        return set_path(child, rest, value);
    }
    let (id, rest) = rest.split_first().ok_or("name a connector id after CONNECTORS")?;
    let Some(toml::Value::Array(connectors)) = table.get_mut("connectors") else {
        return Err(format!("no connector with id `{id}`"));
    };
    let entry = connectors
        .iter_mut()
        .find(|c| c.get("id").and_then(|v| v.as_str()).is_some_and(|v| v.replace('-', "_").eq_ignore_ascii_case(id)))
        .ok_or_else(|| format!("no connector with id `{id}`"))?;
    set_path(entry, rest, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn substitutes_set_variables_and_refuses_unset_ones() {
        let lookup = |name: &str| (name == "TOKEN").then(|| "s3cret".to_owned());
        assert_eq!(substitute("Bearer ${TOKEN}!", &lookup), Ok("Bearer s3cret!".into()));
        assert_eq!(substitute("cost $5 and $${LITERAL}", &lookup), Ok("cost $5 and ${LITERAL}".into()));
        let err = substitute("${MISSING}", &lookup).expect_err("unset");
        assert!(err.contains("MISSING") && !err.contains("s3cret"), "{err}");
        assert!(substitute("${BROKEN", &lookup).is_err());
    }

    #[test]
    fn overrides_reach_sections_and_connectors_by_id() {
        let mut root: toml::Value = toml::from_str(
            "[store]\nurl = \"sqlite://a.db\"\n[[connectors]]\nid = \"jira-main\"\nkind = \"jira\"\n[connectors.settings]\nbase_url = \"x\"\n",
        )
        .expect("toml");
        apply_overrides(
            &mut root,
            &env(&[
                ("CHORUS__STORE__URL", "postgres://db/chorus"),
                ("CHORUS__SYNC__CLAIM_TTL_SECS", "30"),
                ("CHORUS__CONNECTORS__JIRA_MAIN__SETTINGS__BASE_URL", "https://acme.atlassian.net"),
                ("UNRELATED", "1"),
            ]),
        )
        .expect("overrides");
        assert_eq!(root["store"]["url"].as_str(), Some("postgres://db/chorus"));
        assert_eq!(root["sync"]["claim_ttl_secs"].as_integer(), Some(30));
        assert_eq!(root["connectors"][0]["settings"]["base_url"].as_str(), Some("https://acme.atlassian.net"));
        apply_overrides(&mut root, &env(&[("CHORUS__CONNECTORS__JIRA_MAIN__SETTINGS__BASE_URL", "12345")]))
            .expect("override");
        assert_eq!(
            root["connectors"][0]["settings"]["base_url"].as_str(),
            Some("12345"),
            "a string key stays a string"
        );
        let err = apply_overrides(&mut root, &env(&[("CHORUS__CONNECTORS__NOPE__KIND", "x")])).expect_err("unknown id");
        assert!(err.contains("nope"), "{err}");
    }
}

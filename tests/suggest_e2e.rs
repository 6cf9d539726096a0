//! End-to-end: suggested links through the `chorus` binary — items imported from a
//! file, a request about SSO, its suggestions with their shared words, a person's
//! accept and reject, and an item's likely requests.

mod support;

use std::collections::HashMap;

use serde_json::Value;
use support::{describe, Install};

const ITEMS: [(&str, &str, &str); 5] = [
    ("sso-1", "Okta SSO login fails", "Users cannot sign in with Okta single sign-on"),
    ("sso-2", "SAML SSO through Okta", "We need Okta SAML for the whole team"),
    ("sso-3", "Okta sign in broken", "Signing in with Okta shows an error"),
    ("csv-1", "CSV export of invoices", "Finance wants every invoice as CSV"),
    ("csv-2", "Invoices export times out", "The invoices CSV never downloads"),
];

fn ok(install: &Install, args: &[&str]) -> String {
    let output = install.run(args);
    assert!(output.status.success(), "chorus {args:?}: {}", describe(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
}

fn suggested(install: &Install, request: &str) -> Vec<Value> {
    json_lines(&ok(install, &["requests", "suggestions", request, "--format", "json"]))
}

fn ids(values: &[Value], key: &str) -> Vec<i64> {
    values.iter().filter_map(|value| value[key].as_i64()).collect()
}

#[test]
fn suggestions_are_offered_answered_and_remembered_from_the_command_line() {
    let install = Install::new("");
    let file = install.dir.path().join("items.jsonl");
    let lines: Vec<String> = ITEMS
        .iter()
        .map(|(id, title, body)| {
            serde_json::json!({
                "external_id": id, "kind": "support_ticket", "title": title, "body": body,
                "created_at": "2026-03-01T12:00:00Z", "updated_at": "2026-03-01T12:00:00Z",
            })
            .to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").expect("write items");
    ok(&install, &["import", "items", file.to_str().expect("utf-8 path"), "--connector", "legacy"]);
    let item: HashMap<String, i64> = json_lines(&ok(&install, &["export", "items"]))
        .into_iter()
        .map(|line| (line["external_id"].as_str().expect("external_id").to_owned(), line["id"].as_i64().expect("id")))
        .collect();
    let created: Value = serde_json::from_str(&ok(
        &install,
        &["requests", "create", "Single sign-on with Okta", "--description", "SSO and SAML", "--format", "json"],
    ))
    .expect("request json");
    let request = created["id"].as_i64().expect("request id").to_string();

    let first = suggested(&install, &request);
    let sso: Vec<i64> = ["sso-1", "sso-2", "sso-3"].iter().map(|id| item[*id]).collect();
    let mut offered = ids(&first, "item_id");
    assert_eq!(offered.len(), 3, "the three SSO tickets and no CSV one: {first:?}");
    offered.sort_unstable();
    assert_eq!(offered, sso);
    for suggestion in &first {
        let shared = suggestion["shared_terms"].as_array().expect("shared terms");
        assert!(shared.iter().any(|word| word == "okta"), "{suggestion}");
    }
    let table = ok(&install, &["requests", "suggestions", &request]);
    assert!(table.contains("shared terms") && table.contains("okta"), "{table}");

    let (accepted, rejected) = (first[0]["item_id"].as_i64().expect("id"), first[1]["item_id"].as_i64().expect("id"));
    ok(&install, &["requests", "accept", &request, &accepted.to_string()]);
    ok(&install, &["requests", "reject", &request, &rejected.to_string()]);
    let shown: Value =
        serde_json::from_str(&ok(&install, &["requests", "show", &request, "--format", "json"])).expect("json");
    assert_eq!(shown["links"][0]["item_id"], accepted, "{shown}");
    assert_eq!(shown["links"][0]["provenance"], "suggestion", "{shown}");
    let after = ids(&suggested(&install, &request), "item_id");
    assert!(!after.contains(&accepted) && !after.contains(&rejected), "{after:?}");

    let last = *sso.iter().find(|id| **id != accepted && **id != rejected).expect("a third SSO item");
    let likely = json_lines(&ok(&install, &["requests", "likely", &last.to_string(), "--format", "json"]));
    assert_eq!(likely.first().map(|r| r["request_id"].to_string()), Some(request.clone()), "{likely:?}");
    let rejected_likely = json_lines(&ok(&install, &["requests", "likely", &rejected.to_string(), "--format", "json"]));
    assert!(rejected_likely.is_empty(), "rejected for the only request: {rejected_likely:?}");

    let missing = install.run(&["requests", "suggestions", "999999"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("request 999999 not found"), "{stderr}");
}

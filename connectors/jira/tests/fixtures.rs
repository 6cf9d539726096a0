//! Every vendor payload in `../shared/fixtures/jira` parses and maps.
//!
//! The fixtures are Atlassian's own examples and responses recorded from a real site
//! (see `shared/fixtures/PROVENANCE.md`). They are read in place; when `../shared` is
//! absent the tests print a notice and pass.

use std::path::PathBuf;

use chorus_connector_jira::adf;
use chorus_connector_jira::client::{Myself, SearchPage};
use chorus_connector_jira::config::MappingConfig;
use chorus_connector_jira::mapping::Mapper;
use chorus_core::Kind;
use serde_json::{json, Value};
use url::Url;

fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/jira");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: {} not found", dir.display());
        None
    }
}

fn read(dir: &std::path::Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn mapper() -> Mapper {
    let mapping = MappingConfig { account_field: Some("customfield_10003".into()), ..MappingConfig::default() };
    Mapper { site: Url::parse("https://airbyteio.atlassian.net").expect("url"), mapping }
}

#[test]
fn every_fixture_parses_and_what_is_an_issue_maps() {
    let Some(dir) = fixtures() else {
        return;
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(!names.is_empty());
    let mapper = mapper();
    for name in &names {
        let value = read(&dir, name);
        // Search pages (enhanced, legacy, recorded): the envelope parses, every issue maps.
        if value.get("issues").is_some() {
            let page: SearchPage = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!page.issues.is_empty(), "{name}");
            for issue in &page.issues {
                let item = mapper.item(issue, None).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(!item.title.is_empty() && !item.external_id.is_empty(), "{name}");
                assert_eq!(item.raw, *issue);
            }
        } else if value.get("fields").is_some() {
            mapper.item(&value, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else if let Some(comments) = value.get("comments").and_then(Value::as_array) {
            let issue = json!({"id": "1", "key": "X-1", "fields": {"comment": value}});
            let item = mapper.item(&issue, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(item.comments.len(), comments.len(), "{name}");
            assert!(item.comments.iter().all(|c| !c.body.is_empty()), "{name}");
        } else if value.get("accountId").is_some() {
            let myself: Myself = serde_json::from_value(value).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(myself.time_zone.is_some(), "{name}");
        } else {
            // Changelogs and field lists: not read by the connector; they must at least be JSON.
            println!("{name}: parsed (not an issue payload)");
        }
    }
}

#[test]
fn recorded_issue_maps_to_the_expected_item() {
    let Some(dir) = fixtures() else {
        return;
    };
    let recorded = read(&dir, "airbyte_issues_airbyteio.json");
    let item = mapper().item(&recorded["issues"][0], None).expect("maps");
    assert_eq!(item.external_id, "10627");
    assert_eq!(item.key.as_deref(), Some("TESTKEY13-1"));
    assert_eq!(item.kind, Kind::SupportTicket, "an Epic is not feedback by default");
    assert_eq!(item.title, "My Summary");
    assert_eq!(item.body, "Test issue");
    assert_eq!(item.status, "To Do");
    assert_eq!(item.priority.as_deref(), Some("Low"));
    assert_eq!(item.tags, ["test", "status-category:new"]);
    assert_eq!(item.url.as_deref(), Some("https://airbyteio.atlassian.net/browse/TESTKEY13-1"));
    assert_eq!(item.author.email.as_deref(), Some("integration-test@airbyte.io"));
    // `customfield_10003` holds users here: their display name is the configured "name".
    assert_eq!(item.account_name.as_deref(), Some("integration test"));
    assert_eq!(item.created_at.to_rfc3339(), "2022-06-09T23:29:31.871+00:00");
    assert_eq!(item.updated_at.to_rfc3339(), "2022-12-08T10:22:18.889+00:00");
}

#[test]
fn recorded_comments_keep_visibility_and_text() {
    let Some(dir) = fixtures() else {
        return;
    };
    let page = read(&dir, "airbyte_issue_comments_airbyteio.json");
    let issue = json!({"id": "10625", "fields": {"comment": page}});
    let item = mapper().item(&issue, None).expect("maps");
    // The recording lists the newest first; items keep comments oldest first.
    let ids: Vec<&str> = item.comments.iter().map(|c| c.external_id.as_str()).collect();
    assert_eq!(ids, ["10521", "10755"]);
    let closed = &item.comments[1];
    assert_eq!(closed.body, "Closed");
    assert!(item.comments.iter().all(|c| c.public), "jsdPublic: true everywhere");
    assert_eq!(closed.author.email.as_deref(), Some("integration-test@airbyte.io"));
    // The vendor example restricts its comment to a role: not public.
    let example = read(&dir, "spec_example_issue_comments_200.json");
    let item = mapper().item(&json!({"id": "1", "fields": {"comment": example}}), None).expect("maps");
    assert_eq!(item.comments.len(), 1);
    assert!(!item.comments[0].public);
    assert!(adf::to_text(&example["comments"][0]["body"]).starts_with("Lorem ipsum"));
}

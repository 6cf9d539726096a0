//! Every Slack payload in `../shared/fixtures/slack` parses and maps, or is recognized
//! as the error it is. The signing-secret test vector belongs to webhooks and is only
//! parsed here.

use std::path::{Path, PathBuf};

use chorus_connector_slack::mapping::{self, ChannelContext, MessageRole, People};
use chorus_connector_slack::Ts;
use chorus_core::{Kind, Record};
use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/slack");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: {} is absent (vendor recordings are not part of the repository)", dir.display());
        None
    }
}

fn read(dir: &Path, name: &str) -> Result<Value, Box<dyn std::error::Error>> {
    Ok(serde_json::from_str(&std::fs::read_to_string(dir.join(name))?)?)
}

fn channel() -> ChannelContext {
    ChannelContext {
        id: "C012AB3CD".into(),
        name: "general".into(),
        kind: Kind::FeatureRequest,
        account: None,
        team_url: None,
    }
}

#[test]
fn every_fixture_parses_and_maps_or_is_a_known_error() -> TestResult {
    let Some(dir) = fixtures() else { return Ok(()) };
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        let body = read(&dir, &name)?;
        seen += 1;
        if name == "signing_secret_test_vector.json" {
            assert!(body["expected_signature"].as_str().is_some_and(|s| s.starts_with("v0=")));
            continue;
        }
        if body["ok"] == false {
            // An error answer (or a Java SDK skeleton whose every field is blanked).
            assert!(body.get("error").is_some_and(Value::is_string), "{name}: an error names itself");
            continue;
        }
        assert_eq!(body["ok"], true, "{name}");
        if let Some(messages) = body.get("messages").and_then(Value::as_array) {
            let people = People::default();
            for message in messages {
                assert!(mapping::ts_of(message, "ts").is_some(), "{name}: ts");
                if mapping::role(message) == MessageRole::Item {
                    let record = mapping::thread(&channel(), message, &[], &people);
                    assert!(matches!(record, Ok(Record::Item(_))), "{name}: {record:?}");
                }
            }
        }
        if let Some(user) = body.get("user") {
            let mut people = People::default();
            let id = user["id"].as_str().unwrap_or("U0");
            people.learn(id, Some(user));
            assert!(people.knows(id), "{name}");
        }
        if let Some(channels) = body.get("channels").and_then(Value::as_array) {
            assert!(channels.iter().all(|c| c["id"].is_string() && c["name"].is_string()), "{name}");
        }
    }
    assert!(seen >= 27, "all fixtures were read: {seen}");
    Ok(())
}

#[test]
fn a_thread_from_the_spec_maps_to_one_item_with_its_replies() -> TestResult {
    let Some(dir) = fixtures() else { return Ok(()) };
    let body = read(&dir, "spec_example_conversations.replies_200.json")?;
    let messages = body["messages"].as_array().ok_or("messages")?;
    let (parent, replies) = messages.split_first().ok_or("a parent")?;
    let Ok(Record::Item(item)) = mapping::thread(&channel(), parent, replies, &People::default()) else {
        return Err("an item".into());
    };
    assert_eq!(item.external_id, "C012AB3CD:1482960137.003543");
    assert_eq!(item.title, "island");
    let bodies: Vec<&str> = item.comments.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, ["one island", "two island", "three for the land"]);
    assert_eq!(item.updated_at, Ts::parse("1483125339.020269").ok_or("ts")?.to_datetime());
    let history = read(&dir, "spec_example_conversations.history_200.json")?;
    assert!(history["response_metadata"]["next_cursor"].as_str().is_some_and(|c| !c.is_empty()), "more pages");
    let listed = read(&dir, "python_sdk_fixture_conversations_list.json")?;
    assert_eq!(listed["response_metadata"]["next_cursor"], "", "the end of a list is an empty cursor");
    let user = read(&dir, "spec_example_users.info_200.json")?;
    let mut people = People::default();
    people.learn("W012A3CDE", user.get("user"));
    let parent = serde_json::json!({"type": "message", "user": "W012A3CDE", "text": "hi", "ts": "1.000001"});
    let Ok(Record::Item(item)) = mapping::thread(&channel(), &parent, &[], &people) else { return Err("item".into()) };
    assert_eq!(item.author.email.as_deref(), Some("spengler@ghostbusters.example.com"));
    Ok(())
}

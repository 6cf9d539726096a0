//! Every recorded Zendesk response in `../shared/fixtures/zendesk` parses and maps.
//!
//! The recordings are GPL-3.0 (see `PROVENANCE.md`), so they are read in place and
//! never copied into this repository; without them the test prints a notice and passes.

use std::path::{Path, PathBuf};

use chorus_connector_zendesk::client::{parse_cursor_page, parse_time_page};
use chorus_connector_zendesk::mapping::{Mapper, People};
use chorus_connector_zendesk::ZendeskConfig;
use chorus_core::{EntityKind, Kind, Record};
use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/zendesk");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: {} is absent (vendor recordings are not part of the repository)", dir.display());
        None
    }
}

fn read(path: &Path) -> Result<Value, Box<dyn std::error::Error>> {
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

fn mapper() -> Result<Mapper, serde_json::Error> {
    let config: ZendeskConfig = serde_json::from_value(serde_json::json!({
        "base_url": "https://d3v-zenpydev.zendesk.com",
        "auth": {"type": "basic", "email": "ops@example.com", "api_token": "t"},
        "contact_roles": ["end-user", "agent", "admin"],
    }))?;
    Ok(Mapper::new(&config))
}

/// What one file mapped to.
#[derive(Debug, Default)]
struct Mapped {
    items: Vec<chorus_core::ItemRecord>,
    tombstones: usize,
    accounts: usize,
    contacts: usize,
}

fn map_file(body: &Value, mapper: &Mapper) -> Result<Mapped, String> {
    let mut mapped = Mapped::default();
    let mut people = People::default();
    let list = |key: &str| body.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    people.learn(&list("users"));
    for ticket in list("tickets") {
        match mapper.ticket(&ticket, &people, chorus_connector_zendesk::mapping::Thread::Description) {
            Some(Record::Item(item)) => mapped.items.push(item),
            Some(Record::Deleted { entity: EntityKind::Item, .. }) => mapped.tombstones += 1,
            other => return Err(format!("ticket {:?} mapped to {other:?}", ticket.get("id"))),
        }
    }
    for org in list("organizations") {
        match mapper.organization(&org) {
            Some(Record::Account(_)) => mapped.accounts += 1,
            other => return Err(format!("organization {:?} mapped to {other:?}", org.get("id"))),
        }
    }
    let users = list("users").into_iter().chain(list("results"));
    for user in users {
        match mapper.user(&user) {
            Some(Record::Contact(_)) => mapped.contacts += 1,
            None if user.get("email").is_none_or(Value::is_null) => {}
            other => return Err(format!("user {:?} mapped to {other:?}", user.get("id"))),
        }
    }
    Ok(mapped)
}

#[test]
fn every_recording_parses_and_maps() -> TestResult {
    let Some(dir) = fixtures() else { return Ok(()) };
    let mapper = mapper()?;
    let mut files = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if !name.ends_with(".json") || name.ends_with(".meta.json") {
            continue;
        }
        files += 1;
        let body = read(&path)?;
        let meta = read(&path.with_file_name(name.replace(".json", ".meta.json")))?;
        let status = meta["response"]["status"]["code"].as_u64().ok_or(format!("{name}: no status in meta"))?;
        let uri = meta["request"]["uri"].as_str().unwrap_or_default();
        if uri.contains("/incremental/") && uri.contains("/cursor.json") {
            let entity = if uri.contains("/users/") { "users" } else { "tickets" };
            let page = parse_cursor_page(&body, entity)?;
            assert!(page.after_cursor.is_some(), "{name}: a cursor page names its after_cursor");
        } else if uri.contains("/incremental/") {
            let entity = if uri.contains("users") { "users" } else { "tickets" };
            let page = parse_time_page(&body, entity)?;
            assert!(page.end_time.is_some(), "{name}: a time page names its end_time");
        }
        if status >= 400 {
            assert!(body.get("error").is_some(), "{name}: error bodies carry `error`");
        }
        let mapped = map_file(&body, &mapper).map_err(|e| format!("{name}: {e}"))?;
        for item in &mapped.items {
            assert!(!item.title.is_empty(), "{name}: ticket {} has a title", item.external_id);
            let url = item.url.as_deref().unwrap_or_default();
            assert!(url.starts_with("https://d3v-zenpydev.zendesk.com/agent/tickets/"), "{name}: {url}");
            assert!(item.raw.is_object(), "{name}: raw is kept");
        }
        for header in ["x-rate-limit", "x-rate-limit-remaining"] {
            if let Some(values) = meta["response"]["headers"][header].as_array() {
                let value = values.first().and_then(Value::as_str).unwrap_or_default();
                assert!(value.parse::<u64>().is_ok(), "{name}: {header} is `{value}`");
            }
        }
    }
    assert!(files >= 20, "expected the zendesk recordings, found {files} files");
    Ok(())
}

#[test]
fn the_thousand_ticket_page_holds_515_tombstones() -> TestResult {
    let Some(dir) = fixtures() else { return Ok(()) };
    let body = read(&dir.join("incremental_tickets_cursor_start0_1000_per_page.json"))?;
    let page = parse_cursor_page(&body, "tickets")?;
    assert_eq!(page.items.len(), 1000);
    assert!(!page.end_of_stream);
    let mapped = map_file(&body, &mapper()?)?;
    assert_eq!(mapped.tombstones, 515);
    assert_eq!(mapped.items.len(), 485);
    Ok(())
}

#[test]
fn recorded_tickets_map_field_by_field() -> TestResult {
    let Some(dir) = fixtures() else { return Ok(()) };
    let body = read(&dir.join("incremental_tickets_cursor_start0_end_of_stream.json"))?;
    let page = parse_cursor_page(&body, "tickets")?;
    assert!(page.end_of_stream);
    let mapped = map_file(&body, &mapper()?)?;
    assert_eq!(mapped.tombstones, 1);
    let first = mapped.items.iter().find(|i| i.external_id == "28").ok_or("ticket 28 is in the page")?;
    assert_eq!(first.title, "test");
    assert_eq!(first.body, "test");
    assert_eq!(first.status, "new");
    assert_eq!(first.kind, Kind::SupportTicket);
    assert_eq!(first.account_external_id.as_deref(), Some("6130869157658"));
    assert_eq!(first.url.as_deref(), Some("https://d3v-zenpydev.zendesk.com/agent/tickets/28"));
    assert_eq!(first.updated_at.to_rfc3339(), "2023-09-18T15:57:42+00:00");
    let incident = mapped.items.iter().find(|i| i.raw["type"] == "incident").ok_or("an incident is in the page")?;
    assert_eq!(incident.kind, Kind::Bug);
    let tagged = mapped.items.iter().find(|i| !i.tags.is_empty()).ok_or("a tagged ticket is in the page")?;
    assert!(tagged.tags.iter().all(|t| !t.is_empty()));
    Ok(())
}

#[test]
fn recorded_organizations_and_users_map() -> TestResult {
    let Some(dir) = fixtures() else { return Ok(()) };
    let mapper = mapper()?;
    let orgs = read(&dir.join("organizations_offset_page.json"))?;
    let org = orgs["organizations"].get(0).ok_or("an organization")?;
    match mapper.organization(org) {
        Some(Record::Account(account)) => {
            assert_eq!(account.external_id, org["id"].to_string());
            assert!(!account.name.is_empty());
        }
        other => return Err(format!("organization mapped to {other:?}").into()),
    }
    let users = read(&dir.join("incremental_users_cursor_per_page1.json"))?;
    let user = users["users"].get(0).ok_or("a user")?;
    match mapper.user(user) {
        Some(Record::Contact(contact)) => {
            assert_eq!(contact.email, "customer@example.com");
            assert_eq!(contact.external_id, "6130869168922");
            assert_eq!(contact.account_external_id, None);
        }
        other => return Err(format!("user mapped to {other:?}").into()),
    }
    Ok(())
}

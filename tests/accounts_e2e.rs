//! End-to-end: the account graph through the `chorus` command line over the simulators —
//! a Zendesk organization merged into its Salesforce account by id, the triage queue and
//! a manual link, a split that stays split through a full Zendesk re-sync and gives each
//! half its own records' fields, and a merge by hand.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use chorus_sim::zendesk::{ZendeskSim, ZendeskSimConfig};
use chorus_sim::{FaultProfile, SimClock, SimServer, SimThread};
use serde_json::Value;
use support::{chorus_bin, describe};

fn chorus(config: &Path, args: &[&str]) -> Output {
    std::process::Command::new(chorus_bin()).arg("--config").arg(config).args(args).output().expect("spawn chorus")
}

fn ok(config: &Path, args: &[&str]) -> String {
    let output = chorus(config, args);
    assert!(output.status.success(), "chorus {args:?}: {}", describe(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|line| serde_json::from_str(line).expect("each line is JSON")).collect()
}

fn demo(dir: &Path) -> PathBuf {
    let demo_dir = dir.join("demo");
    let output = std::process::Command::new(chorus_bin())
        .args(["demo", "--no-serve", "--dir"])
        .arg(&demo_dir)
        .output()
        .expect("spawn chorus demo");
    assert!(output.status.success(), "{}", describe(&output));
    demo_dir.join("chorus.toml")
}

/// The Zendesk simulator as `chorus demo` seeds it.
fn zendesk_again() -> SimThread {
    let config = ZendeskSimConfig {
        seed: 2026,
        tickets: 300,
        email: "demo@chorus.example".into(),
        api_token: "demo-token".into(),
        incremental_window: std::time::Duration::from_secs(1),
        ..ZendeskSimConfig::default()
    };
    let sim = ZendeskSim::new(config, SimClock::system());
    SimServer::start_in_thread(sim.router(), FaultProfile::none()).expect("start zendesk simulator")
}

/// Points connector `id` of the config at `url`.
fn repoint(config: &Path, id: &str, url: &str) {
    let text = std::fs::read_to_string(config).expect("read config");
    let start = text.find(&format!("id = \"{id}\"")).expect("connector in config");
    let line = start + text[start..].find("base_url = \"").expect("base_url");
    let end = line + text[line..].find('\n').expect("line end");
    let text = format!("{}base_url = \"{url}\"{}", &text[..line], &text[end..]);
    std::fs::write(config, text).expect("write config");
}

fn external(account: &Value, source: &str) -> Vec<String> {
    account["external_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["source"] == source)
        .filter_map(|x| x["id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn id_merge_triage_link_split_and_merge_over_the_simulators() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = demo(dir.path());

    // The Zendesk organization whose external_id is Acme Corp's Salesforce id is Acme
    // Corp, although their names and domains differ.
    let accounts = json_lines(&ok(&config, &["accounts", "list", "--format", "json", "--limit", "500"]));
    let crm_id = chorus_sim::salesforce::customer_account_id(0);
    let acme = accounts.iter().find(|a| external(a, "salesforce").contains(&crm_id)).expect("Acme Corp synced");
    let acme_id = acme["id"].as_i64().expect("id");
    let orgs = external(acme, "zendesk");
    assert_eq!(orgs.len(), 1, "one Zendesk organization joined by id: {acme}");
    // Plan and renewal from the org's custom fields; the stage from `Type` through the map.
    assert_eq!((&acme["plan"], &acme["renewal_date"]), (&Value::from("Enterprise"), &Value::from("2027-03-31")));
    assert_eq!(acme["lifecycle_stage"], "retention", "{acme}");
    let wonka = accounts
        .iter()
        .find(|a| a["name"] == "Wonka" && !external(a, "salesforce").is_empty())
        .expect("the prospect synced");
    assert_eq!(wonka["lifecycle_stage"], "acquisition", "`Prospect` maps over the import's `reach`: {wonka}");
    assert!(acme["domains"].as_array().is_some_and(|d| d.len() >= 2), "both sources' domains: {acme}");
    let shown = ok(&config, &["accounts", "show", &acme_id.to_string()]);
    assert!(shown.contains("joined by same_as") && shown.contains("says it is salesforce:"), "{shown}");
    assert!(shown.contains("health:") && shown.contains("risks:"), "{shown}");
    let detail: Value =
        serde_json::from_str(&ok(&config, &["accounts", "show", &acme_id.to_string(), "--format", "json"]))
            .expect("json");
    assert!(detail["health"]["history"].as_array().is_some_and(|h| !h.is_empty()), "{detail}");

    // Triage: items of free-mail authors resolve to nobody until a person links them.
    let queue = json_lines(&ok(&config, &["triage", "--format", "json", "--limit", "500"]));
    assert!(!queue.is_empty(), "the simulators seed free-mail authors");
    let stray = queue[0]["id"].as_i64().expect("item id");
    let both = chorus(&config, &["link", &stray.to_string(), "--account", "1", "--request", "1"]);
    assert!(!both.status.success(), "exactly one target");
    ok(&config, &["link", &stray.to_string(), "--account", &acme_id.to_string()]);
    let queue = json_lines(&ok(&config, &["triage", "--format", "json", "--limit", "500"]));
    assert!(queue.iter().all(|item| item["id"] != stray), "a linked item leaves the queue");

    // Split the organization off; a full re-sync of both sources keeps it apart.
    let record = format!("zendesk:{}", orgs[0]);
    let split = ok(&config, &["accounts", "split", &acme_id.to_string(), "--record", &record]);
    let new_id: i64 = split
        .split_once("into account ")
        .and_then(|(_, rest)| rest.split(';').next()?.trim().parse().ok())
        .unwrap_or_else(|| panic!("new account id in: {split}"));
    // The demo's simulators stopped with it: Zendesk's comes back with the same seed.
    let zendesk = zendesk_again();
    repoint(&config, "zendesk", &zendesk.handle().url());
    ok(&config, &["sync", "--connector", "zendesk", "--full"]);
    let after: Value =
        serde_json::from_str(&ok(&config, &["accounts", "show", &new_id.to_string(), "--format", "json"]))
            .expect("json");
    assert_eq!(external(&after["account"], "zendesk"), orgs, "{after}");
    let stayed: Value =
        serde_json::from_str(&ok(&config, &["accounts", "show", &acme_id.to_string(), "--format", "json"]))
            .expect("json");
    assert!(external(&stayed["account"], "zendesk").is_empty(), "still split: {stayed}");
    // Each half carries its own records' fields: the CRM's ARR and plan stay, the
    // organization took its own ARR and segment and has no plan.
    assert_eq!(
        (&stayed["account"]["arr_minor"], &stayed["account"]["currency"]),
        (&Value::from(125_000_000), &Value::from("USD"))
    );
    assert_eq!(stayed["account"]["plan"], "Enterprise", "{stayed}");
    assert!(after["account"]["plan"].is_null() && after["account"]["segment"].is_string(), "{after}");
    assert_ne!(after["account"]["arr_minor"], 125_000_000, "{after}");
    assert!(stayed["kept_apart"].as_array().is_some_and(|k| !k.is_empty()), "{stayed}");
    // The manual link stays through split and re-sync.
    let item = json_lines(&ok(&config, &["export", "items"]))
        .into_iter()
        .find(|item| item["id"] == stray)
        .expect("linked item exported");
    assert_eq!(item["account_id"].as_i64(), Some(acme_id));

    // A person merges them again; the old id says where it went.
    ok(&config, &["accounts", "merge", &acme_id.to_string(), &new_id.to_string()]);
    let gone = ok(&config, &["accounts", "show", &new_id.to_string()]);
    assert!(gone.contains(&format!("merged into {acme_id}")), "{gone}");
    let missing = chorus(&config, &["accounts", "show", "999999"]);
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("no account 999999"));
}

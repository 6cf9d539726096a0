//! End-to-end: the `chorus` command line as a user meets it — init, check, import,
//! export — and the one-line errors it gives for bad configuration.

mod support;

use chorus_sim::{FaultProfile, FeedSim, SimServer};
use support::{chorus_bin, describe, feed_connector, Install};

#[test]
fn init_writes_a_config_that_loads_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("chorus.toml");
    let run = |args: &[&str]| {
        std::process::Command::new(chorus_bin())
            .current_dir(dir.path())
            .env_remove("CHORUS_CONFIG")
            .args(args)
            .output()
            .expect("spawn chorus")
    };
    let init = run(&["init"]);
    assert!(init.status.success(), "{}", describe(&init));
    assert!(config.exists());
    let again = run(&["init"]);
    assert!(!again.status.success(), "init must not overwrite");
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let check = run(&["check"]);
    assert!(check.status.success(), "the example config loads: {}", describe(&check));
}

/// Each bad config fails `chorus check` with one line naming the problem.
#[test]
fn bad_configs_fail_with_a_one_line_reason() {
    let cases: &[(&str, &str)] = &[
        ("[store]\nurl = \"sqlite://x.db\"\ntypo = 1\n", "typo"),
        ("[[connectors]]\nid = \"x\"\nkind = \"nope\"\n", "known kinds: feed"),
        ("[[connectors]]\nid = \"x\"\nkind = \"feed\"\n[connectors.settings]\nbase_url = \"http://feed.example.com\"\n", "allow_insecure_endpoints"),
        ("[[connectors]]\nid = \"x\"\nkind = \"feed\"\n[connectors.settings]\nbase_url = \"https://127.0.0.1:9\"\n", "allow_insecure_endpoints"),
        ("[[connectors]]\nid = \"x\"\nkind = \"feed\"\nschedule = \"every tuesday\"\n[connectors.settings]\nbase_url = \"https://a.example.com\"\n", "schedule"),
        ("[[connectors]]\nid = \"Bad Id\"\nkind = \"feed\"\n", "id"),
        ("[[connectors]]\nid = \"x\"\nkind = \"feed\"\n[connectors.settings]\nbase_url = \"https://a.example.com\"\n[connectors.settings.auth]\ntype = \"bearer\"\ntoken = \"${CHORUS_TEST_UNSET_TOKEN}\"\n", "CHORUS_TEST_UNSET_TOKEN"),
    ];
    for (config, expected) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chorus.toml");
        std::fs::write(&path, config).expect("write config");
        let output = std::process::Command::new(chorus_bin())
            .current_dir(dir.path())
            .arg("--config")
            .arg(&path)
            .arg("check")
            .env_remove("CHORUS_TEST_UNSET_TOKEN")
            .output()
            .expect("spawn chorus");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "accepted a bad config:\n{config}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(expected), "error for\n{config}\nshould mention `{expected}`: {stderr}");
    }
}

#[test]
fn secrets_never_reach_the_output() {
    let sim = FeedSim::seeded(1, 10);
    let server = SimServer::start_in_thread(sim.router(), FaultProfile::none()).expect("start simulator");
    let install = Install::new(&feed_connector(
        "feed",
        &server.handle().url(),
        "[connectors.settings.auth]\ntype = \"bearer\"\ntoken = \"${CHORUS_TEST_FEED_TOKEN}\"",
    ));
    let output = install
        .command(&["-vv", "check"])
        .env("CHORUS_TEST_FEED_TOKEN", "tok-supersecret-123")
        .output()
        .expect("spawn");
    let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{}", describe(&output));
    assert!(!all.contains("tok-supersecret-123"), "the token was printed:\n{all}");
}

#[test]
fn sync_export_import_round_trip() {
    let sim = FeedSim::seeded(8, 120);
    let server = SimServer::start_in_thread(sim.router(), FaultProfile::none()).expect("start simulator");
    let install = Install::new(&feed_connector("feed", &server.handle().url(), ""));

    let accounts = r#"{"name":"Acme Corp","domains":["acme.example"],"arr_minor":125000000,"currency":"USD","segment":"enterprise","lifecycle_stage":"retention","external_ids":[{"connector":"feed","source":"feed","id":"ACME-1"}]}"#;
    let accounts_file = install.dir.path().join("accounts.jsonl");
    std::fs::write(&accounts_file, format!("{accounts}\n")).expect("write accounts");
    let import = install.run(&["import", "accounts", accounts_file.to_str().expect("utf-8 path")]);
    assert!(import.status.success(), "{}", describe(&import));

    let sync = install.run(&["sync"]);
    assert!(sync.status.success(), "{}", describe(&sync));
    let export = install.run(&["export", "items"]);
    assert!(export.status.success(), "{}", describe(&export));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&export.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), sim.truth().iter().filter(|r| !r.deleted).count());
    for field in [
        "id",
        "connector",
        "source",
        "external_id",
        "kind",
        "title",
        "body",
        "url",
        "status",
        "author_email",
        "account_id",
        "request_ids",
        "created_at",
        "updated_at",
    ] {
        assert!(lines[0].get(field).is_some(), "export lacks `{field}`: {}", lines[0]);
    }
    let acme = lines.iter().filter(|l| l["raw"]["account_id"] == "ACME-1").collect::<Vec<_>>();
    assert!(
        !acme.is_empty() && acme.iter().all(|l| l["account_id"].is_i64()),
        "items naming ACME-1 link to the imported account"
    );
    assert!(lines.iter().all(|l| l["updated_at"].as_str().is_some_and(|t| t.ends_with('Z'))), "times are RFC 3339 UTC");

    // Items from a tool without a connector: the export's shape goes back in, idempotently.
    let items_file = install.dir.path().join("items.jsonl");
    std::fs::write(&items_file, &export.stdout).expect("write items");
    let path = items_file.to_str().expect("utf-8 path");
    let first = install.run(&["import", "items", path, "--connector", "legacy"]);
    assert!(first.status.success(), "{}", describe(&first));
    let second = install.run(&["import", "items", path, "--connector", "legacy"]);
    assert!(
        String::from_utf8_lossy(&second.stdout).contains(&format!("0 new or changed, {} unchanged", lines.len())),
        "{}",
        describe(&second)
    );
    let legacy = install.run(&["export", "items", "--connector", "legacy"]);
    assert_eq!(String::from_utf8_lossy(&legacy.stdout).lines().count(), lines.len());

    let bad = install.dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"external_id\":\"x\"}\n").expect("write");
    let refused = install.run(&["import", "items", bad.to_str().expect("utf-8 path")]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("line 1"), "{}", describe(&refused));
}

/// `make demo` in one test: every simulator synced by the real connectors over HTTP,
/// then searched, with no credentials and no network.
#[test]
fn demo_syncs_every_source_and_search_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo_dir = dir.path().join("demo");
    let output = std::process::Command::new(chorus_bin())
        .args(["demo", "--no-serve", "--dir"])
        .arg(&demo_dir)
        .output()
        .expect("spawn chorus demo");
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for connector in ["feed", "jira", "zendesk", "salesforce", "slack"] {
        let line = stdout.lines().find(|l| l.starts_with(connector) && l.contains("pages")).unwrap_or_default();
        assert!(line.contains("succeeded"), "{connector} did not sync: {stdout}");
    }
    // Salesforce's ARR (in its own currency) reaches the account the other sources know.
    let globex = stdout.lines().find(|l| l.starts_with("Globex ")).unwrap_or_default();
    assert!(globex.contains(" EUR") && globex.contains("salesforce") && globex.contains("zendesk"), "{stdout}");
    assert!(globex.contains("Enterprise") && globex.contains("retention") && globex.contains("2026-12-31"), "{stdout}");

    let config = demo_dir.join("chorus.toml");
    let search = std::process::Command::new(chorus_bin())
        .arg("--config")
        .arg(&config)
        .args(["search", "CSV export", "--format", "json", "--limit", "5"])
        .output()
        .expect("spawn chorus search");
    assert!(search.status.success(), "{}", describe(&search));
    let answer: serde_json::Value = serde_json::from_slice(&search.stdout).expect("search answers JSON");
    assert!(answer["total"].as_u64().is_some_and(|t| t > 0), "{answer}");
    assert!(answer["reach"]["accounts"].as_u64().is_some_and(|a| a > 0), "matches resolve to accounts: {answer}");
    let sources: Vec<&str> =
        answer["facets"]["source"].as_array().into_iter().flatten().filter_map(|f| f["value"].as_str()).collect();
    assert!(sources.len() >= 2, "matches come from several sources: {sources:?}");
    assert!(answer["hits"].as_array().is_some_and(|h| h.len() == 5));

    let hostile = std::process::Command::new(chorus_bin())
        .arg("--config")
        .arg(&config)
        .args(["search", "a:(^"])
        .output()
        .expect("spawn chorus search");
    assert!(!hostile.status.success());
    assert!(String::from_utf8_lossy(&hostile.stderr).contains("parentheses"), "{}", describe(&hostile));
}

#[test]
fn importing_items_into_a_configured_connector_is_refused() {
    let install = Install::new(&feed_connector("feed", "http://127.0.0.1:9", ""));
    let file = install.dir.path().join("items.jsonl");
    std::fs::write(&file, "").expect("write");
    let output = install.run(&["import", "items", file.to_str().expect("utf-8 path"), "--connector", "feed"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("configured connector"), "{}", describe(&output));
}

#[test]
fn a_misplaced_secret_is_not_echoed_by_the_config_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chorus.toml");
    let config = "[[connectors]]\nid = \"x\"\nkind = \"feed\"\n[connectors.settings]\nbase_url = \"https://a.example.com\"\nauth = \"${CHORUS_TEST_MISPLACED}\"\n";
    std::fs::write(&path, config).expect("write config");
    let output = std::process::Command::new(chorus_bin())
        .arg("--config")
        .arg(&path)
        .arg("check")
        .env("CHORUS_TEST_MISPLACED", "tok-misplaced-42")
        .output()
        .expect("spawn chorus");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("auth") || stderr.contains("settings"), "names where: {stderr}");
    assert!(!stderr.contains("tok-misplaced-42"), "the value was echoed: {stderr}");
}

#[test]
fn demo_refuses_a_directory_it_did_not_make() {
    let install = Install::new("");
    let output = std::process::Command::new(chorus_bin())
        .args(["demo", "--no-serve", "--dir"])
        .arg(install.dir.path())
        .output()
        .expect("spawn chorus demo");
    assert!(!output.status.success(), "the demo must not reset a real install");
    assert!(String::from_utf8_lossy(&output.stderr).contains("not made by `chorus demo`"), "{}", describe(&output));
    assert!(install.config_path().exists(), "the install's config is untouched");
}

#[test]
fn imported_tombstones_stay_deleted_and_mixed_connectors_are_refused() {
    let install = Install::new("");
    let line = |connector: &str, id: &str, deleted: bool| {
        let deleted_at = if deleted { "\"2026-02-01T00:00:00Z\"" } else { "null" };
        format!(
            "{{\"connector\":\"{connector}\",\"external_id\":\"{id}\",\"kind\":\"bug\",\"title\":\"t{id}\",\"created_at\":\"2026-01-01T00:00:00Z\",\"updated_at\":\"2026-01-01T00:00:00Z\",\"deleted_at\":{deleted_at}}}\n"
        )
    };
    let file = install.dir.path().join("items.jsonl");
    std::fs::write(&file, format!("{}{}", line("old", "1", false), line("old", "2", true))).expect("write");
    let path = file.to_str().expect("utf-8 path");
    let import = install.run(&["import", "items", path, "--connector", "legacy"]);
    assert!(import.status.success(), "{}", describe(&import));
    let live = install.run(&["export", "items"]);
    assert_eq!(String::from_utf8_lossy(&live.stdout).lines().count(), 1, "the tombstone stays out of the export");
    let all = install.run(&["export", "items", "--include-deleted"]);
    assert_eq!(String::from_utf8_lossy(&all.stdout).lines().count(), 2);

    std::fs::write(&file, format!("{}{}", line("a", "1", false), line("b", "1", false))).expect("write");
    let mixed = install.run(&["import", "items", path, "--connector", "legacy"]);
    assert!(!mixed.status.success());
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("several connectors"), "{}", describe(&mixed));
}

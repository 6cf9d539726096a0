//! End-to-end: revenue-weighted ranking through the `chorus` command line over the
//! Salesforce simulator — two requests asked for by two accounts rank by their ARR; the
//! accounts' `AnnualRevenue` changes at the source, the next incremental sync carries it,
//! and the ranking flips with a breakdown showing the new ARR and how it moved since the ask;
//! on SQLite, and on PostgreSQL when `CHORUS_TEST_PG_URL` is set.

mod support;

use chorus_sim::salesforce::{customer_account_id, SalesforceSim, SalesforceSimConfig};
use chorus_sim::{FaultProfile, SimClock, SimServer, SimThread};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use support::{describe, Install};

/// The Salesforce simulator's two hosts: the instance (data) and the login host naming it.
struct Org {
    sim: SalesforceSim,
    _instance: SimThread,
    login: SimThread,
}

fn start_org() -> Org {
    let sim =
        SalesforceSim::new(SalesforceSimConfig { seed: 2026, cases: 60, ..Default::default() }, SimClock::system());
    let instance = SimServer::start_in_thread(sim.instance_router(), FaultProfile::none()).expect("instance host");
    sim.set_instance_url(&instance.handle().url());
    let login = SimServer::start_in_thread(sim.login_router(), FaultProfile::none()).expect("login host");
    Org { sim, _instance: instance, login }
}

/// Default weights, every simulator currency priced, one Salesforce connector.
fn config(login_url: &str) -> String {
    format!(
        "[money]\nreporting_currency = \"USD\"\n\n[money.rates]\nEUR = \"1.08\"\nGBP = \"1.27\"\n\n\
         [[connectors]]\nid = \"crm\"\nkind = \"salesforce\"\nallow_insecure_endpoints = true\n\
         requests_per_minute = 60000\nburst = 1000\n\n[connectors.settings]\nlogin_url = \"{login_url}\"\n\n\
         [connectors.settings.auth]\ntype = \"client_credentials\"\nclient_id = \"sim-client\"\n\
         client_secret = \"sim-client-secret\"\n"
    )
}

fn ok(install: &Install, args: &[&str]) -> String {
    let output = install.run(args);
    assert!(output.status.success(), "chorus {args:?}: {}", describe(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|line| serde_json::from_str(line).expect("each line is JSON")).collect()
}

/// The store's account whose Salesforce record is `crm_id`.
fn account_of(accounts: &[Value], crm_id: &str) -> i64 {
    accounts
        .iter()
        .find(|a| {
            a["external_ids"].as_array().into_iter().flatten().any(|x| x["source"] == "salesforce" && x["id"] == crm_id)
        })
        .and_then(|a| a["id"].as_i64())
        .unwrap_or_else(|| panic!("account for {crm_id} synced"))
}

/// The default kind weights of `[priority.kind]`.
fn kind_weight(kind: &str) -> f64 {
    match kind {
        "support_ticket" => 0.5,
        "bug" | "feature_request" | "sales_blocker" => 1.0,
        other => panic!("unknown kind {other}"),
    }
}

/// An account's ask as the score sees it: its heaviest kind and its newest item.
struct Asks {
    item_ids: Vec<i64>,
    kind_weight: f64,
    newest: DateTime<Utc>,
}

/// `n` synced Salesforce items of `account` that are not sales blockers (no pipeline).
fn asks_of(items: &[Value], account: i64, n: usize) -> Asks {
    let chosen: Vec<&Value> = items
        .iter()
        .filter(|i| i["connector"] == "crm" && i["account_id"].as_i64() == Some(account))
        .filter(|i| i["kind"] != "sales_blocker" && i["deleted_at"].is_null())
        .take(n)
        .collect();
    assert_eq!(chosen.len(), n, "account {account} has {n} cases");
    let newest = chosen
        .iter()
        .map(|i| i["created_at"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok()).expect("created_at"))
        .max()
        .expect("one item");
    Asks {
        item_ids: chosen.iter().map(|i| i["id"].as_i64().expect("id")).collect(),
        kind_weight: chosen.iter().map(|i| kind_weight(i["kind"].as_str().expect("kind"))).fold(0.0, f64::max),
        newest,
    }
}

/// ARR (minor units) × kind weight × 2^(-age/90 days); no segment weight, no renewal.
fn expected(arr_minor: i64, asks: &Asks) -> f64 {
    let age_days = (Utc::now() - asks.newest).num_milliseconds() as f64 / 86_400_000.0;
    arr_minor as f64 * asks.kind_weight * (-age_days / 90.0).exp2()
}

fn assert_close(actual: &Value, expected: f64, what: &str) {
    let actual = actual.as_f64().unwrap_or_else(|| panic!("{what}: not a number: {actual}"));
    assert!((actual - expected).abs() <= expected.abs() * 1e-5, "{what}: {actual} != {expected}");
}

/// `requests list` as JSON: (request id, row) by rank.
fn ranking(install: &Install) -> Vec<(i64, Value)> {
    json_lines(&ok(install, &["requests", "list", "--format", "json"]))
        .into_iter()
        .map(|row| (row["request_id"].as_i64().expect("request_id"), row))
        .collect()
}

/// The one counted account of a request's breakdown.
fn factor(install: &Install, request: i64) -> Value {
    let shown: Value =
        serde_json::from_str(&ok(install, &["requests", "show", &request.to_string(), "--format", "json"]))
            .expect("json");
    let accounts = shown["score"]["accounts"].as_array().expect("breakdown");
    assert_eq!(accounts.len(), 1, "one account counted: {shown}");
    accounts[0].clone()
}

fn create(install: &Install, title: &str) -> i64 {
    let created: Value =
        serde_json::from_str(&ok(install, &["requests", "create", title, "--format", "json"])).expect("request json");
    created["id"].as_i64().expect("request id")
}

#[test]
fn ranking_follows_arr_changed_at_the_source_after_an_incremental_sync() {
    let org = start_org();
    let install = Install::new(&config(&org.login.handle().url()));
    ranking_follows_arr(&org, &install);
}

/// The same over PostgreSQL, where the demand aggregates are kept by the other dialect.
#[test]
fn ranking_follows_arr_changed_at_the_source_on_postgres() {
    let Ok(pg_url) = std::env::var("CHORUS_TEST_PG_URL") else {
        eprintln!("skipped: CHORUS_TEST_PG_URL not set, the PostgreSQL ranking test did not run");
        return;
    };
    let schema = format!("chorus_e2e_rank_{}", std::process::id());
    let rt = support::runtime();
    rt.block_on(chorus_store::postgres::open_isolated(&pg_url, &schema)).expect("create schema");
    let separator = if pg_url.contains('?') { '&' } else { '?' };
    let url = format!("{pg_url}{separator}options=-c%20search_path%3D{schema}");
    let org = start_org();
    let install = Install::with_store_url(&url, &config(&org.login.handle().url()));
    ranking_follows_arr(&org, &install);
    rt.block_on(chorus_store::postgres::drop_isolated(&pg_url, &schema)).expect("drop schema");
}

fn ranking_follows_arr(org: &Org, install: &Install) {
    ok(install, &["sync", "--connector", "crm"]);

    let accounts = json_lines(&ok(install, &["accounts", "list", "--format", "json", "--limit", "500"]));
    let acme_crm = customer_account_id(0);
    let initech_crm = customer_account_id(2);
    let acme = account_of(&accounts, &acme_crm);
    let initech = account_of(&accounts, &initech_crm);
    let items = json_lines(&ok(install, &["export", "items"]));
    // Two of Acme's people ask for one thing (Acme counts once); Initech for another.
    let acme_asks = asks_of(&items, acme, 2);
    let initech_asks = asks_of(&items, initech, 1);

    let sso = create(install, "Single sign-on for contractors");
    let export = create(install, "Scheduled CSV export");
    let sso_text = sso.to_string();
    let acme_items: Vec<String> = acme_asks.item_ids.iter().map(i64::to_string).collect();
    let mut link = vec!["requests", "link", sso_text.as_str()];
    link.extend(acme_items.iter().map(String::as_str));
    ok(install, &link);
    ok(install, &["link", &initech_asks.item_ids[0].to_string(), "--request", &export.to_string()]);

    // Seeded ARR: Acme Corp 1 250 000.00 USD, Initech 96 000.00 USD.
    let before = ranking(install);
    assert_eq!(before.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![sso, export], "{before:?}");
    let (_, first) = &before[0];
    assert_eq!(first["rank"], 1);
    assert_eq!(first["counts"]["accounts"], 1, "{first}");
    assert_eq!(first["counts"]["items"], 2, "{first}");
    assert_eq!(first["pipeline_total"].as_f64(), Some(0.0), "{first}");
    assert_eq!(first["top_accounts"][0]["account_id"].as_i64(), Some(acme), "{first}");
    assert_close(&first["score"], expected(125_000_000, &acme_asks), "Acme's request before");
    assert_close(&before[1].1["score"], expected(9_600_000, &initech_asks), "Initech's request before");
    let acme_factor = factor(install, sso);
    assert_eq!(acme_factor["segment_weight"].as_f64(), Some(1.0), "{acme_factor}");
    assert_eq!(acme_factor["renewal_boost"].as_f64(), Some(1.0), "{acme_factor}");
    assert_eq!(acme_factor["members"][0]["arr_change"], "unchanged", "{acme_factor}");

    // At the source: Acme shrinks to 40 000.00 USD, Initech grows to 300 000.00 USD.
    assert!(org.sim.update("Account", &acme_crm, &[("AnnualRevenue", json!(40_000.0))]));
    assert!(org.sim.update("Account", &initech_crm, &[("AnnualRevenue", json!(300_000.0))]));
    let queried = org.sim.queries().len();
    ok(install, &["sync", "--connector", "crm"]);
    // Incremental: the second sync reads only accounts stamped since its position.
    let account_reads: Vec<String> = org
        .sim
        .queries()
        .into_iter()
        .skip(queried)
        .filter(|q| q.contains("FROM Account") && !q.contains("IsDeleted = true"))
        .collect();
    assert!(
        !account_reads.is_empty() && account_reads.iter().all(|q| q.contains("WHERE SystemModstamp >")),
        "{account_reads:?}"
    );

    let after = ranking(install);
    assert_eq!(after.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![export, sso], "{after:?}");
    assert_close(&after[0].1["score"], expected(30_000_000, &initech_asks), "Initech's request after");
    assert_close(&after[1].1["score"], expected(4_000_000, &acme_asks), "Acme's request after");

    let shrunk = factor(install, sso);
    assert_eq!(shrunk["arr_minor"].as_i64(), Some(4_000_000), "{shrunk}");
    let member = &shrunk["members"][0];
    assert_eq!(
        (member["arr_minor"].as_i64(), member["arr_at_ask_minor"].as_i64()),
        (Some(4_000_000), Some(125_000_000))
    );
    assert_eq!(member["arr_change"], "shrunk", "{shrunk}");
    let grew = factor(install, export);
    assert_eq!(grew["arr_minor"].as_i64(), Some(30_000_000), "{grew}");
    assert_eq!(grew["members"][0]["arr_at_ask_minor"].as_i64(), Some(9_600_000), "{grew}");
    assert_eq!(grew["members"][0]["arr_change"], "grew", "{grew}");
}

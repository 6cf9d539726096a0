//! `chorus demo`: the whole product against built-in simulators, on loopback.
//!
//! Starts a simulator per source with seeded, realistic data, writes a config that
//! points real connectors at them (over real HTTP), imports the demo's customer
//! accounts, runs a full sync, prints what arrived, and serves until Ctrl-C. No
//! credentials, no network.

use std::path::Path;

use anyhow::Context;
use chorus_core::{ExternalId, LifecycleStage, Source};
use chorus_sim::jira::JiraSim;
use chorus_sim::salesforce::{SalesforceSim, SalesforceSimConfig};
use chorus_sim::slack::{SlackSim, SlackSimConfig};
use chorus_sim::zendesk::{ZendeskSim, ZendeskSimConfig};
use chorus_sim::{FaultProfile, FeedSim, SimServer};
use chorus_store::AccountImport;

use crate::runtime::App;

/// One of the demo's customers, as the CSM team would import them.
struct DemoAccount {
    /// The account's id in the feed simulator.
    feed_id: &'static str,
    name: &'static str,
    domains: &'static [&'static str],
    arr_dollars: i64,
    segment: &'static str,
    stage: LifecycleStage,
}

/// The demo's customers. Names and domains match the simulators' organizations, so
/// items from every source resolve to them.
const ACCOUNTS: &[DemoAccount] = &[
    DemoAccount {
        feed_id: "ACME-1",
        name: "Acme Corp",
        domains: &["acme.example", "acme-corp.com"],
        arr_dollars: 1_250_000,
        segment: "enterprise",
        stage: LifecycleStage::Retention,
    },
    DemoAccount {
        feed_id: "GLOBEX-2",
        name: "Globex",
        domains: &["globex.example", "globex.io"],
        arr_dollars: 480_000,
        segment: "enterprise",
        stage: LifecycleStage::Loyalty,
    },
    DemoAccount {
        feed_id: "INITECH-3",
        name: "Initech",
        domains: &["initech.example", "initech.com"],
        arr_dollars: 96_000,
        segment: "mid_market",
        stage: LifecycleStage::Conversion,
    },
    DemoAccount {
        feed_id: "UMBRELLA-4",
        name: "Umbrella",
        domains: &["umbrella.example", "umbrella.co"],
        arr_dollars: 720_000,
        segment: "enterprise",
        stage: LifecycleStage::Advocacy,
    },
    DemoAccount {
        feed_id: "HOOLI-5",
        name: "Hooli",
        domains: &["hooli.example", "hooli.com"],
        arr_dollars: 54_000,
        segment: "smb",
        stage: LifecycleStage::Acquisition,
    },
    DemoAccount {
        feed_id: "STARK-6",
        name: "Stark Industries",
        domains: &["stark.example"],
        arr_dollars: 2_100_000,
        segment: "strategic",
        stage: LifecycleStage::Retention,
    },
    DemoAccount {
        feed_id: "WAYNE-7",
        name: "Wayne Enterprises",
        domains: &["wayne.example"],
        arr_dollars: 1_600_000,
        segment: "strategic",
        stage: LifecycleStage::Loyalty,
    },
    DemoAccount {
        feed_id: "WONKA-8",
        name: "Wonka",
        domains: &["wonka.example"],
        arr_dollars: 38_000,
        segment: "smb",
        stage: LifecycleStage::Reach,
    },
];

pub async fn run(dir: &Path, no_serve: bool) -> anyhow::Result<()> {
    let dir = prepare_dir(dir)?;
    // A fresh store numbers its change log from 1 again; an index left from an earlier
    // demo would believe it had already applied those changes, so it goes too.
    for stale in ["chorus.db", "chorus.db-wal", "chorus.db-shm"] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    let _ = std::fs::remove_dir_all(dir.join("index"));

    let feed = FeedSim::seeded(2026, 1500);
    let feed_server = SimServer::start(feed.router(), FaultProfile::none()).await?;
    let jira = JiraSim::seeded(2026, 400).with_basic(DEMO_EMAIL, DEMO_TOKEN);
    let jira_server = SimServer::start(jira.router(), FaultProfile::none()).await?;
    jira.set_site(&jira_server.handle().url());
    let zendesk_config = ZendeskSimConfig {
        seed: 2026,
        tickets: 300,
        email: DEMO_EMAIL.into(),
        api_token: DEMO_TOKEN.into(),
        // Zendesk allows 10 incremental requests a minute; the demo's simulator is
        // configured with a 1-second window (and the connector below paces to it) so
        // the demo does not wait minutes. Tests run the real 10/minute behaviour.
        incremental_window: std::time::Duration::from_secs(1),
        ..ZendeskSimConfig::default()
    };
    let zendesk = ZendeskSim::new(zendesk_config, chorus_sim::SimClock::system());
    let zendesk_server = SimServer::start(zendesk.router(), FaultProfile::none()).await?;
    // Salesforce answers tokens on one port (the login host) and data on another (the
    // instance the token answer names), as it does in production.
    let salesforce = SalesforceSim::new(
        SalesforceSimConfig { seed: 2026, cases: 120, ..SalesforceSimConfig::default() },
        chorus_sim::SimClock::system(),
    )
    .start(FaultProfile::none(), FaultProfile::none())
    .await?;
    // Slack budgets each method per minute; the demo's simulator counts per second (and
    // the connector below paces to it), so the demo does not wait minutes.
    let slack_config = SlackSimConfig {
        seed: 2026,
        bot_token: DEMO_SLACK_TOKEN.into(),
        window: std::time::Duration::from_secs(1),
        ..SlackSimConfig::default()
    };
    let slack = SlackSim::new(slack_config, chorus_sim::SimClock::system());
    let slack_server = SimServer::start(slack.router(), FaultProfile::none()).await?;
    let urls = SimUrls {
        feed: feed_server.handle().url(),
        jira: jira_server.handle().url(),
        zendesk: zendesk_server.handle().url(),
        salesforce: salesforce.login.handle().url(),
        slack: slack_server.handle().url(),
    };
    println!(
        "simulators on loopback:\n  feed        {}\n  jira        {}\n  zendesk     {}\n  salesforce  {} (login; data on {})\n  slack       {}",
        urls.feed,
        urls.jira,
        urls.zendesk,
        urls.salesforce,
        salesforce.instance.handle().url(),
        urls.slack
    );

    let config_path = dir.join("chorus.toml");
    std::fs::write(&config_path, demo_config(&dir, &urls))?;
    println!("config   {}", config_path.display());

    let app = App::load(Some(&config_path)).await?;
    app.store.import_accounts(&demo_accounts()).await?;
    println!(
        "imported {} demo accounts\n\nsyncing every connector (the real connector code, over HTTP):",
        ACCOUNTS.len()
    );
    super::sync::sync(&app, &[], true).await?;

    let counts = app.store.counts().await?;
    println!(
        "\nstore: {} items ({} deleted at the source), {} accounts, {} contacts; change log at {}",
        counts.items, counts.tombstones, counts.accounts, counts.contacts, counts.last_change
    );
    print_accounts(&app, counts.accounts).await?;
    let chorus = std::env::current_exe().map(|exe| exe.display().to_string()).unwrap_or_else(|_| "chorus".into());
    let config = config_path.display();
    println!("\ntry, in another terminal:");
    for args in ["search \"CSV export\"", "search sso --kind sales_blocker --sort revenue", "export accounts", "runs"] {
        println!("  {chorus} --config {config} {args}");
    }
    if no_serve {
        return Ok(());
    }
    let token = super::tokens::demo_admin_token(&app).await?;
    let listen = app.config.server.listen;
    println!("\nweb UI    http://{listen}/  (sign in with the admin token below)");
    println!("API       http://{listen}/api/v1 (OpenAPI document at /api/v1/openapi.json)");
    println!("admin token (shown once): {}", token.expose());
    println!("  curl -H 'Authorization: Bearer {}' 'http://{listen}/api/v1/search?q=export'", token.expose());
    println!("the connectors sync on their schedules");
    super::serve::serve(app).await
}

/// The first accounts the sources formed, with their ARR and which sources know them.
async fn print_accounts(app: &App, total: u64) -> anyhow::Result<()> {
    const SHOWN: u32 = 20;
    let accounts = app.store.accounts(chorus_store::IdPage::first(SHOWN)).await?;
    println!(
        "\n{:<32} {:>20}  {:<12}  {:<10}  {:<11}  {:<10}  sources",
        "account", "ARR", "segment", "plan", "stage", "renewal"
    );
    for account in &accounts {
        let arr = chorus_core::Money::parse(account.arr_minor, &account.currency)
            .map(|money| money.to_string())
            .unwrap_or_else(|_| format!("{} {}", account.arr_minor, account.currency));
        let mut sources: Vec<&str> = account.external_ids.iter().map(|id| id.source.as_str()).collect();
        sources.sort_unstable();
        sources.dedup();
        println!(
            "{:<32} {:>20}  {:<12}  {:<10}  {:<11}  {:<10}  {}",
            account.name,
            arr,
            account.segment.as_deref().unwrap_or("-"),
            account.plan.as_deref().unwrap_or("-"),
            account.lifecycle_stage.map_or("-", |stage| stage.as_str()),
            account.renewal_date.map_or_else(|| "-".to_owned(), |date| date.to_string()),
            sources.join(", ")
        );
    }
    let more = total.saturating_sub(accounts.len() as u64);
    if more > 0 {
        println!("… and {more} more (`chorus export accounts` lists them all)");
    }
    Ok(())
}

/// Marks a directory as the demo's own, so re-running the demo may reset it.
const MARKER: &str = ".chorus-demo";

/// Creates the demo directory, refusing one that holds anything the demo did not write:
/// the demo resets its store, index and config, and must never do that to a real install.
fn prepare_dir(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let marked = dir.join(MARKER).exists();
    let empty = std::fs::read_dir(&dir)?.next().is_none();
    if !marked && !empty {
        anyhow::bail!(
            "{} is not empty and was not made by `chorus demo`; choose another --dir (the demo resets its store, index and config)",
            dir.display()
        );
    }
    std::fs::write(dir.join(MARKER), "written by `chorus demo`; the demo resets this directory\n")?;
    Ok(dir)
}

/// Credentials the simulators accept; they guard nothing real.
const DEMO_EMAIL: &str = "demo@chorus.example";
const DEMO_TOKEN: &str = "demo-token";
/// The bot token the Slack simulator accepts.
const DEMO_SLACK_TOKEN: &str = "xoxb-demo-token";

/// The connected app the Salesforce simulator knows.
const SALESFORCE_CLIENT_ID: &str = "sim-client";
const SALESFORCE_CLIENT_SECRET: &str = "sim-client-secret";

/// Where each simulator listens.
struct SimUrls {
    feed: String,
    jira: String,
    zendesk: String,
    salesforce: String,
    slack: String,
}

fn demo_config(dir: &Path, urls: &SimUrls) -> String {
    format!(
        r#"# Written by `chorus demo`: connectors pointed at the built-in simulators.
[store]
url = "sqlite://{db}"

[index]
path = "{index}"

[server]
listen = "127.0.0.1:8080"

# The simulators' accounts bill in USD, EUR and GBP: ranking needs a rate for each.
[money]
reporting_currency = "USD"

[money.rates]
EUR = "1.08"
GBP = "1.27"

[[connectors]]
id = "feed"
kind = "feed"
schedule = "*/1 * * * *"
allow_insecure_endpoints = true

[connectors.settings]
base_url = "{feed}"
page_size = 100

[[connectors]]
id = "jira"
kind = "jira"
schedule = "*/5 * * * *"
allow_insecure_endpoints = true
requests_per_minute = 6000
burst = 50

[connectors.settings]
base_url = "{jira}"
jql = "project in (PROD, SUP, IDEA)"

[connectors.settings.auth]
type = "basic"
email = "{DEMO_EMAIL}"
api_token = "{DEMO_TOKEN}"

[connectors.settings.mapping]
account_field = "{account_field}"
account_field_holds = "names"

[[connectors]]
id = "zendesk"
kind = "zendesk"
schedule = "*/5 * * * *"
allow_insecure_endpoints = true
requests_per_minute = 6000
burst = 50

[connectors.settings]
base_url = "{zendesk}"

[connectors.settings.rate_limit]
incremental_requests = 10
incremental_window_secs = 1.0

[connectors.settings.auth]
type = "basic"
email = "{DEMO_EMAIL}"
api_token = "{DEMO_TOKEN}"

[[connectors]]
id = "salesforce"
kind = "salesforce"
schedule = "*/5 * * * *"
allow_insecure_endpoints = true
requests_per_minute = 6000
burst = 50

[connectors.settings]
login_url = "{salesforce}"

[connectors.settings.auth]
type = "client_credentials"
client_id = "{SALESFORCE_CLIENT_ID}"
client_secret = "{SALESFORCE_CLIENT_SECRET}"

# Plan and renewal date from the org's custom fields; the stage from the Account `Type`
# picklist, whose values are not stage names, else from ARR.
[connectors.settings.mapping]
plan_field = "Plan__c"
renewal_date_field = "Renewal_Date__c"
lifecycle_stage_field = "Type"

[connectors.settings.mapping.lifecycle]
values = {{ "Prospect" = "acquisition", "Customer - Direct" = "retention", "Customer - Channel" = "retention" }}
by_arr = {{ paying = "retention", not_paying = "acquisition" }}

[[connectors]]
id = "slack"
kind = "slack"
schedule = "*/5 * * * *"
allow_insecure_endpoints = true
requests_per_minute = 6000
burst = 50

[connectors.settings]
base_url = "{slack}/api"
channels = [
  {{ channel = "feature-requests" }},
  {{ channel = "bugs", kind = "bug" }},
  {{ channel = "ext-globex", account = "Globex" }},
  {{ channel = "old-roadmap" }},
]

# The simulator counts Slack's per-minute tiers per second; these pace the connector to it.
[connectors.settings.rate_limit]
tier1_per_minute = 60
tier2_per_minute = 1200
tier3_per_minute = 3000
tier4_per_minute = 6000

[connectors.settings.auth]
type = "bearer"
token = "{DEMO_SLACK_TOKEN}"
"#,
        db = dir.join("chorus.db").display(),
        index = dir.join("index").display(),
        feed = urls.feed,
        jira = urls.jira,
        zendesk = urls.zendesk,
        salesforce = urls.salesforce,
        slack = urls.slack,
        account_field = chorus_sim::jira::ORGANIZATIONS_FIELD,
    )
}

fn demo_accounts() -> Vec<AccountImport> {
    ACCOUNTS
        .iter()
        .map(|account| AccountImport {
            id: None,
            name: account.name.to_owned(),
            domains: account.domains.iter().map(|d| (*d).to_owned()).collect(),
            arr_minor: Some(account.arr_dollars * 100),
            currency: Some("USD".to_owned()),
            segment: Some(account.segment.to_owned()),
            lifecycle_stage: Some(account.stage),
            csm_owner: None,
            renewal_date: None,
            external_ids: vec![ExternalId {
                connector: "feed".into(),
                source: Source::Feed,
                id: account.feed_id.into(),
            }],
            parent_id: None,
            plan: None,
            merged_into: None,
            created_at: None,
            updated_at: None,
        })
        .collect()
}

//! `chorus accounts`: list, show (with health, risks, upsell signals and provenance),
//! merge, split and import. Tables for people, `--format json` for scripts.

use std::path::Path;

use anyhow::{bail, Context};
use chorus_core::{Health, Money};
use chorus_store::{AccountDetail, AccountImport, IdPage, RecordKey};
use serde::Serialize;

use crate::cli::{AccountInput, AccountsCommand, Format};
use crate::runtime::App;

mod csv;

/// Accounts a store call imports at once.
const IMPORT_BATCH: usize = 500;

pub async fn run(config: Option<&Path>, command: AccountsCommand) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    match command {
        AccountsCommand::List { limit, after, format } => list(&app, after, limit, format).await,
        AccountsCommand::Show { id, format } => show(&app, id, format).await,
        AccountsCommand::Merge { into, from } => {
            app.store.merge_accounts(into, from).await?;
            println!("account {from} merged into {into}");
            Ok(())
        }
        AccountsCommand::Split { id, records } => {
            let keys = records
                .iter()
                .map(|text| {
                    RecordKey::parse(text).with_context(|| format!("--record `{text}`: expected CONNECTOR:EXTERNAL_ID"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let created = app.store.split_account(id, &keys).await?;
            println!("split {} record(s) off account {id} into account {created}; they stay apart", keys.len());
            Ok(())
        }
        AccountsCommand::Import { file, input } => import(&app, file.as_deref(), input).await,
    }
}

async fn list(app: &App, after: i64, limit: u32, format: Format) -> anyhow::Result<()> {
    let accounts = app.store.accounts(IdPage { after_id: after, limit }).await?;
    if format == Format::Json {
        for account in &accounts {
            println!("{}", serde_json::to_string(account)?);
        }
        return Ok(());
    }
    println!("{:>6}  {:<32} {:>16} {:<12} {:<11} {:<10} domains", "id", "name", "arr", "segment", "stage", "sources");
    for account in &accounts {
        let arr = Money::parse(account.arr_minor, &account.currency)
            .map_or_else(|_| format!("{} {}", account.arr_minor, account.currency), |money| money.to_string());
        let mut sources: Vec<&str> = account.external_ids.iter().map(|x| x.source.as_str()).collect();
        sources.dedup();
        println!(
            "{:>6}  {:<32} {:>16} {:<12} {:<11} {:<10} {}",
            account.id,
            truncate(&account.name, 32),
            arr,
            account.segment.as_deref().unwrap_or("-"),
            account.lifecycle_stage.map_or("-", |stage| stage.as_str()),
            sources.join(","),
            account.domains.join(", ")
        );
    }
    if accounts.len() as u32 >= limit {
        if let Some(last) = accounts.last() {
            println!("next: chorus accounts list --after {}", last.id);
        }
    }
    Ok(())
}

/// What `accounts show --format json` prints.
#[derive(Debug, Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    detail: &'a AccountDetail,
    /// `account.plan` and `account.merged_into`, also at the top as before the account
    /// carried them.
    plan: Option<&'a str>,
    merged_into: Option<i64>,
    /// `None` for a merged-away account (its health is the survivor's).
    health: Option<&'a Health>,
    waiting_on: Vec<(i64, String)>,
}

async fn show(app: &App, id: i64, format: Format) -> anyhow::Result<()> {
    let Some(detail) = app.store.account_detail(id).await? else {
        bail!("no account {id}");
    };
    let (plan, merged_into) = (detail.account.plan.as_deref(), detail.account.merged_into);
    if let Some(into) = merged_into {
        if format == Format::Json {
            let shown = Shown { detail: &detail, plan, merged_into, health: None, waiting_on: Vec::new() };
            println!("{}", serde_json::to_string(&shown)?);
        } else {
            println!("account {id} ({}) was merged into {into}: chorus accounts show {into}", detail.account.name);
        }
        return Ok(());
    }
    let data = app.store.account_health_data(id).await?;
    let health = data.health(&detail, &app.config.health, &app.config.money, chrono::Utc::now())?;
    if format == Format::Json {
        let shown =
            Shown { detail: &detail, plan, merged_into, health: Some(&health), waiting_on: data.requests.clone() };
        println!("{}", serde_json::to_string(&shown)?);
        return Ok(());
    }
    print_detail(&detail);
    print_health(&health, &data.requests, app.config.money.reporting_currency.code());
    Ok(())
}

fn print_detail(detail: &AccountDetail) {
    let account = &detail.account;
    let arr = Money::parse(account.arr_minor, &account.currency)
        .map_or_else(|_| format!("{} {}", account.arr_minor, account.currency), |money| money.to_string());
    println!("account {}: {}", account.id, account.name);
    println!("  arr           {arr}");
    let field = |value: Option<&str>| value.unwrap_or("-").to_owned();
    println!("  segment       {}", field(account.segment.as_deref()));
    println!("  plan          {}", field(account.plan.as_deref()));
    println!("  stage         {}", field(account.lifecycle_stage.map(|stage| stage.as_str())));
    println!("  csm owner     {}", field(account.csm_owner.as_deref()));
    println!("  renewal       {}", account.renewal_date.map_or_else(|| "-".to_owned(), |date| date.to_string()));
    println!(
        "  domains       {}",
        if account.domains.is_empty() { "-".to_owned() } else { account.domains.join(", ") }
    );
    if let Some(parent) = account.parent_id {
        println!("  parent        {parent}");
    }
    if !detail.children.is_empty() {
        let children: Vec<String> = detail.children.iter().map(i64::to_string).collect();
        println!("  children      {}", children.join(", "));
    }
    println!("formed from {} source record(s):", detail.sources.len());
    for source in &detail.sources {
        let when = source.joined_at.map_or_else(String::new, |at| format!(" on {}", at.format("%Y-%m-%d")));
        let mut extra = Vec::new();
        if let Some(name) = &source.name {
            extra.push(format!("\"{name}\""));
        }
        if !source.domains.is_empty() {
            extra.push(source.domains.join(", "));
        }
        if !source.same_as.is_empty() {
            extra.push(format!("says it is {}", source.same_as.join(", ")));
        }
        println!(
            "  {}:{} ({}) joined by {}{when}  {}",
            source.connector,
            source.external_id,
            source.source.as_str(),
            source.joined_by.as_str(),
            extra.join("; ")
        );
    }
    if !detail.kept_apart.is_empty() {
        let apart: Vec<String> = detail.kept_apart.iter().map(RecordKey::to_string).collect();
        println!("kept apart from: {}", apart.join(", "));
    }
}

fn print_health(health: &Health, requests: &[(i64, String)], currency: &str) {
    println!("health:");
    println!(
        "  open bugs     {} ({} in the last window, {} before)",
        health.open_bugs, health.bugs.recent, health.bugs.previous
    );
    let blocked = Money::parse(health.blocked_pipeline_minor, currency)
        .map_or_else(|_| health.blocked_pipeline_minor.to_string(), |money| money.to_string());
    println!("  open blockers {} holding up {blocked}", health.open_blockers);
    match &health.csat {
        Some(csat) => println!("  csat          {:.2} over {} rating(s)", csat.average, csat.ratings),
        None => println!("  csat          -"),
    }
    let trend = health.tickets.change_percent.map_or_else(|| "new".to_owned(), |p| format!("{p:+.0}%"));
    println!("  tickets       {} recently, {} before ({trend})", health.tickets.recent, health.tickets.previous);
    for period in &health.history {
        let counts: Vec<String> = period
            .kinds
            .iter()
            .filter(|count| count.open + count.closed > 0)
            .map(|count| format!("{} {}/{}", count.kind.as_str(), count.open, count.open + count.closed))
            .collect();
        let counts = if counts.is_empty() { "-".to_owned() } else { counts.join(", ") };
        println!("    {} to {}  {counts} (open/all)", period.start.format("%Y-%m-%d"), period.end.format("%Y-%m-%d"));
    }
    if requests.is_empty() {
        println!("  waiting on    no open requests");
    } else {
        println!("  waiting on:");
        for (id, title) in requests {
            println!("    request {id}: {title}");
        }
    }
    if health.risks.is_empty() {
        println!("risks: none");
    } else {
        println!("risks:");
        for risk in &health.risks {
            println!("  - {}", risk.reason);
        }
    }
    if !health.upsell.is_empty() {
        println!("upsell signals:");
        for upsell in &health.upsell {
            println!("  - asks for {} ({} item(s)): in plan {}", upsell.capability, upsell.items, upsell.plan);
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// All or nothing: every line parses before the first account is written.
async fn import(app: &App, file: Option<&Path>, input: Option<AccountInput>) -> anyhow::Result<()> {
    let (name, reader) = super::import::open_input(file)?;
    let csv_input = match input {
        Some(AccountInput::Csv) => true,
        Some(AccountInput::Jsonl) => false,
        None => name.to_ascii_lowercase().ends_with(".csv"),
    };
    if !csv_input {
        // JSON Lines stream batch by batch, as `chorus import accounts` does.
        let bar = super::import::progress_bar(crate::cli::ImportEntity::Accounts);
        let summary = super::import::import_accounts(app.store.as_ref(), &name, reader, &bar).await;
        bar.finish_and_clear();
        println!("{}", summary?);
        return Ok(());
    }
    // A CSV is checked whole before any row is imported (an account export of a CRM is
    // thousands of rows, not millions).
    let mut text = String::new();
    let mut reader = reader;
    std::io::Read::read_to_string(&mut reader, &mut text).with_context(|| format!("cannot read {name}"))?;
    let accounts: Vec<AccountImport> = csv::accounts(&text).with_context(|| name.clone())?;
    let mut ids = Vec::with_capacity(accounts.len());
    for batch in accounts.chunks(IMPORT_BATCH) {
        ids.extend(app.store.import_accounts(batch).await?);
    }
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    println!("imported {} line(s) into {} account(s)", ids.len(), distinct.len());
    Ok(())
}

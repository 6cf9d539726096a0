//! `chorus requests`: requests ranked by revenue with the factors behind each score, and
//! the commands that shape them (create, rename, link, unlink, merge, ship, status,
//! promote; suggestions in `suggestions`). Thin: the store keeps the data and its aggregates, `chorus-core` the
//! formula; this module only ranks, joins names and prints.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use chorus_core::priority::{AccountFactor, Ranked, Score};
use chorus_core::{Currency, LinkProvenance, Money, PriorityModel, Request, RequestStatus};
use chorus_store::{NewRequest, Store};
use chrono::Utc;
use serde::Serialize;

use super::suggestions;
use crate::cli::{Format, RequestsCommand};
use crate::runtime::App;

pub async fn run(config: Option<&Path>, command: RequestsCommand) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    let store = app.store.as_ref();
    match command {
        RequestsCommand::List { status, limit, format } => list(&app, &status, limit, format).await,
        RequestsCommand::Show { request, format } => show(&app, request, format).await,
        RequestsCommand::Create { title, description, format } => {
            let new = NewRequest { title: title.trim().to_owned(), description, anchor_item_id: None };
            anyhow::ensure!(!new.title.is_empty(), "a request title cannot be empty");
            print_request(&store.create_request(&new).await?, format)
        }
        RequestsCommand::Rename { request, title, description, format } => {
            print_request(&store.rename_request(request, &title, description.as_deref()).await?, format)
        }
        RequestsCommand::Link { request, items } => {
            for item in items {
                store.link_item_request(item, request, LinkProvenance::Manual).await?;
                println!("linked item {item} to request {request}");
            }
            Ok(())
        }
        RequestsCommand::Unlink { request, items } => {
            for item in items {
                match store.unlink_item_request(item, request).await? {
                    true => println!("unlinked item {item} from request {request}"),
                    false => println!("item {item} was not linked to request {request}"),
                }
            }
            Ok(())
        }
        RequestsCommand::Merge { from, into } => {
            let outcome = store.merge_requests(from, into).await?;
            println!(
                "merged request {from} into {into}: {} links and {} rejected suggestions moved",
                outcome.moved_links, outcome.moved_rejections
            );
            Ok(())
        }
        RequestsCommand::Ship { request, format } => {
            print_request(&store.set_request_status(request, RequestStatus::Shipped).await?, format)
        }
        RequestsCommand::Status { request, status, format } => {
            print_request(&store.set_request_status(request, status).await?, format)
        }
        RequestsCommand::Promote { key, format } => print_request(&store.promote_issue(&key).await?, format),
        RequestsCommand::Suggestions { request, limit, include_linked, format } => {
            let options = chorus_index::SuggestOptions { limit, include_linked };
            suggestions::suggestions(&app, request, options, format).await
        }
        RequestsCommand::Accept { request, item } => suggestions::accept(store, request, item).await,
        RequestsCommand::Reject { request, item } => suggestions::reject(store, request, item).await,
        RequestsCommand::Likely { item, limit, format } => suggestions::likely(&app, item, limit, format).await,
    }
}

/// The model over every account and opportunity, and the stored demand of `only` (all
/// live requests when `None`), ranked highest first.
pub(crate) async fn rank(app: &App, only: Option<&[i64]>) -> anyhow::Result<(PriorityModel, Vec<Ranked>, Demands)> {
    let ranking = chorus_store::ranking::rank_requests(
        app.store.as_ref(),
        &app.config.priority,
        &app.config.money,
        only,
        Utc::now(),
    )
    .await?;
    Ok((ranking.model, ranking.ranked, ranking.demands))
}

pub(crate) type Demands = HashMap<i64, chorus_core::priority::PackedDemand>;

/// Every request, by id (a few thousand a page).
pub(crate) async fn all_requests(store: &dyn Store) -> anyhow::Result<HashMap<i64, Request>> {
    let mut all = HashMap::new();
    let mut after_id = 0;
    loop {
        let page = store.requests(chorus_store::IdPage { after_id, limit: 5000 }).await?;
        let Some(last) = page.last().map(|request| request.id) else { break };
        after_id = last;
        all.extend(page.into_iter().map(|request| (request.id, request)));
    }
    Ok(all)
}

/// Account names by id, for the accounts a listing shows.
pub(crate) async fn account_names(store: &dyn Store, ids: &[i64]) -> anyhow::Result<HashMap<i64, String>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    Ok(store.accounts_by_id(&ids).await?.into_iter().map(|account| (account.id, account.name)).collect())
}

/// `12345.67 USD` for an amount in minor units of the reporting currency.
fn money(minor: f64, currency: Currency) -> String {
    Money::new(minor.round() as i64, currency).to_string()
}

#[derive(Serialize)]
struct ListRow<'a> {
    rank: usize,
    request: &'a Request,
    #[serde(flatten)]
    ranked: &'a Ranked,
    top_accounts: Vec<TopAccount>,
}

#[derive(Serialize)]
pub(crate) struct TopAccount {
    pub account_id: i64,
    pub name: Option<String>,
    pub contribution: f64,
}

/// The `n` accounts that contribute most, named.
pub(crate) fn top_accounts(score: &Score, names: &HashMap<i64, String>, n: usize) -> Vec<TopAccount> {
    score
        .accounts
        .iter()
        .take(n)
        .map(|factor| TopAccount {
            account_id: factor.account_id,
            name: names.get(&factor.account_id).cloned(),
            contribution: factor.contribution,
        })
        .collect()
}

async fn list(app: &App, status: &[RequestStatus], limit: usize, format: Format) -> anyhow::Result<()> {
    let (model, ranked, demands) = rank(app, None).await?;
    let requests = all_requests(app.store.as_ref()).await?;
    let shown: Vec<(usize, &Ranked, &Request)> = ranked
        .iter()
        .enumerate()
        .filter_map(|(place, ranked)| Some((place + 1, ranked, requests.get(&ranked.request_id)?)))
        .filter(|(_, _, request)| status.is_empty() || status.contains(&request.status))
        .take(limit)
        .collect();
    let mut scores = Vec::with_capacity(shown.len());
    for (_, ranked, _) in &shown {
        let demand = demands.get(&ranked.request_id).context("ranked request without demand")?;
        scores.push(model.score(demand)?);
    }
    let top_ids: Vec<i64> = scores.iter().flat_map(|s| s.accounts.iter().take(2).map(|f| f.account_id)).collect();
    let names = account_names(app.store.as_ref(), &top_ids).await?;
    let currency = app.config.money.reporting_currency;
    if format == Format::Json {
        for ((place, ranked, request), score) in shown.iter().zip(&scores) {
            let row = ListRow { rank: *place, request, ranked, top_accounts: top_accounts(score, &names, 3) };
            println!("{}", serde_json::to_string(&row)?);
        }
        return Ok(());
    }
    println!(
        "{:>4}  {:>6}  {:<40} {:<11} {:>18} {:>5} {:>5} {:>6} {:>4}  top factors",
        "rank", "id", "title", "status", "score", "accts", "items", "people", "opps"
    );
    for ((place, ranked, request), score) in shown.iter().zip(&scores) {
        let mut factors: Vec<String> = score
            .accounts
            .iter()
            .take(2)
            .map(|factor| {
                let name = names.get(&factor.account_id).map_or("?", String::as_str);
                format!("{name} {}", money(factor.contribution, currency))
            })
            .collect();
        if ranked.pipeline_total > 0.0 {
            factors.push(format!("pipeline {}", money(ranked.pipeline_total, currency)));
        }
        println!(
            "{:>4}  {:>6}  {:<40} {:<11} {:>18} {:>5} {:>5} {:>6} {:>4}  {}",
            place,
            request.id,
            clip(&request.title, 40),
            request.status.as_str(),
            money(ranked.score, currency),
            ranked.counts.accounts,
            ranked.counts.items,
            ranked.counts.people,
            ranked.counts.opportunities,
            factors.join("; ")
        );
    }
    if shown.is_empty() {
        println!("(no requests: `chorus requests create TITLE` or `chorus requests promote PROD-123`)");
    }
    Ok(())
}

#[derive(Serialize)]
struct ShowJson<'a> {
    request: &'a Request,
    rank: Option<usize>,
    score: Option<&'a Score>,
    links: &'a [chorus_store::RequestLink],
}

async fn show(app: &App, id: i64, format: Format) -> anyhow::Result<()> {
    let store = app.store.as_ref();
    let request = store.request(id).await?.with_context(|| format!("request {id} not found"))?;
    let links = store.request_links(id).await?;
    let (model, ranked, demands) = rank(app, None).await?;
    let place = ranked.iter().position(|r| r.request_id == id).map(|p| p + 1);
    let score = demands.get(&id).map(|demand| model.score(demand)).transpose()?;
    if format == Format::Json {
        let json = ShowJson { request: &request, rank: place, score: score.as_ref(), links: &links };
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!("request {}: {}", request.id, request.title);
    println!("status: {}", request.status.as_str());
    if let Some(survivor) = request.merged_into {
        println!("merged into request {survivor}: its links are there");
        return Ok(());
    }
    if let Some(anchor) = request.anchor_item_id {
        println!("anchored by item {anchor}");
    }
    if !request.description.is_empty() {
        println!("\n{}\n", clip(&request.description, 600));
    }
    let Some(score) = score else {
        println!("no demand recorded yet");
        return Ok(());
    };
    let currency = app.config.money.reporting_currency;
    let account_ids: Vec<i64> = score
        .accounts
        .iter()
        .flat_map(|f| std::iter::once(f.account_id).chain(f.members.iter().map(|m| m.account_id)))
        .collect();
    let names = account_names(store, &account_ids).await?;
    println!(
        "rank {} of {}, score {} = accounts {} + pipeline {}",
        place.map_or("-".into(), |p| p.to_string()),
        ranked.len(),
        money(score.score, currency),
        money(score.accounts_total, currency),
        money(score.pipeline_total, currency)
    );
    let c = score.counts;
    println!("{} items, {} people, {} accounts, {} opportunities\n", c.items, c.people, c.accounts, c.opportunities);
    println!(
        "{:<28} {:>16} {:<16} {:>8} {:>7} {:>7} {:>8} {:>16}  ARR at ask",
        "account", "ARR", "kind", "recency", "segment", "renewal", "items", "contribution"
    );
    for factor in &score.accounts {
        print_factor(factor, &names, currency);
    }
    if !score.pipeline.is_empty() {
        println!(
            "\n{:<14} {:<28} {:>16} {:>11} {:>16}",
            "opportunity", "account", "amount", "probability", "contribution"
        );
        for p in &score.pipeline {
            println!(
                "{:<14} {:<28} {:>16} {:>10.0}% {:>16}",
                p.opportunity_id,
                clip(names.get(&p.account_id).map_or("?", String::as_str), 28),
                money(p.amount_minor as f64, currency),
                p.probability * 100.0,
                money(p.contribution, currency)
            );
        }
    }
    println!("\nlinks:");
    for link in &links {
        let arr = link.arr_at_ask.map_or("-".to_owned(), |arr| arr.to_string());
        println!("  item {:<8} {:<13} ARR at ask {arr}", link.item_id, link.provenance.as_str());
    }
    Ok(())
}

fn print_factor(factor: &AccountFactor, names: &HashMap<i64, String>, currency: Currency) {
    let name = names.get(&factor.account_id).map_or("?", String::as_str);
    let changes: Vec<String> = factor
        .members
        .iter()
        .map(|m| {
            let member = if m.account_id == factor.account_id {
                String::new()
            } else {
                format!("{} ", names.get(&m.account_id).map_or("?", String::as_str))
            };
            let then = m.arr_at_ask_minor.map_or("?".to_owned(), |minor| money(minor as f64, currency));
            format!("{member}{then} → {} ({})", money(m.arr_minor as f64, currency), serde_plain(&m.arr_change))
        })
        .collect();
    let renewal = factor.renewal_in_days.map_or("-".to_owned(), |days| format!("{days}d"));
    println!(
        "{:<28} {:>16} {:<16} {:>8.3} {:>7.2} {:>7} {:>8} {:>16}  {}",
        clip(name, 28),
        money(factor.arr_minor as f64, currency),
        format!("{} ×{}", factor.kind.as_str(), factor.kind_weight),
        factor.recency,
        factor.segment_weight,
        format!("{renewal} ×{}", factor.renewal_boost),
        factor.items,
        money(factor.contribution, currency),
        changes.join(", ")
    );
}

fn serde_plain<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn print_request(request: &Request, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string(request)?),
        Format::Text => println!("request {}: {} ({})", request.id, request.title, request.status.as_str()),
    }
    Ok(())
}

/// At most `width` characters, with `…` when cut.
pub(crate) fn clip(text: &str, width: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= width {
        return line.to_owned();
    }
    let mut out: String = line.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

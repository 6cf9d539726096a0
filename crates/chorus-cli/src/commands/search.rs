//! `chorus search`: one search over every item, with reach and facets.
//!
//! The index is a projection of the store, so the command first catches it up with
//! the change log — unless a running `chorus serve` owns the index writer, in which
//! case that server keeps it current and the command only reads.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chorus_index::{Filters, IndexProjection, SearchAnswer, SearchIndex, SearchRequest, Sort};

use crate::cli::{Format, SearchArgs, SortBy};
use crate::runtime::App;

pub async fn run(config: Option<&Path>, args: SearchArgs) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    let index = open_current(&app).await?;
    let format = args.format;
    let request = request(args);
    let answer = tokio::task::spawn_blocking(move || index.search(&request)).await.context("search task")??;
    match format {
        Format::Json => println!("{}", serde_json::to_string(&answer)?),
        Format::Text => print_text(&answer),
    }
    Ok(())
}

/// The index's request for the command-line arguments.
fn request(args: SearchArgs) -> SearchRequest {
    let filters = Filters {
        kind: args.kind,
        source: args.source,
        status: args.status,
        segment: args.segment,
        lifecycle_stage: args.lifecycle_stage,
        account_id: args.account_id,
        linked: args.linked,
        ..Filters::default()
    };
    SearchRequest {
        query: args.query,
        filters,
        sort: match args.sort {
            SortBy::Weighted => Sort::Weighted,
            SortBy::Relevance => Sort::Relevance,
            SortBy::Recency => Sort::Recency,
            SortBy::Revenue => Sort::Revenue,
        },
        limit: args.limit,
        offset: 0,
    }
}

/// Opens the index and applies the change log up to now, if this process may write.
pub async fn open_current(app: &App) -> anyhow::Result<SearchIndex> {
    let path = &app.config.index.path;
    let index = SearchIndex::open(path).with_context(|| format!("opening the index at {}", path.display()))?;
    match IndexProjection::new(index.clone(), Arc::clone(&app.store), app.config.money.clone()) {
        Ok(mut projection) => {
            projection.catch_up().await.context("catching the index up with the store")?;
        }
        Err(e) if e.is_writer_busy() => tracing::info!("index writer held by a running server; searching as is"),
        Err(e) => return Err(e).context("opening the index writer"),
    }
    index.reload()?;
    Ok(index)
}

fn print_text(answer: &SearchAnswer) {
    println!(
        "{} match(es) · reach: {} account(s), {} ARR",
        answer.total,
        answer.reach.accounts,
        money(answer.reach.arr_minor)
    );
    for (name, counts) in answer.facets.named() {
        let name = if name == "lifecycle_stage" { "stage" } else { name };
        if counts.is_empty() {
            continue;
        }
        let list: Vec<String> = counts.iter().take(8).map(|f| format!("{} {}", f.value, f.count)).collect();
        println!("  {name:<8} {}", list.join(" · "));
    }
    for hit in &answer.hits {
        let account = hit
            .account_name
            .as_deref()
            .map(|name| format!("{name} ({} ARR)", money(hit.arr_minor)))
            .unwrap_or_else(|| "no account".to_owned());
        println!("\n#{:<6} {}  [{} · {} · {}]  {}", hit.item_id, hit.title, hit.source, hit.kind, hit.status, account);
        if !hit.snippet.text.is_empty() {
            println!("        {}", hit.snippet.text.replace('\n', " "));
        }
    }
}

/// `$1.2M`, `$480k`, `$950` from minor units.
fn money(minor: i64) -> String {
    let dollars = minor as f64 / 100.0;
    if dollars >= 1_000_000.0 {
        format!("${:.1}M", dollars / 1_000_000.0)
    } else if dollars >= 1_000.0 {
        format!("${:.0}k", dollars / 1_000.0)
    } else {
        format!("${dollars:.0}")
    }
}

//! `chorus search`: one search over every item, with reach and facets.
//!
//! The index is a projection of the store, so the command first catches it up with
//! the change log — unless a running `chorus serve` owns the index writer, in which
//! case that server keeps it current and the command only reads.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chorus_core::{Currency, Money};
use chorus_index::{DateRange, Filters, IndexProjection, SearchAnswer, SearchIndex, SearchRequest, Sort};

use crate::cli::{DateField, Format, SearchArgs, SortBy};
use crate::runtime::App;

pub async fn run(config: Option<&Path>, args: Box<SearchArgs>) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    let index = open_current(&app).await?;
    let format = args.format;
    let request = request(*args);
    let answer = tokio::task::spawn_blocking(move || index.search(&request)).await.context("search task")??;
    match format {
        Format::Json => println!("{}", serde_json::to_string(&answer)?),
        Format::Text => print_text(&answer),
    }
    Ok(())
}

/// The index's request for the command-line arguments.
fn request(args: SearchArgs) -> SearchRequest {
    let range = DateRange { from: args.since, to: args.until };
    let (created, updated) = match args.date {
        DateField::Created => (range, DateRange::default()),
        DateField::Updated => (DateRange::default(), range),
    };
    let linked = match (args.linked, args.unlinked) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let filters = Filters {
        kind: args.kind,
        source: args.source,
        status: args.status,
        connector: args.connector,
        account_id: args.account_id,
        segment: args.segment,
        lifecycle_stage: args.lifecycle_stage,
        created,
        updated,
        linked,
        request_id: args.request_id,
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
    let currency = answer.reach.currency;
    println!(
        "{} match(es) · reach: {} account(s), {} ARR",
        answer.total,
        answer.reach.accounts,
        money(answer.reach.arr_minor, currency)
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
            .map(|name| format!("{name} ({} ARR)", money(hit.arr_minor, currency)))
            .unwrap_or_else(|| "no account".to_owned());
        println!("\n#{:<6} {}  [{} · {} · {}]  {}", hit.item_id, hit.title, hit.source, hit.kind, hit.status, account);
        if !hit.snippet.text.is_empty() {
            println!("        {}", hit.snippet.text.replace('\n', " "));
        }
    }
}

/// `1.2M EUR`, `480k USD`, `950 USD`: whole major units of the reporting currency,
/// shortened (an index without recorded rates holds no ARR: `0`).
fn money(minor: i64, currency: Option<Currency>) -> String {
    let Some(currency) = currency else {
        return minor.to_string();
    };
    let digits = currency.exponent().unwrap_or(0);
    let major = minor as f64 / 10_f64.powi(digits as i32);
    let code = currency.code();
    if major.abs() >= 1_000_000.0 {
        format!("{:.1}M {code}", major / 1_000_000.0)
    } else if major.abs() >= 10_000.0 {
        format!("{:.0}k {code}", major / 1_000.0)
    } else {
        Money::new(minor, currency).to_string()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parsed(args: &[&str]) -> SearchRequest {
        let cli = Cli::try_parse_from(["chorus", "search"].iter().chain(args)).expect("valid arguments");
        let Command::Search(search) = cli.command else { panic!("a search") };
        request(*search)
    }

    #[test]
    fn every_filter_repeats_and_dates_pick_their_field() {
        let request = parsed(&[
            "sso",
            "--connector",
            "jira-main",
            "--connector",
            "zd",
            "--segment",
            "enterprise",
            "--segment",
            "mid-market",
            "--stage",
            "retention",
            "--status",
            "Open",
            "--account",
            "3",
            "--request",
            "10",
            "--request",
            "11",
            "--unlinked",
            "--since",
            "2026-01-01",
            "--until",
            "2026-02-01T00:00:00+01:00",
            "--date",
            "updated",
        ]);
        let filters = &request.filters;
        assert_eq!(request.query, "sso");
        assert_eq!(filters.connector, vec!["jira-main", "zd"]);
        assert_eq!(filters.segment, vec!["enterprise", "mid-market"]);
        assert_eq!(filters.request_id, vec![10, 11]);
        assert_eq!(filters.account_id, vec![3]);
        assert_eq!(filters.linked, Some(false));
        assert_eq!(filters.created, DateRange::default());
        let since = filters.updated.from.expect("since").to_rfc3339();
        let until = filters.updated.to.expect("until").to_rfc3339();
        assert_eq!((since.as_str(), until.as_str()), ("2026-01-01T00:00:00+00:00", "2026-01-31T23:00:00+00:00"));
        assert_eq!(parsed(&["x", "--linked"]).filters.linked, Some(true));
        assert_eq!(
            parsed(&["x", "--since", "2026-03-01"]).filters.created.from.map(|at| at.to_rfc3339()).as_deref(),
            Some("2026-03-01T00:00:00+00:00")
        );
    }

    #[test]
    fn bad_filters_are_refused_with_a_reason() {
        let refused = |args: &[&str]| {
            Cli::try_parse_from(["chorus", "search"].iter().chain(args)).expect_err("refused").to_string()
        };
        assert!(refused(&["x", "--linked", "--unlinked"]).contains("cannot be used with"));
        assert!(refused(&["x", "--since", "yesterday"]).contains("neither an RFC 3339 time"));
        assert!(refused(&["x", "--stage", "churned"]).contains("invalid value"));
    }

    #[test]
    fn money_is_shown_with_its_currency() {
        assert_eq!(money(123_456_789, Some(Currency::EUR)), "1.2M EUR");
        assert_eq!(money(48_000_000, Some(Currency::USD)), "480k USD");
        assert_eq!(money(95_000, Some(Currency::USD)), "950.00 USD");
        assert_eq!(money(0, None), "0");
    }
}

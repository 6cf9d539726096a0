//! `chorus requests suggestions|accept|reject|likely`: suggested links between requests
//! and items, and a person's answer to them. Thin: `chorus_index` finds and ranks the
//! suggestions (over the index caught up with the store first, as `chorus search`
//! does), the store keeps links and rejections; this module only prints.

use anyhow::Context;
use chorus_core::LinkProvenance;
use chorus_index::{LikelyRequest, SuggestOptions, Suggestion};
use chorus_store::Store;

use super::requests::clip;
use super::search::open_current;
use crate::cli::Format;
use crate::runtime::App;

/// Prints the items suggested for `request`.
pub async fn suggestions(app: &App, request: i64, options: SuggestOptions, format: Format) -> anyhow::Result<()> {
    let index = open_current(app).await?;
    let suggestions = index
        .suggest_items(app.store.as_ref(), request, options)
        .await
        .with_context(|| format!("suggestions for request {request}"))?;
    if format == Format::Json {
        for suggestion in &suggestions {
            println!("{}", serde_json::to_string(suggestion)?);
        }
        return Ok(());
    }
    print_suggestions(request, &suggestions);
    Ok(())
}

fn print_suggestions(request: i64, suggestions: &[Suggestion]) {
    if suggestions.is_empty() {
        println!("(no suggestions for request {request}: no unlinked item shares its words)");
        return;
    }
    println!(
        "{:>8}  {:<15} {:<10} {:<24} {:>7}  {:<32} title",
        "item", "kind", "source", "account", "score", "shared terms"
    );
    for s in suggestions {
        println!(
            "{:>8}  {:<15} {:<10} {:<24} {:>7.2}  {:<32} {}",
            s.item_id,
            s.kind,
            s.source,
            clip(s.account_name.as_deref().unwrap_or("-"), 24),
            s.score,
            clip(&s.shared_terms.join(", "), 32),
            clip(&s.title, 60)
        );
    }
    println!("\naccept: chorus requests accept {request} ITEM · reject: chorus requests reject {request} ITEM");
}

/// Links `item` to `request` as an accepted suggestion.
pub async fn accept(store: &dyn Store, request: i64, item: i64) -> anyhow::Result<()> {
    store.link_item_request(item, request, LinkProvenance::Suggestion).await?;
    println!("linked item {item} to request {request} (accepted suggestion)");
    Ok(())
}

/// Remembers that `item` is not about `request`.
pub async fn reject(store: &dyn Store, request: i64, item: i64) -> anyhow::Result<()> {
    store.reject_suggestion(request, item).await?;
    println!("item {item} will not be suggested for request {request} again");
    Ok(())
}

/// Prints the requests `item` most likely belongs to.
pub async fn likely(app: &App, item: i64, limit: usize, format: Format) -> anyhow::Result<()> {
    let index = open_current(app).await?;
    let likely = index
        .likely_requests(app.store.as_ref(), item, limit)
        .await
        .with_context(|| format!("likely requests for item {item}"))?;
    if format == Format::Json {
        for request in &likely {
            println!("{}", serde_json::to_string(request)?);
        }
        return Ok(());
    }
    print_likely(item, &likely);
    Ok(())
}

fn print_likely(item: i64, likely: &[LikelyRequest]) {
    if likely.is_empty() {
        println!("(no open request shares words with item {item})");
        return;
    }
    println!("{:>8}  {:<11} {:>6}  {:<32} {:<16} title", "request", "status", "share", "shared terms", "similar items");
    for r in likely {
        let similar: Vec<String> = r.similar_items.iter().map(i64::to_string).collect();
        println!(
            "{:>8}  {:<11} {:>5.0}%  {:<32} {:<16} {}",
            r.request_id,
            r.status.as_str(),
            r.score * 100.0,
            clip(&r.shared_terms.join(", "), 32),
            clip(&similar.join(" "), 16),
            clip(&r.title, 60)
        );
    }
    println!("\nlink: chorus requests accept REQ {item}");
}

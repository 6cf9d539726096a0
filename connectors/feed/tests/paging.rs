//! The feed connector's page run over real HTTP against a stub feed whose page tokens
//! go round in circles (A→B→A): the run fails with a permanent error naming the token,
//! keeps the pages read before the repeat, and asks for nothing after it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::Query;
use axum::routing::get;
use chorus_connector_feed::FeedConnector;
use chorus_sim::{FaultProfile, SimServer};
use chorus_testkit::{context, engine, fast_policy, incremental, items, memory_store, TestResult};
use serde_json::{json, Value};

/// Page `n` (from 0) of a feed whose tokens run A, B, A, …: page 2 carries A again.
fn page(n: usize) -> Value {
    let token = ["A", "B"][n % 2];
    json!({
        "items": [{"id": format!("FB-{n}"), "type": "bug", "title": format!("page {n}"),
                   "updated_at": format!("2026-01-01T00:00:0{n}Z")}],
        "next_page_token": token,
    })
}

#[tokio::test]
async fn a_feed_whose_tokens_go_round_in_circles_fails_at_the_last_good_page() -> TestResult {
    let served = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&served);
    let router = axum::Router::new().route(
        "/api/items",
        get(move |Query(query): Query<std::collections::HashMap<String, String>>| {
            // The page is chosen by the token asked with, as a real feed does.
            let n = match query.get("page_token").map(String::as_str) {
                None => 0,
                Some("A") => 1,
                Some(_) => 2,
            };
            // A client that missed the circle ends here instead of hanging the test.
            let body = match counter.fetch_add(1, Ordering::SeqCst) {
                0..=9 => page(n),
                _ => json!({"items": []}),
            };
            std::future::ready(axum::Json(body))
        }),
    );
    let server = SimServer::start(router, FaultProfile::none()).await?;
    let store = memory_store().await?;
    let settings = json!({"base_url": server.url(), "page_size": 1});
    let connector = chorus_testkit::build::<FeedConnector>(&settings, context("feed", &store, fast_policy())?)?;

    let report = incremental(&engine(&store), connector.as_ref()).await?;
    assert!(!report.succeeded(), "{report:?}");
    let error = report.outcome.error.clone().unwrap_or_default();
    assert!(error.contains("repeated a next_page_token"), "{error}");
    assert_eq!(served.load(Ordering::SeqCst), 3, "A, B, then A again: nothing is asked after the repeat");
    let held: Vec<String> = items(store.as_ref(), "feed").await?.into_keys().collect();
    assert_eq!(held, ["FB-0", "FB-1"], "the pages before the repeat are kept, the repeated one is not");
    Ok(())
}

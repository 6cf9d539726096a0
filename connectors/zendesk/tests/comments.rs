//! Comments across runs: a comment added after a ticket was stored is merged with the
//! stored ones (the store replaces an item's comments whole, so the connector sends the
//! full list), from the ticket-events export without a per-ticket read; and a ticket
//! whose comments cannot be read keeps the comments already stored.

mod support;

use std::time::Duration;

use chorus_sim::zendesk::{ZendeskSim, ZendeskSimConfig};
use chorus_sim::{FaultProfile, SimServer};
use chorus_store::RunStatus;

use support::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_comments_merge_with_stored_ones_and_a_failed_read_keeps_them() -> TestResult {
    let clock = support::clock()?;
    let config = ZendeskSimConfig {
        tickets: 30,
        incremental_limit: 1_000,
        incremental_window: Duration::from_millis(100),
        ..ZendeskSimConfig::default()
    };
    let sim = ZendeskSim::new(config.clone(), clock.clone());
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let store = support::memory_store().await?;
    let settings = serde_json::json!({
        "base_url": server.url(),
        "auth": support::api_token_auth(&config),
        "page_size": 7,
        "rate_limit": {"requests_per_minute": 60000, "incremental_requests": 1000, "incremental_window_secs": 0.1},
    });
    let connector = support::build(&settings, &store, support::fast_policy(600_000, 10_000))?;
    let engine = support::engine(&store);
    let run = || async {
        let outcome = support::incremental(&engine, connector.as_ref()).await?.outcome;
        assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    let stored_comments = |id: &'static str| {
        let store = std::sync::Arc::clone(&store);
        async move {
            let item = store.item_by_external_id(support::ID, id).await?.ok_or("ticket 1 is stored")?;
            Ok::<_, Box<dyn std::error::Error>>(item.comments.iter().map(|c| c.body.clone()).collect::<Vec<_>>())
        }
    };
    run().await?;
    let first = stored_comments("1").await?;
    let truth = sim.ticket(1).ok_or("ticket 1")?;
    assert_eq!(first.len() + 1, truth.comments.len(), "all but the description");

    clock.advance(Duration::from_secs(600));
    assert!(sim.add_comment(1, "<p>a later reply</p>", true));
    clock.advance(Duration::from_secs(120));
    server.handle().log().clear();
    run().await?;
    let merged = stored_comments("1").await?;
    assert_eq!(merged.len(), first.len() + 1, "the stored comments stay and the new one joins: {merged:?}");
    assert_eq!(merged[..first.len()], first[..]);
    assert!(merged.last().is_some_and(|c| c.contains("a later reply")), "{merged:?}");
    let per_ticket = server.requests().iter().filter(|r| r.path.contains("/comments.json")).count();
    assert_eq!(per_ticket, 0, "the events export covered it");

    // The events export lags behind this change, so the ticket is read per ticket, and
    // that read is refused: the stored comments are kept, not replaced by none.
    sim.set_events_lag(3_600);
    sim.deny_comments(1);
    clock.advance(Duration::from_secs(600));
    assert!(sim.edit_ticket(1, |t| t.priority = Some("urgent".into())));
    clock.advance(Duration::from_secs(120));
    run().await?;
    let kept = stored_comments("1").await?;
    assert_eq!(kept, merged, "a failed comments read keeps the stored comments");
    let item = store.item_by_external_id(support::ID, "1").await?.ok_or("ticket 1")?;
    assert_eq!(item.priority.as_deref(), Some("urgent"), "the ticket itself was updated");
    Ok(())
}

//! How many requests a backfill costs. Comments come from the ticket-events export
//! (one request per page of events), so requests grow with pages, not with tickets;
//! a per-ticket `comments.json` read is the exception, not the rule. The test prints
//! the figure per 1 000 tickets and bounds it.

mod support;

use std::time::Duration;

use chorus_sim::zendesk::{ZendeskSim, ZendeskSimConfig};
use chorus_sim::{FaultProfile, SimServer};
use chorus_store::RunStatus;

use support::TestResult;

const TICKETS: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_costs_requests_per_page_not_per_ticket() -> TestResult {
    let clock = support::clock()?;
    let config = ZendeskSimConfig {
        tickets: TICKETS,
        users: 200,
        organizations: 20,
        incremental_limit: 1_000,
        incremental_window: Duration::from_millis(100),
        ..ZendeskSimConfig::default()
    };
    let sim = ZendeskSim::new(config.clone(), clock);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let store = support::memory_store().await?;
    let settings = serde_json::json!({
        "base_url": server.url(),
        "auth": support::api_token_auth(&config),
        "rate_limit": {"requests_per_minute": 60000, "incremental_requests": 1000, "incremental_window_secs": 0.1},
    });
    let connector = support::build(&settings, &store, support::fast_policy(600_000, 10_000))?;
    let engine = support::engine(&store);
    let outcome = support::incremental(&engine, connector.as_ref()).await?.outcome;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let requests = server.handle().requests();
    let per_ticket = requests.iter().filter(|r| r.path.contains("/comments.json")).count();
    let per_thousand = requests.len() * 1_000 / TICKETS;
    println!("requests per 1000 tickets: {per_thousand} ({per_ticket} per-ticket comment reads)");
    assert!(per_thousand <= 50, "{per_thousand} requests per 1000 tickets");
    let stored = store.item_by_external_id(support::ID, "1").await?.ok_or("ticket 1 not stored")?;
    let truth = sim.ticket(1).ok_or("no ticket 1")?;
    assert_eq!(stored.comments.len() + 1, truth.comments.len(), "every comment but the description");
    Ok(())
}

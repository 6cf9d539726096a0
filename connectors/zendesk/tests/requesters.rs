//! Requester emails survive incremental runs: tickets whose requesters were neither
//! sideloaded nor in the run's users export get them from `users/show_many`, at most
//! 100 ids a call.

mod support;

use std::time::Duration;

use chorus_sim::zendesk::{ZendeskSim, ZendeskSimConfig};
use chorus_sim::{FaultProfile, SimServer};
use chorus_store::{IdPage, ItemFilter};

use support::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requesters_are_looked_up_in_batches_of_a_hundred() -> TestResult {
    let clock = support::clock()?;
    let config = ZendeskSimConfig {
        users: 400,
        tickets: 600,
        incremental_window: Duration::from_millis(200),
        sideload_users: false,
        ..ZendeskSimConfig::default()
    };
    let sim = ZendeskSim::new(config.clone(), clock.clone());
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let dir = tempfile::tempdir()?;
    let store = support::file_store(&dir, "chorus.db").await?;
    let settings = serde_json::json!({
        "base_url": server.url(),
        "auth": support::api_token_auth(&config),
        "comments": "none",
        "rate_limit": {"requests_per_minute": 60000, "incremental_requests": 10, "incremental_window_secs": 0.2},
    });
    let connector = support::build(&settings, &store, support::fast_policy(60_000, 100))?;
    let engine = support::engine(&store);
    assert!(support::incremental(&engine, connector.as_ref()).await?.succeeded());
    assert!(sim.show_many_calls().is_empty(), "the users export of the same run knew every requester");

    // Every ticket changes; no user does. The incremental run's users export is empty.
    let truth = sim.truth();
    for id in truth.tickets.values().map(|t| t.id) {
        assert!(sim.edit_ticket(id, |t| t.subject = format!("{} (edited)", t.subject)));
    }
    clock.advance(Duration::from_secs(61));
    assert!(support::incremental(&engine, connector.as_ref()).await?.succeeded());

    let calls = sim.show_many_calls();
    assert!(calls.len() >= 2 && calls.iter().all(|n| (1..=100).contains(n)), "batches of at most 100: {calls:?}");
    let items = store.items(&ItemFilter::default(), IdPage::first(1000)).await?;
    assert_eq!(items.len(), truth.tickets.len());
    for item in &items {
        let ticket = &truth.tickets[&item.external_id];
        assert!(item.title.ends_with("(edited)"), "ticket {} was re-read", item.external_id);
        let expected = ticket.requester_id.and_then(|r| truth.users.get(&r.to_string())).and_then(|u| u.email.clone());
        assert_eq!(item.author_email, expected.map(|e| e.to_ascii_lowercase()), "ticket {}", item.external_id);
    }
    Ok(())
}

//! Zendesk refuses an export `start_time` less than a minute before its own clock
//! (400 "Too recent start_time"). The connector must never send one: a run right after
//! a change that the previous run already exported, and a first run configured to
//! start a few seconds ago, both succeed without a refused request, and an export
//! with nothing old enough to ask for ends without a page.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chorus_sim::zendesk::{ZendeskSim, ZendeskSimConfig};
use chorus_sim::{FaultProfile, SimClock, SimServer};
use chorus_store::Store;
use chorus_sync::connector::DynConnector;

use support::{BoxResult, TestResult};

fn connector(url: &str, store: &Arc<dyn Store>, start_time: i64) -> BoxResult<Box<dyn DynConnector>> {
    let settings = serde_json::json!({
        "base_url": url,
        "auth": support::api_token_auth(&ZendeskSimConfig::default()),
        "start_time": start_time,
        "comments": "none",
        "rate_limit": {"requests_per_minute": 60000, "incremental_requests": 10, "incremental_window_secs": 0.2},
    });
    support::build(&settings, store, support::fast_policy(60_000, 100))
}

fn sim() -> BoxResult<(ZendeskSim, SimClock)> {
    // A clock far from this host's: only Zendesk's own clock can tell what it takes.
    let clock = support::clock()?;
    let config = ZendeskSimConfig { tickets: 20, incremental_window: Duration::from_millis(200), ..Default::default() };
    Ok((ZendeskSim::new(config, clock.clone()), clock))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_exported_within_the_minute_does_not_make_the_next_run_fail() -> TestResult {
    let (sim, clock) = sim()?;
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let dir = tempfile::tempdir()?;
    let store = support::file_store(&dir, "chorus.db").await?;
    let engine = support::engine(&store);
    let connector = connector(&server.url(), &store, 0)?;
    assert!(support::incremental(&engine, connector.as_ref()).await?.succeeded());

    // Renamed now, exported once the withheld minute is over: the export's `end_time`
    // (the next `start_time`) is then less than a minute old.
    let org = sim.organizations().first().map(|o| o.id).ok_or("organizations")?;
    assert!(sim.edit_organization(org, |o| o.name = "Renamed Inc".into()));
    clock.advance(Duration::from_secs(60));
    let exported = support::incremental(&engine, connector.as_ref()).await?;
    assert!(exported.succeeded(), "{:?}", exported.outcome.error);
    let accounts = store.accounts(chorus_store::IdPage::first(100)).await?;
    assert!(accounts.iter().any(|a| a.name == "Renamed Inc"), "the rename was exported");

    let rerun = support::incremental(&engine, connector.as_ref()).await?;
    assert!(rerun.succeeded(), "a too recent start_time was sent: {:?}", rerun.outcome.error);
    assert_eq!(sim.too_recent_rejections(), 0);

    // A minute on, the organizations export is asked again from where it stopped.
    clock.advance(Duration::from_secs(2));
    let before = server.requests().len();
    assert!(support::incremental(&engine, connector.as_ref()).await?.succeeded());
    let asked = server.requests()[before..].iter().any(|r| r.path == "/api/v2/incremental/organizations.json");
    assert!(asked, "the organizations export resumes once its start_time is old enough");
    assert_eq!(sim.too_recent_rejections(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_time_seconds_ago_ends_the_run_cleanly_with_no_page() -> TestResult {
    let (sim, clock) = sim()?;
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let dir = tempfile::tempdir()?;
    let store = support::file_store(&dir, "chorus.db").await?;
    let engine = support::engine(&store);
    let start_time = clock.now().timestamp() - 30;
    let connector = connector(&server.url(), &store, start_time)?;
    let report = support::incremental(&engine, connector.as_ref()).await?;
    assert!(report.succeeded(), "{:?}", report.outcome.error);
    assert_eq!(report.outcome.pages, 0, "nothing is old enough to export yet");
    assert!(server.requests().iter().all(|r| !r.path.starts_with("/api/v2/incremental/")), "no export was asked");
    assert_eq!(sim.too_recent_rejections(), 0);

    // A ticket created after `start_time` is exported once that is a minute old.
    let ticket = sim.add_ticket_at(clock.now(), "Fresh ticket", "<p>new</p>", None);
    clock.advance(Duration::from_secs(61));
    let report = support::incremental(&engine, connector.as_ref()).await?;
    assert!(report.succeeded(), "{:?}", report.outcome.error);
    let filter =
        chorus_store::ItemFilter { connector: Some("zendesk".into()), include_deleted: true, ..Default::default() };
    let items = store.items(&filter, chorus_store::IdPage::first(100)).await?;
    assert_eq!(items.iter().map(|i| i.external_id.clone()).collect::<Vec<_>>(), [ticket.to_string()]);
    assert_eq!(sim.too_recent_rejections(), 0);
    Ok(())
}

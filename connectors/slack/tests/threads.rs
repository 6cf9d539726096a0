//! Replies on old threads, unreadable channels, scopes and the non-Marketplace limits,
//! over real HTTP against the simulator.

mod support;

use std::time::Duration;

use chorus_sim::slack::{channels, RateMode, SlackSimConfig};
use chorus_sim::{FaultProfile, SimServer};
use chorus_store::RunStatus;
use serde_json::json;

use support::TestResult;

/// A reply posted today on a thread a month old arrives on the next incremental sync
/// (its parent's `ts` is old; only `latest_reply` moved) — and with no look-back it
/// would not, which is what the look-back is for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_on_a_month_old_thread_arrives_on_the_next_sync() -> TestResult {
    for (lookback, arrives) in [(60, true), (0, false)] {
        let clock = support::clock()?;
        let sim = support::sim(&clock, SlackSimConfig::default());
        let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
        let dir = tempfile::tempdir()?;
        let store = support::file_store(&dir).await?;
        let engine = support::engine(&store);
        let mut settings = support::settings(&server.url(), &sim.config().bot_token);
        settings["thread_lookback_days"] = json!(lookback);
        let connector = support::build(&settings, &store)?;
        support::sync(&engine, connector.as_ref()).await?;

        clock.advance(Duration::from_secs(3_600));
        let now = clock.now().timestamp();
        let features = sim.channel(channels::FEATURE_REQUESTS).ok_or("channel")?;
        let old = features
            .messages
            .values()
            .find(|m| m.subtype.is_none() && (30 * 86_400..45 * 86_400).contains(&(now - m.ts.secs)))
            .ok_or("a month-old thread")?
            .ts;
        let reply = sim.reply(channels::FEATURE_REQUESTS, old, "U0PRIYA", "Shipped today", false).ok_or("reply")?;
        support::sync(&engine, connector.as_ref()).await?;
        let items = support::items(store.as_ref()).await?;
        let thread = items.get(&format!("{}:{old}", channels::FEATURE_REQUESTS)).ok_or("the thread")?;
        let found = thread.comments.iter().any(|c| c.external_id == reply.to_string());
        assert_eq!(found, arrives, "look-back {lookback} days");
        if arrives {
            support::assert_matches(&items, &sim.truth(support::READ));
        }
    }
    Ok(())
}

/// A channel the bot was never invited to fails the run naming it and saying how to
/// fix it, after every other channel was synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_the_bot_is_not_in_is_named_and_the_others_still_sync() -> TestResult {
    let clock = support::clock()?;
    let sim = support::sim(&clock, SlackSimConfig::default());
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let dir = tempfile::tempdir()?;
    let store = support::file_store(&dir).await?;
    let engine = support::engine(&store);
    let mut settings = support::settings(&server.url(), &sim.config().bot_token);
    settings["channels"] = json!([{"channel": "#random"}, {"channel": "#nope"}, {"channel": "#bugs", "kind": "bug"}]);
    let connector = support::build(&settings, &store)?;
    let report = support::run(&engine, connector.as_ref()).await?;
    assert_eq!(report.outcome.status, RunStatus::Failed);
    let error = report.outcome.error.unwrap_or_default();
    assert!(error.contains("#random") && error.contains("/invite"), "{error}");
    assert!(error.contains("#nope") && error.contains("channel_not_found"), "{error}");
    assert!(!error.contains("xoxb-"), "the token never appears: {error}");
    let items = support::items(store.as_ref()).await?;
    let live = items.values().filter(|i| i.deleted_at.is_none()).count();
    assert_eq!(live, sim.truth(&[channels::BUGS]).threads.len(), "#bugs synced");

    // Invited, the channel syncs.
    sim.set_bot_member(channels::NOT_INVITED, true);
    settings["channels"] = json!([{"channel": "#random"}]);
    let connector = support::build(&settings, &store)?;
    support::sync(&engine, connector.as_ref()).await?;
    Ok(())
}

/// A token without `channels:history` fails at once, naming the scope to add.
#[tokio::test]
async fn a_missing_scope_is_named() -> TestResult {
    let clock = support::clock()?;
    let sim = support::sim(&clock, SlackSimConfig::default());
    sim.set_scopes(&["channels:read", "groups:read", "users:read"]);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let dir = tempfile::tempdir()?;
    let store = support::file_store(&dir).await?;
    let engine = support::engine(&store);
    let connector = support::build(&support::settings(&server.url(), &sim.config().bot_token), &store)?;
    let report = support::run(&engine, connector.as_ref()).await?;
    assert_eq!(report.outcome.status, RunStatus::Failed);
    let error = report.outcome.error.unwrap_or_default();
    assert!(error.contains("`channels:history` scope") && error.contains("reinstall"), "{error}");
    Ok(())
}

/// A refused token is an auth failure and never quoted.
#[tokio::test]
async fn a_wrong_token_is_refused_without_being_printed() -> TestResult {
    let clock = support::clock()?;
    let sim = support::sim(&clock, SlackSimConfig::default());
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let dir = tempfile::tempdir()?;
    let store = support::file_store(&dir).await?;
    let connector = support::build(&support::settings(&server.url(), "xoxb-not-the-token"), &store)?;
    let error = connector.check().await.map(|_| ()).err().ok_or("refused")?.to_string();
    assert!(error.contains("invalid_auth") && !error.contains("not-the-token"), "{error}");
    let mut bad = support::settings(&server.url(), "sk-live-123");
    bad["auth"] = json!({"type": "bearer", "token": "sk-live-123"});
    let Err(error) = support::build(&bad, &store) else { return Err("a non-slack token is refused".into()) };
    assert!(!error.to_string().contains("sk-live-123"), "{error}");
    Ok(())
}

/// Under the 2025 non-Marketplace limits (1 history or replies request a window, 15
/// messages a page) a sync still completes, paced, and never asks past the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_marketplace_mode_completes_slowly() -> TestResult {
    let clock = support::clock()?;
    let config =
        SlackSimConfig { threads_per_channel: 20, mode: RateMode::NonMarketplace, ..SlackSimConfig::default() };
    let sim = support::sim(&clock, config);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let dir = tempfile::tempdir()?;
    let store = support::file_store(&dir).await?;
    let engine = support::engine(&store);
    let mut settings = support::settings(&server.url(), &sim.config().bot_token);
    settings["rate_mode"] = json!("non_marketplace");
    // One request a second, on each of the two methods: the sim's window is a second.
    settings["rate_limit"]["tier1_per_minute"] = json!(55);
    settings["channels"] = json!([{"channel": "#ext-globex", "account": "Globex"}]);
    let connector = support::build(&settings, &store)?;
    let started = std::time::Instant::now();
    support::sync(&engine, connector.as_ref()).await?;
    support::assert_matches(&support::items(store.as_ref()).await?, &sim.truth(&[channels::GLOBEX_SHARED]));
    assert!(sim.largest_page() <= 15, "pages of at most 15");
    let calls = sim.calls();
    let paced = calls.get("conversations.replies").copied().unwrap_or(0).max(1);
    assert!(
        started.elapsed() >= Duration::from_secs(paced - 1),
        "paced: {:?} for {paced} replies calls",
        started.elapsed()
    );
    let rejected: u64 = sim.rejections().values().sum();
    assert!(rejected <= 1, "at most a rare 429 at a window edge, waited out: {:?}", sim.rejections());
    Ok(())
}

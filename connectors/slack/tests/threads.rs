//! Replies on old threads, unreadable channels, scopes and the non-Marketplace limits,
//! over real HTTP against the simulator.

mod support;

use std::time::Duration;

use chorus_sim::slack::{channels, RateMode, SlackSimConfig};
use chorus_sim::FaultProfile;
use chorus_store::RunStatus;
use chorus_sync::engine::Quiet;
use chorus_sync::SyncMode;
use serde_json::json;

use support::TestResult;

/// A reply posted today on a thread a month old arrives on the next incremental sync
/// (its parent's `ts` is old; only `latest_reply` moved) — and with no look-back it
/// would not, which is what the look-back is for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_on_a_month_old_thread_arrives_on_the_next_sync() -> TestResult {
    for (lookback, arrives) in [(60, true), (0, false)] {
        let setup = support::setup(SlackSimConfig::default(), FaultProfile::none()).await?;
        let (clock, sim, engine) = (&setup.clock, &setup.sim, &setup.engine);
        let mut settings = setup.settings();
        settings["thread_lookback_days"] = json!(lookback);
        let connector = setup.connector(&settings)?;
        support::sync(engine, connector.as_ref()).await?;

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
        support::sync(engine, connector.as_ref()).await?;
        let items = setup.items().await?;
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
    let setup = support::setup(SlackSimConfig::default(), FaultProfile::none()).await?;
    let (sim, engine) = (&setup.sim, &setup.engine);
    let mut settings = setup.settings();
    settings["channels"] = json!([{"channel": "#random"}, {"channel": "#nope"}, {"channel": "#bugs", "kind": "bug"}]);
    let connector = setup.connector(&settings)?;
    let report = support::run(engine, connector.as_ref()).await?;
    assert_eq!(report.outcome.status, RunStatus::Failed);
    let error = report.outcome.error.unwrap_or_default();
    assert!(error.contains("#random") && error.contains("/invite"), "{error}");
    assert!(error.contains("#nope") && error.contains("channel_not_found"), "{error}");
    assert!(!error.contains("xoxb-"), "the token never appears: {error}");
    let items = setup.items().await?;
    let live = items.values().filter(|i| i.deleted_at.is_none()).count();
    assert_eq!(live, sim.truth(&[channels::BUGS]).threads.len(), "#bugs synced");

    // Invited, the channel syncs.
    sim.set_bot_member(channels::NOT_INVITED, true);
    settings["channels"] = json!([{"channel": "#random"}]);
    let connector = setup.connector(&settings)?;
    support::sync(engine, connector.as_ref()).await?;
    Ok(())
}

/// A channel the bot is removed from after a sync fails the run naming it, and its
/// items stay: an unreadable channel is not an empty one, so nothing is tombstoned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_the_bot_was_removed_from_keeps_its_items() -> TestResult {
    let setup = support::setup(SlackSimConfig::default(), FaultProfile::none()).await?;
    let connector = setup.connector(&setup.settings())?;
    support::sync(&setup.engine, connector.as_ref()).await?;
    let bugs = setup.sim.truth(&[channels::BUGS]).threads.len();
    assert!(bugs > 0, "#bugs has threads");

    assert!(setup.sim.set_bot_member(channels::BUGS, false));
    let report = support::run(&setup.engine, connector.as_ref()).await?;
    assert_eq!(report.outcome.status, RunStatus::Failed);
    let error = report.outcome.error.unwrap_or_default();
    assert!(error.contains("#bugs") && error.contains("/invite"), "{error}");
    let items = setup.items().await?;
    let live_bugs =
        items.values().filter(|i| i.deleted_at.is_none() && i.external_id.starts_with(channels::BUGS)).count();
    assert_eq!(live_bugs, bugs, "no item of #bugs was tombstoned");
    support::assert_matches(&items, &setup.sim.truth(support::READ));
    Ok(())
}

/// A message deleted (it had no replies, so it simply vanishes) before the look-back
/// window is not seen by an incremental sync — the documented limit — and is
/// tombstoned by a full one, which reads every channel whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_tombstones_a_message_deleted_before_the_window() -> TestResult {
    let setup = support::setup(SlackSimConfig::default(), FaultProfile::none()).await?;
    let mut settings = setup.settings();
    settings["thread_lookback_days"] = json!(7);
    let connector = setup.connector(&settings)?;
    support::sync(&setup.engine, connector.as_ref()).await?;

    let now = setup.clock.now().timestamp();
    let features = setup.sim.channel(channels::FEATURE_REQUESTS).ok_or("channel")?;
    let old = features
        .messages
        .values()
        .find(|m| m.subtype.is_none() && m.replies.is_empty() && now - m.ts.secs > 30 * 86_400)
        .ok_or("an old message without replies")?
        .ts;
    assert!(setup.sim.delete(channels::FEATURE_REQUESTS, None, old));
    let id = format!("{}:{old}", channels::FEATURE_REQUESTS);

    support::sync(&setup.engine, connector.as_ref()).await?;
    let items = setup.items().await?;
    assert!(items.get(&id).is_some_and(|i| i.deleted_at.is_none()), "outside the window: not seen yet");
    let live_before = items.values().filter(|i| i.deleted_at.is_none()).count();

    let report = setup.engine.run(connector.as_ref(), SyncMode::Full, &Quiet).await?;
    assert!(report.succeeded(), "{:?}", report.outcome.error);
    let items = setup.items().await?;
    assert!(items.get(&id).is_some_and(|i| i.deleted_at.is_some()), "the full sync tombstoned it");
    let live_after = items.values().filter(|i| i.deleted_at.is_none()).count();
    assert_eq!(live_after, live_before - 1, "and nothing else");
    support::assert_matches(&items, &setup.sim.truth(support::READ));
    Ok(())
}

/// A history cursor handed back twice fails the run instead of reading one page
/// forever; the page that repeated it is not committed, and the next run, the trap
/// gone, completes the channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_history_cursor_stops_the_run_and_loses_nothing() -> TestResult {
    let config = SlackSimConfig { threads_per_channel: 230, ..SlackSimConfig::default() };
    let setup = support::setup(config, FaultProfile::none()).await?;
    let mut settings = setup.settings();
    settings["channels"] = json!([{"channel": "#feature-requests"}]);
    let connector = setup.connector(&settings)?;
    setup.sim.set_repeat_cursor(channels::FEATURE_REQUESTS, true);
    let run = support::run(&setup.engine, connector.as_ref());
    let report = tokio::time::timeout(Duration::from_secs(60), run).await??;
    assert_eq!(report.outcome.status, RunStatus::Failed);
    let error = report.outcome.error.unwrap_or_default();
    assert!(error.contains("conversations.history") && error.contains("repeated"), "{error}");
    let history = setup.sim.calls().get("conversations.history").copied();
    assert_eq!(history, Some(2), "page 1, then page 2 repeating its cursor, and no more");
    let truth = setup.sim.truth(&[channels::FEATURE_REQUESTS]);
    let committed = setup.items().await?.len();
    assert!(committed > 0 && committed < truth.threads.len(), "page 1 only: {committed} of {}", truth.threads.len());

    setup.sim.set_repeat_cursor(channels::FEATURE_REQUESTS, false);
    support::sync(&setup.engine, connector.as_ref()).await?;
    support::assert_matches(&setup.items().await?, &setup.sim.truth(&[channels::FEATURE_REQUESTS]));
    Ok(())
}

/// A thread deleted between the history page that named it and its replies call
/// (`thread_not_found`) costs neither the run nor the stored replies: the run succeeds,
/// the thread's item stays as stored, and the next run matches the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_vanishing_before_its_replies_are_read_keeps_its_item_and_the_run() -> TestResult {
    let setup = support::setup(SlackSimConfig::default(), FaultProfile::none()).await?;
    let mut settings = setup.settings();
    settings["channels"] = json!([{"channel": "#feature-requests"}]);
    let connector = setup.connector(&settings)?;
    support::sync(&setup.engine, connector.as_ref()).await?;
    let before = setup.items().await?;
    let with_replies = before.values().filter(|i| !i.comments.is_empty()).count();
    assert!(with_replies > 0, "the seed has threads with replies");

    setup.sim.set_vanishing_threads(channels::FEATURE_REQUESTS, true);
    let report = support::run(&setup.engine, connector.as_ref()).await?;
    assert_eq!(report.outcome.status, RunStatus::Succeeded, "{:?}", report.outcome.error);
    let during = setup.items().await?;
    assert_eq!(during, before, "nothing tombstoned, no reply dropped");

    setup.sim.set_vanishing_threads(channels::FEATURE_REQUESTS, false);
    support::sync(&setup.engine, connector.as_ref()).await?;
    support::assert_matches(&setup.items().await?, &setup.sim.truth(&[channels::FEATURE_REQUESTS]));
    Ok(())
}

/// A token without `channels:history` fails at once, naming the scope to add.
#[tokio::test]
async fn a_missing_scope_is_named() -> TestResult {
    let setup = support::setup(SlackSimConfig::default(), FaultProfile::none()).await?;
    setup.sim.set_scopes(&["channels:read", "groups:read", "users:read"]);
    let connector = setup.connector(&setup.settings())?;
    let report = support::run(&setup.engine, connector.as_ref()).await?;
    assert_eq!(report.outcome.status, RunStatus::Failed);
    let error = report.outcome.error.unwrap_or_default();
    assert!(error.contains("`channels:history` scope") && error.contains("reinstall"), "{error}");
    Ok(())
}

/// A refused token is an auth failure and never quoted.
#[tokio::test]
async fn a_wrong_token_is_refused_without_being_printed() -> TestResult {
    let setup = support::setup(SlackSimConfig::default(), FaultProfile::none()).await?;
    let url = setup.server.url();
    let connector = setup.connector(&support::settings(&url, "xoxb-not-the-token"))?;
    let error = connector.check().await.map(|_| ()).err().ok_or("refused")?.to_string();
    assert!(error.contains("invalid_auth") && !error.contains("not-the-token"), "{error}");
    let mut bad = support::settings(&url, "sk-live-123");
    bad["auth"] = json!({"type": "bearer", "token": "sk-live-123"});
    let Err(error) = setup.connector(&bad) else { return Err("a non-slack token is refused".into()) };
    assert!(!error.to_string().contains("sk-live-123"), "{error}");
    Ok(())
}

/// Under the 2025 non-Marketplace limits (1 history or replies request a window, 15
/// messages a page) a sync still completes, paced, and never asks past the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_marketplace_mode_completes_slowly() -> TestResult {
    let config =
        SlackSimConfig { threads_per_channel: 20, mode: RateMode::NonMarketplace, ..SlackSimConfig::default() };
    let setup = support::setup(config, FaultProfile::none()).await?;
    let sim = &setup.sim;
    let mut settings = setup.settings();
    settings["rate_mode"] = json!("non_marketplace");
    // One request a second, on each of the two methods: the sim's window is a second.
    settings["rate_limit"]["tier1_per_minute"] = json!(55);
    settings["channels"] = json!([{"channel": "#ext-globex", "account": "Globex"}]);
    let connector = setup.connector(&settings)?;
    let started = std::time::Instant::now();
    support::sync(&setup.engine, connector.as_ref()).await?;
    support::assert_matches(&setup.items().await?, &sim.truth(&[channels::GLOBEX_SHARED]));
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

//! The two-phase test: a full sync of the Slack simulator over real HTTP under a heavy
//! fault profile (429s, a 503 burst, latency, bodies cut short or not JSON), then the
//! workspace changes — a reply on a month-old thread, an edit, deletions of a message,
//! a reply and a parent under its replies, a new message — and an incremental sync.
//! The store must equal the simulator's truth: nothing lost, duplicated, stale or left
//! behind; no request inside a `Retry-After` window; every method under its tier.

mod support;

use std::time::Duration;

use chorus_sim::slack::{channels, SlackSimConfig};
use chorus_sim::{CutBody, CutForm, ErrorBurst, FaultProfile, Latency, RateLimitFault, Trigger};

use support::TestResult;

fn heavy_faults() -> FaultProfile {
    FaultProfile {
        seed: 5,
        scope: None,
        rate_limit: Some(RateLimitFault::new(Trigger::Probability(0.05), Duration::from_secs(1))),
        error_burst: Some(ErrorBurst { after_n: 6, len: 3, status: 503 }),
        latency: Some(Latency { min: Duration::ZERO, max: Duration::from_millis(10), when: Trigger::Probability(0.3) }),
        cut_bodies: vec![
            CutBody::nth("/api/conversations.history", 2),
            CutBody { path_prefix: "/api/conversations.replies".into(), when: Trigger::Nth(3), form: CutForm::NotJson },
            CutBody { path_prefix: "/api/users.info".into(), when: Trigger::Nth(2), form: CutForm::Empty },
            CutBody::nth("/api/conversations.list", 1),
        ],
        wrong_shape: None,
        token_expiry: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_then_incremental_sync_matches_the_truth_under_faults() -> TestResult {
    let setup = support::setup(SlackSimConfig::default(), heavy_faults()).await?;
    let (clock, sim, server, engine) = (&setup.clock, &setup.sim, &setup.server, &setup.engine);
    let connector = setup.connector(&setup.settings())?;

    support::sync(engine, connector.as_ref()).await?;
    support::assert_matches(&setup.items().await?, &sim.truth(support::READ));
    assert!(server.faults().injected() > 0, "the fault profile fired");

    // Phase 2: a day later, the workspace changed.
    clock.advance(Duration::from_secs(86_400));
    let now = clock.now().timestamp();
    let features = sim.channel(channels::FEATURE_REQUESTS).ok_or("channel")?;
    let plain = |m: &&chorus_sim::slack::SimMessage| m.subtype.is_none() && !m.deleted;
    let month_old = features
        .messages
        .values()
        .filter(plain)
        .find(|m| (35 * 86_400..50 * 86_400).contains(&(now - m.ts.secs)))
        .ok_or("a month-old thread")?
        .ts;
    let recent: Vec<_> = features.messages.values().filter(plain).filter(|m| now - m.ts.secs < 30 * 86_400).collect();
    let lone = recent.iter().find(|m| m.replies.is_empty()).ok_or("a message without replies")?.ts;
    let edited = recent.iter().rev().find(|m| m.ts != lone).ok_or("a message to edit")?.ts;
    let bugs = sim.channel(channels::BUGS).ok_or("bugs")?;
    let mut threads =
        bugs.messages.values().filter(plain).filter(|m| !m.replies.is_empty() && now - m.ts.secs < 50 * 86_400);
    let (with_reply, doomed) = match (threads.next(), threads.next()) {
        (Some(a), Some(b)) => (a.clone(), b.ts),
        _ => return Err("two recent bug threads with replies".into()),
    };
    let late = sim.reply(channels::FEATURE_REQUESTS, month_old, "U0PRIYA", "Late answer: this shipped in 4.3", false);
    assert!(late.is_some());
    assert!(sim.edit(channels::FEATURE_REQUESTS, None, edited, "Edited: we need *SAML* &amp; SCIM"));
    assert!(sim.delete(channels::FEATURE_REQUESTS, None, lone));
    let first_reply = *with_reply.replies.keys().next().ok_or("a reply")?;
    assert!(sim.delete(channels::BUGS, Some(with_reply.ts), first_reply));
    assert!(sim.delete(channels::BUGS, None, doomed), "a parent deleted under its replies");
    let added = sim.post(channels::GLOBEX_SHARED, "W0010", "New: audit log export <@U0PRIYA>").ok_or("post")?;

    support::sync(engine, connector.as_ref()).await?;
    let items = setup.items().await?;
    support::assert_matches(&items, &sim.truth(support::READ));
    let late_thread = items.get(&format!("{}:{month_old}", channels::FEATURE_REQUESTS)).ok_or("the old thread")?;
    assert!(late_thread.comments.iter().any(|c| c.body.contains("shipped in 4.3")), "the late reply arrived");
    let shared = items.get(&format!("{}:{added}", channels::GLOBEX_SHARED)).ok_or("the new message")?;
    assert!(shared.body.contains("@Priya Natarajan"), "mentions are named: {}", shared.body);

    let served = server.faults().cut_bodies_served();
    assert_eq!(served, [1; 4], "every planned cut was served");
    assert_eq!(server.retry_after_violations(), 0, "no request inside a Retry-After window");
    assert!(sim.rejections().is_empty(), "every method was paced under its tier: {:?}", sim.rejections());
    Ok(())
}

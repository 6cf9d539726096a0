//! How many requests a sync of the seeded workspace costs, by method: one `auth.test`,
//! one `conversations.list` page, one history page per channel (pages of 200), one
//! replies call per thread with replies, one `users.info` per user — each user once
//! per run, however many messages they wrote.

mod support;

use std::collections::BTreeMap;

use chorus_sim::slack::SlackSimConfig;
use chorus_sim::FaultProfile;

use support::TestResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_costs_one_call_per_thread_with_replies_and_one_per_user() -> TestResult {
    let setup = support::setup(SlackSimConfig::default(), FaultProfile::none()).await?;
    let (sim, server) = (&setup.sim, &setup.server);
    let connector = setup.connector(&setup.settings())?;
    for run in ["full", "incremental"] {
        server.log().clear();
        support::sync(&setup.engine, connector.as_ref()).await?;
        let mut by_method: BTreeMap<String, usize> = BTreeMap::new();
        for request in server.requests() {
            *by_method.entry(request.path.trim_start_matches("/api/").to_owned()).or_default() += 1;
        }
        let total: usize = by_method.values().sum();
        println!("{run} sync: {total} requests {by_method:?}");
        let truth = sim.truth(support::READ);
        let threads = truth.threads.values().filter(|t| !t.parent.replies.is_empty()).count() + truth.tombstones.len();
        assert_eq!(by_method.get("auth.test"), Some(&1));
        assert_eq!(by_method.get("conversations.list"), Some(&1));
        assert_eq!(by_method.get("conversations.history"), Some(&support::READ.len()), "one page per channel");
        assert!(by_method.get("conversations.replies").is_some_and(|n| *n <= threads), "{threads} threads");
        let users = sim.users().len();
        assert!(by_method.get("users.info").is_some_and(|n| *n <= users), "each user once per run");
    }
    Ok(())
}

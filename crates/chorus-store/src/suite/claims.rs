//! Run claims: exclusivity, takeover of dead and expired holders, claim loss, races,
//! run history and credential compare-and-swap.

use std::sync::Arc;
use std::time::Duration;

use chorus_core::Record;

use super::{holder, item, page, store_suite, Harness};
use crate::{Holder, RunOutcome, RunStatus, Store, StoreError};

store_suite!(
    live_claim_is_exclusive_until_finished,
    dead_process_on_this_host_is_taken_over,
    dead_process_elsewhere_waits_for_expiry,
    expired_claim_is_taken_over_and_old_holder_loses,
    racing_claimants_exactly_one_wins,
    credential_swap_is_compare_and_swap,
    run_history_pages_newest_first_by_id_cursor,
);

fn succeeded(pages: u64) -> RunOutcome {
    RunOutcome { status: RunStatus::Succeeded, pages, upserted: 1, ..RunOutcome::default() }
}

async fn live_claim_is_exclusive_until_finished(harness: &Harness) {
    let me = std::process::id();
    let first = harness.store.claim_run("zd", &holder("a", me, 60)).await.expect("claim");
    let first = first.expect("free connector is claimed");
    let second = harness.store.claim_run("zd", &holder("b", me, 60)).await.expect("claim");
    assert!(second.is_none(), "a live holder keeps the claim");
    let other = harness.store.claim_run("jira", &holder("b", me, 60)).await.expect("claim");
    assert!(other.is_some(), "claims are per connector");

    harness.store.heartbeat(&first).await.expect("heartbeat");
    harness.store.finish_run(&first, &succeeded(3)).await.expect("finish");
    let runs = harness.store.runs(Some("zd"), 10).await.expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].status, runs[0].pages), (RunStatus::Succeeded, 3));
    assert!(runs[0].finished_at.is_some());
    assert_eq!(harness.store.runs(None, 10).await.expect("runs").len(), 2);

    let again = harness.store.claim_run("zd", &holder("b", me, 60)).await.expect("claim");
    assert!(again.is_some(), "a finished run releases the claim");
}

async fn dead_process_on_this_host_is_taken_over(harness: &Harness) {
    let dead_pid = 999_999_999;
    let dead = harness.store.claim_run("zd", &holder("dead", dead_pid, 3600)).await.expect("claim");
    let dead = dead.expect("claimed");
    let heir = harness.store.claim_run("zd", &holder("heir", std::process::id(), 60)).await;
    let heir = heir.expect("claim").expect("a dead holder's claim is taken over");
    assert_ne!(heir.run_id, dead.run_id);

    let runs = harness.store.runs(Some("zd"), 10).await.expect("runs");
    let old = runs.iter().find(|run| run.id == dead.run_id).expect("old run listed");
    assert_eq!(old.status, RunStatus::Abandoned);
    assert!(matches!(harness.store.heartbeat(&dead).await, Err(StoreError::ClaimLost { .. })));
}

async fn dead_process_elsewhere_waits_for_expiry(harness: &Harness) {
    let remote = Holder { host: "other-host".into(), ..holder("remote", 999_999_999, 3600) };
    harness.store.claim_run("zd", &remote).await.expect("claim").expect("claimed");
    let local = harness.store.claim_run("zd", &holder("local", std::process::id(), 60)).await;
    assert!(local.expect("claim").is_none(), "a pid on another host says nothing here");
}

async fn expired_claim_is_taken_over_and_old_holder_loses(harness: &Harness) {
    let me = std::process::id();
    let slow = Holder { ttl: Duration::from_millis(1), ..holder("slow", me, 0) };
    let slow = harness.store.claim_run("zd", &slow).await.expect("claim").expect("claimed");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let fresh = harness.store.claim_run("zd", &holder("fresh", me, 60)).await.expect("claim");
    let fresh = fresh.expect("an expired claim is taken over");

    let lost = harness.store.commit_page(&slow, &page("zd", vec![Record::Item(item("1", "late"))], 0)).await;
    assert!(matches!(lost, Err(StoreError::ClaimLost { .. })), "{lost:?}");
    assert!(matches!(harness.store.heartbeat(&slow).await, Err(StoreError::ClaimLost { .. })));
    assert!(matches!(harness.store.reset_cursor(&slow).await, Err(StoreError::ClaimLost { .. })));
    assert!(harness.store.item_by_external_id("zd", "1").await.expect("read").is_none());

    // The loser finishing must neither release the winner's claim nor rewrite history.
    harness.store.finish_run(&slow, &succeeded(1)).await.expect("finish");
    let runs = harness.store.runs(Some("zd"), 10).await.expect("runs");
    let old = runs.iter().find(|run| run.id == slow.run_id).expect("old run listed");
    assert_eq!(old.status, RunStatus::Abandoned);
    harness.store.heartbeat(&fresh).await.expect("winner still holds the claim");
}

async fn racing_claimants_exactly_one_wins(harness: &Harness) {
    let other = Arc::new(harness.reopen().await);
    let me = std::process::id();
    let (holder_a, holder_b) = (holder("a", me, 60), holder("b", me, 60));
    for round in 0..10 {
        let connector = format!("race-{round}");
        let (a, b) =
            tokio::join!(harness.store.claim_run(&connector, &holder_a), other.claim_run(&connector, &holder_b),);
        let winners = [a.expect("claim a"), b.expect("claim b")];
        assert_eq!(winners.iter().flatten().count(), 1, "round {round}: {winners:?}");
    }
    // Racing a takeover of the same expired claim: still one winner.
    let stale = Holder { ttl: Duration::from_millis(1), ..holder("stale", me, 0) };
    harness.store.claim_run("shared", &stale).await.expect("claim").expect("claimed");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (a, b) = tokio::join!(harness.store.claim_run("shared", &holder_a), other.claim_run("shared", &holder_b),);
    let winners = [a.expect("claim a"), b.expect("claim b")];
    assert_eq!(winners.iter().flatten().count(), 1, "{winners:?}");
}

async fn credential_swap_is_compare_and_swap(harness: &Harness) {
    let store = &harness.store;
    assert_eq!(store.credential("zd", "refresh").await.expect("read"), None);
    assert!(store.swap_credential("zd", "refresh", None, "t1").await.expect("swap"));
    assert!(!store.swap_credential("zd", "refresh", None, "t1b").await.expect("swap"));
    assert!(!store.swap_credential("zd", "refresh", Some("t0"), "t2").await.expect("swap"));
    assert!(store.swap_credential("zd", "refresh", Some("t1"), "t2").await.expect("swap"));
    assert_eq!(store.credential("zd", "refresh").await.expect("read").as_deref(), Some("t2"));

    let (a, b) = tokio::join!(
        store.swap_credential("zd", "refresh", Some("t2"), "a"),
        store.swap_credential("zd", "refresh", Some("t2"), "b"),
    );
    assert_eq!([a.expect("a"), b.expect("b")].iter().filter(|won| **won).count(), 1);
}

async fn run_history_pages_newest_first_by_id_cursor(harness: &Harness) {
    let me = std::process::id();
    for connector in ["zd", "zd", "jira", "zd"] {
        let claim = harness.store.claim_run(connector, &holder("a", me, 60)).await.expect("claim").expect("free");
        harness.store.finish_run(&claim, &succeeded(1)).await.expect("finish");
    }
    let first = harness.store.runs_before(Some("zd"), None, 2).await.expect("page");
    assert_eq!(first.len(), 2);
    assert!(first[0].id > first[1].id, "newest first");
    let next = harness.store.runs_before(Some("zd"), Some(first[1].id), 2).await.expect("page");
    assert_eq!(next.len(), 1, "the third zd run, and no jira run");
    assert!(next[0].id < first[1].id && next[0].connector == "zd");
    let rest = harness.store.runs_before(Some("zd"), Some(next[0].id), 2).await.expect("page");
    assert!(rest.is_empty());
    assert_eq!(harness.store.runs_before(None, None, 10).await.expect("all").len(), 4);
}

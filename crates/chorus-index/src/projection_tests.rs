//! The index as a projection of the change log: resume at the payload position,
//! tombstones, account re-ranks, rebuilds while searching, and generation hand-over.

use std::sync::Arc;

use chorus_core::{ExchangeRates, Kind, Source};
use chorus_store::Store;

use crate::testing::{corpus, item, MemStore, INITECH_ARR};
use crate::{rebuild_index, IndexProjection, SearchIndex, SearchRequest, Sort};

async fn drain(projection: &mut IndexProjection) -> u64 {
    let mut commits = 0;
    while projection.step().await.expect("apply changes") > 0 {
        commits += 1;
    }
    commits
}

fn ids(index: &SearchIndex, query: &str, sort: Sort) -> Vec<i64> {
    let request = SearchRequest { sort, limit: 50, ..SearchRequest::new(query) };
    index.search(&request).expect("search").hits.iter().map(|hit| hit.item_id).collect()
}

/// An item without account, requests or comments, created and updated on 1 April.
fn plain_item(
    id: i64,
    source: Source,
    kind: Kind,
    title: &'static str,
    body: &'static str,
    status: &'static str,
) -> chorus_core::Item {
    item((id, source, kind, title, body, status, None, &[], (4, 1), (4, 1), &[]))
}

/// The fixed corpus, an empty index in a temporary directory (kept alive by the first
/// element), and a projection from one to the other.
fn following_corpus() -> (tempfile::TempDir, Arc<MemStore>, SearchIndex, IndexProjection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = corpus();
    let index = SearchIndex::open(dir.path()).expect("open");
    let projection =
        IndexProjection::new(index.clone(), dyn_store(&store), ExchangeRates::default()).expect("projection");
    (dir, store, index, projection)
}

fn dyn_store(store: &Arc<MemStore>) -> Arc<dyn Store> {
    Arc::clone(store) as Arc<dyn Store>
}

#[tokio::test]
async fn restart_resumes_at_the_committed_payload_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = corpus();
    let last = store.last_change().await.expect("last change");
    {
        let index = SearchIndex::open(dir.path()).expect("open");
        let mut projection = IndexProjection::new(index.clone(), dyn_store(&store), ExchangeRates::default())
            .expect("projection")
            .with_batch(4);
        assert_eq!(drain(&mut projection).await, 3, "11 changes in batches of 4");
        assert_eq!(projection.position(), last);
        assert_eq!(index.num_docs(), 7);
    } // the process "stops" here
    store.update_item(7, |item| item.title = "Dark mode and high contrast".into());
    store.put_item(plain_item(8, Source::Slack, Kind::Bug, "Contrast too low", "", "new"));
    store.take_reads();

    let index = SearchIndex::open(dir.path()).expect("reopen");
    assert_eq!(index.position().expect("payload"), last, "position comes from the commit payload");
    let mut projection =
        IndexProjection::new(index.clone(), dyn_store(&store), ExchangeRates::default()).expect("projection");
    let outcome = projection.catch_up().await.expect("catch up");
    assert_eq!((outcome.changes, outcome.position, outcome.rebuilt), (2, last + 2, false));
    let reads = store.take_reads();
    assert_eq!(reads.first(), Some(&last), "resumed right after the last committed change: {reads:?}");
    assert_eq!(index.num_docs(), 8, "nothing re-applied twice, nothing skipped");
    let mut contrast = ids(&index, "contrast", Sort::Relevance);
    contrast.sort_unstable();
    assert_eq!(contrast, vec![7, 8]);
}

#[tokio::test]
async fn uncommitted_work_is_redone_after_a_crash() {
    let (dir, store, index, mut projection) = following_corpus();
    drain(&mut projection).await;
    let position = projection.position();
    store.tombstone(2);
    // Apply without committing, then "crash" (drop the writer before its commit).
    let projector = crate::documents::Projector::new(index.live().fields, Arc::new(ExchangeRates::default()));
    let (ops, _, _) = crate::writer::changes_to_ops(&dyn_store(&store), &projector, position, 100, i64::MAX)
        .await
        .expect("read changes")
        .expect("one change");
    drop(projection);
    let mut writer = crate::writer::Writer::new(&index.live(), 1, 16 << 20).expect("writer");
    writer.apply(ops).await.expect("apply");
    drop(writer);
    let index = SearchIndex::open(dir.path()).expect("reopen");
    assert_eq!(index.position().expect("payload"), position, "the uncommitted batch left no trace");
    assert_eq!(index.num_docs(), 7);
    let mut projection =
        IndexProjection::new(index.clone(), dyn_store(&store), ExchangeRates::default()).expect("projection");
    projection.catch_up().await.expect("catch up");
    assert_eq!(index.num_docs(), 6);
}

#[tokio::test]
async fn a_tombstone_leaves_the_index() {
    let (_dir, store, index, mut projection) = following_corpus();
    drain(&mut projection).await;
    assert_eq!(ids(&index, "saml", Sort::Relevance).len(), 2);
    store.tombstone(1);
    projection.catch_up().await.expect("catch up");
    assert_eq!(ids(&index, "saml", Sort::Relevance), vec![4]);
    let answer = index.search(&SearchRequest::new("sso")).expect("search");
    assert_eq!(answer.total, 3);
    assert_eq!(index.num_docs(), 6);
}

#[tokio::test]
async fn an_account_change_re_ranks_its_items_without_a_rebuild() {
    let (_dir, store, index, mut projection) = following_corpus();
    drain(&mut projection).await;
    let generation = index.live().name.clone();
    assert_eq!(ids(&index, "sso", Sort::Revenue), vec![1, 2, 4, 5]);
    let before = index.search(&SearchRequest::new("sso")).expect("search");
    let rank_before = before.hits.iter().find(|hit| hit.item_id == 4).expect("item 4").rank;

    // Initech (item 4) signs a $20M renewal and moves to the enterprise segment.
    store.update_account(3, |account| {
        account.arr_minor = 20_000_000 * 100;
        account.segment = Some("enterprise".into());
    });
    let outcome = projection.catch_up().await.expect("catch up");
    assert_eq!(outcome.changes, 1);
    assert_eq!(index.live().name, generation, "no rebuild");
    assert_eq!(ids(&index, "sso", Sort::Revenue), vec![4, 1, 2, 5]);
    let after = index.search(&SearchRequest::new("sso")).expect("search");
    let hit = after.hits.iter().find(|hit| hit.item_id == 4).expect("item 4");
    assert_eq!(hit.arr_minor, 20_000_000 * 100);
    assert!(hit.rank > rank_before, "weighted rank rises with ARR: {} -> {}", rank_before, hit.rank);
    assert_eq!(after.reach.arr_minor, before.reach.arr_minor - INITECH_ARR + 20_000_000 * 100);
    assert_eq!(crate::Facets::count(&after.facets.segment, "enterprise"), 2);
    assert_eq!(after.total, before.total);
}

#[tokio::test]
async fn rebuild_swaps_generations_while_searches_continue() {
    let (dir, store, index, mut projection) = following_corpus();
    let outcome = projection.catch_up().await.expect("catch up");
    assert!(outcome.rebuilt, "an empty index is rebuilt rather than replaying the log");
    let before = index.search(&SearchRequest::new("sso")).expect("search");
    let old = index.live();
    let old_searcher = old.reader.searcher();

    store.tombstone(5);
    let report = projection.rebuild().await.expect("rebuild");
    assert_eq!((report.items, report.accounts), (6, 4));
    assert_ne!(index.live().name, old.name);
    assert!(!old.dir.exists(), "the old generation directory is removed");
    // A search that started on the old generation still completes.
    let old_hits = old_searcher.search(&tantivy::query::AllQuery, &tantivy::collector::Count).expect("old search");
    assert_eq!(old_hits, 7);
    let after = index.search(&SearchRequest::new("sso")).expect("search");
    assert_eq!((before.total, after.total), (4, 3));
    // The follower continues on the new generation from the rebuilt position.
    store.update_item(3, |item| item.title = "SSO export".into());
    projection.catch_up().await.expect("catch up");
    assert_eq!(index.search(&SearchRequest::new("sso")).expect("search").total, 4);
    let reopened = SearchIndex::open(dir.path()).expect("reopen");
    assert_eq!(reopened.position().expect("position"), projection.position());
}

#[tokio::test]
async fn a_follower_adopts_a_generation_rebuilt_by_another_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = corpus();
    let server_index = SearchIndex::open(dir.path()).expect("open");
    let mut follower =
        IndexProjection::new(server_index.clone(), dyn_store(&store), ExchangeRates::default()).expect("projection");
    drain(&mut follower).await;

    // `chorus reindex` in another process: its own handle, no access to the live writer.
    let cli_index = SearchIndex::open(dir.path()).expect("open from the cli");
    store.tombstone(7);
    let report = rebuild_index(&cli_index, dyn_store(&store), 100, &ExchangeRates::default()).await.expect("rebuild");
    assert_eq!(report.items, 6);

    store.tombstone(6);
    let outcome = follower.catch_up().await.expect("catch up");
    assert_eq!(server_index.live().name, cli_index.live().name, "the server switched generations");
    assert_eq!(outcome.position, store.last_change().await.expect("last"));
    assert_eq!(server_index.num_docs(), 5);
}

#[tokio::test]
async fn an_index_ahead_of_its_store_is_rebuilt_not_trusted() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let index = SearchIndex::open(dir.path()).expect("open");
        let mut projection =
            IndexProjection::new(index, dyn_store(&corpus()), ExchangeRates::default()).expect("projection");
        projection.catch_up().await.expect("catch up");
    } // the store is then replaced (a restored backup, a recreated demo store)
    let replaced = Arc::new(MemStore::default());
    replaced.put_item(plain_item(1, Source::Slack, Kind::Bug, "Only one", "", "new"));

    let index = SearchIndex::open(dir.path()).expect("reopen");
    let mut projection =
        IndexProjection::new(index.clone(), dyn_store(&replaced), ExchangeRates::default()).expect("projection");
    let outcome = projection.catch_up().await.expect("catch up");
    assert!(outcome.rebuilt, "positions from another database mean nothing here");
    assert_eq!(index.num_docs(), 1, "only the new store's items");
    assert_eq!(ids(&index, "only", Sort::Relevance), vec![1]);
}

#[tokio::test]
async fn cleanup_never_removes_the_generation_current_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A process opened the index while the old generation was live...
    let index = SearchIndex::open(dir.path()).expect("open");
    let old = index.live().name.clone();
    // ...then a rebuild made a new one live and cleared its `BUILDING` mark...
    let next = crate::generation::Generation::create(dir.path(), crate::pairs::FrequentWords::default(), None)
        .expect("create");
    crate::generation::write_current(dir.path(), &next.name).expect("switch");
    // ...before that process's cleanup ran with its stale idea of what to keep.
    crate::generation::remove_others(dir.path(), &old);
    assert!(next.dir.exists(), "the generation CURRENT names survives the cleanup");
    assert!(SearchIndex::open(dir.path()).is_ok());
}

#[tokio::test]
async fn a_rebuild_clears_its_mark_only_once_live() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = corpus();
    let index = SearchIndex::open(dir.path()).expect("open");
    rebuild_index(&index, dyn_store(&store), 100, &ExchangeRates::default()).await.expect("rebuild");
    let live = index.live();
    assert_eq!(crate::generation::read_current(dir.path()).expect("current").as_deref(), Some(live.name.as_str()));
    assert!(!live.dir.join("BUILDING").exists(), "the live generation is not marked as being built");
}

#[tokio::test]
async fn open_and_follow_recover_when_current_names_a_missing_generation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = corpus();
    let index = SearchIndex::open(dir.path()).expect("open");
    let mut follower =
        IndexProjection::new(index.clone(), dyn_store(&store), ExchangeRates::default()).expect("projection");
    drain(&mut follower).await;
    let complete = index.live().name.clone();
    // `CURRENT` names a generation that a racing cleanup deleted.
    let lost = crate::generation::Generation::create(dir.path(), crate::pairs::FrequentWords::default(), None)
        .expect("create");
    crate::generation::write_current(dir.path(), &lost.name).expect("switch");
    std::fs::remove_dir_all(&lost.dir).expect("delete");
    drop(lost);

    let reopened = SearchIndex::open(dir.path()).expect("open recovers");
    assert_eq!(reopened.live().name, complete, "falls back to the newest complete generation");
    assert_eq!(reopened.num_docs(), 7);
    assert_eq!(crate::generation::read_current(dir.path()).expect("current"), Some(complete.clone()));

    // The running follower recovers too.
    let lost = crate::generation::Generation::create(dir.path(), crate::pairs::FrequentWords::default(), None)
        .expect("create");
    crate::generation::write_current(dir.path(), &lost.name).expect("switch");
    std::fs::remove_dir_all(&lost.dir).expect("delete");
    drop(lost);
    store.tombstone(1);
    follower.catch_up().await.expect("the follower recovers");
    assert_eq!(ids(&index, "saml", Sort::Relevance), vec![4]);
    assert_eq!(crate::generation::read_current(dir.path()).expect("current"), Some(complete));
    assert_eq!(SearchIndex::open(dir.path()).expect("open").num_docs(), 6);
}

#[tokio::test]
async fn open_starts_empty_and_rebuilds_when_no_complete_generation_is_left() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("CURRENT"), "gen-00000000000000000001-1-000000001").expect("write");
    let store = corpus();
    let index = SearchIndex::open(dir.path()).expect("open recovers");
    assert_eq!(index.num_docs(), 0);
    let mut projection =
        IndexProjection::new(index.clone(), dyn_store(&store), ExchangeRates::default()).expect("projection");
    assert!(projection.catch_up().await.expect("catch up").rebuilt);
    assert_eq!(index.num_docs(), 7);
}

#[tokio::test]
async fn the_follower_recovers_from_a_lost_writer() {
    let (_dir, store, index, mut projection) = following_corpus();
    drain(&mut projection).await;
    store.tombstone(1);
    projection.writer_mut().fail_next(crate::writer::Failure::Panic);

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let follow = tokio::spawn(projection.follow(std::time::Duration::from_millis(10), async {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while ids(&index, "saml", Sort::Relevance) != vec![4] {
        assert!(std::time::Instant::now() < deadline, "the follower never recovered from the lost writer");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        index.reload().expect("reload");
    }
    let _ = stop.send(());
    follow.await.expect("follow task");
    assert_eq!(index.num_docs(), 6);
}

#[tokio::test]
async fn a_write_error_discards_the_batch_and_the_next_tick_retries() {
    let (_dir, store, index, mut projection) = following_corpus();
    drain(&mut projection).await;
    let position = projection.position();
    store.tombstone(1);
    projection.writer_mut().fail_next(crate::writer::Failure::Io);
    assert!(projection.step().await.is_err(), "the injected error surfaces");
    assert_eq!(projection.position(), position, "nothing committed");
    let outcome = projection.catch_up().await.expect("the next tick retries with a fresh writer");
    assert_eq!(outcome.position, store.last_change().await.expect("last"));
    assert_eq!(ids(&index, "saml", Sort::Relevance), vec![4]);
    assert_eq!(index.num_docs(), 6);
}

#[tokio::test]
async fn follow_and_rebuild_agree_on_a_deleted_account() {
    let (_dir, store, index, mut projection) = following_corpus();
    drain(&mut projection).await;
    // Initech (item 4's account) is soft-deleted; the item keeps its link.
    store.delete_account(3);
    projection.catch_up().await.expect("catch up");
    let summary = |index: &SearchIndex| {
        let answer = index.search(&SearchRequest { limit: 50, ..SearchRequest::new("sso") }).expect("search");
        let mut hits: Vec<_> =
            answer.hits.iter().map(|hit| (hit.item_id, hit.account_name.clone(), hit.arr_minor)).collect();
        hits.sort();
        (answer.total, answer.reach, answer.facets.segment.clone(), hits)
    };
    let followed = summary(&index);
    projection.rebuild().await.expect("rebuild");
    let rebuilt = summary(&index);
    assert_eq!(followed, rebuilt, "following and rebuilding index a deleted account alike");
    assert!(rebuilt.3.contains(&(4, Some("Initech".into()), INITECH_ARR)), "{:?}", rebuilt.3);
}

#[tokio::test]
async fn a_growing_index_is_rebuilt_once_it_outgrows_its_frequent_word_sample() {
    let (_dir, store, index, mut projection) = following_corpus();
    assert!(projection.catch_up().await.expect("first catch-up").rebuilt, "a fresh index is built from the store");
    assert!(index.live().words.is_empty(), "seven items are too few to choose frequent words");
    let total = |query: &str| index.search(&SearchRequest::new(query)).expect("search").total;
    let (body_before, title_before) = (total("\"the login\""), total("title:\"the login\""));

    for n in 1_000..5_000 {
        let title = if n % 2 == 0 { "The login fails" } else { "Export is slow" };
        store.put_item(plain_item(n, Source::Jira, Kind::Bug, title, "when the login page is slow", "open"));
    }
    let followed = projection.catch_up().await.expect("follow the new items");
    assert!(!followed.rebuilt && followed.changes >= 4_000, "{followed:?}");
    let regrown = projection.catch_up().await.expect("catch-up after growth");
    assert!(regrown.rebuilt, "4 007 documents outgrow a 7-item sample");
    let words = index.live().words.clone();
    assert!(words.contains("the") && words.contains("login"), "chosen from the grown corpus");

    assert_eq!(total("\"the login\""), body_before + 4_000, "every new body, found through the pair field");
    assert_eq!(total("title:\"the login\""), title_before + 2_000);
    assert!(!projection.catch_up().await.expect("steady").rebuilt, "a sample of 4 007 items holds at this size");
}

#[tokio::test]
async fn a_projection_far_behind_catches_up_in_growing_batches() {
    let (_dir, store, index, mut projection) = following_corpus();
    projection.catch_up().await.expect("first catch-up");
    for n in 1_000..10_000 {
        store.put_item(plain_item(n, Source::Zendesk, Kind::SupportTicket, "Bulk", "imported", "open"));
    }
    let outcome = projection.catch_up().await.expect("catch up");
    assert_eq!(outcome.changes, 9_000);
    assert_eq!(outcome.commits, 3, "2 000, then 4 000, then the remaining 3 000 changes");
    assert_eq!(index.search(&SearchRequest::new("imported")).expect("search").total, 9_000);
    assert!(projection.catch_up().await.expect("regrow").rebuilt, "9 007 documents outgrow a 7-item sample");
    // Caught up: the next change is committed on its own, in a batch of the default size.
    store.update_item(1_000, |item| item.title = "Bulk again".into());
    let outcome = projection.catch_up().await.expect("one change");
    assert_eq!((outcome.changes, outcome.commits), (1, 1));
}

#[tokio::test]
async fn a_rebuild_indexes_its_sampled_items_once_and_then_the_rest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = corpus();
    // More items than the frequent-word sample, so the scan goes on after the pages the
    // sample read (and must neither skip nor repeat any).
    for n in 100..(100 + crate::pairs::SAMPLE_ITEMS as i64 + 3_000) {
        store.put_item(plain_item(n, Source::Jira, Kind::Bug, "Bulk", "imported", "open"));
    }
    let index = SearchIndex::open(dir.path()).expect("open");
    let report = rebuild_index(&index, dyn_store(&store), crate::DEFAULT_BATCH, &ExchangeRates::default())
        .await
        .expect("rebuild");
    let live = 7 + crate::pairs::SAMPLE_ITEMS as u64 + 3_000;
    assert_eq!((report.items, index.num_docs()), (live, live));
    assert_eq!(index.search(&SearchRequest::new("imported")).expect("search").total, live - 7);
}

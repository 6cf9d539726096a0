//! The index as a projection of the change log: resume at the payload position,
//! tombstones, account re-ranks, rebuilds while searching, and generation hand-over.

use std::sync::Arc;

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
        let mut projection = IndexProjection::new(index.clone(), dyn_store(&store)).expect("projection").with_batch(4);
        assert_eq!(drain(&mut projection).await, 3, "11 changes in batches of 4");
        assert_eq!(projection.position(), last);
        assert_eq!(index.num_docs(), 7);
    } // the process "stops" here
    store.update_item(7, |item| item.title = "Dark mode and high contrast".into());
    store.put_item(item((
        8,
        chorus_core::Source::Slack,
        chorus_core::Kind::Bug,
        "Contrast too low",
        "",
        "new",
        None,
        &[],
        (4, 1),
        (4, 1),
        &[],
    )));
    store.take_reads();

    let index = SearchIndex::open(dir.path()).expect("reopen");
    assert_eq!(index.position().expect("payload"), last, "position comes from the commit payload");
    let mut projection = IndexProjection::new(index.clone(), dyn_store(&store)).expect("projection");
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
    let dir = tempfile::tempdir().expect("temp dir");
    let store = corpus();
    let index = SearchIndex::open(dir.path()).expect("open");
    let mut projection = IndexProjection::new(index.clone(), dyn_store(&store)).expect("projection");
    drain(&mut projection).await;
    let position = projection.position();
    store.tombstone(2);
    // Apply without committing, then "crash" (drop the writer before its commit).
    let fields = index.live().fields;
    let (ops, _) = crate::writer::changes_to_ops(&dyn_store(&store), &fields, position, 100)
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
    let mut projection = IndexProjection::new(index.clone(), dyn_store(&store)).expect("projection");
    projection.catch_up().await.expect("catch up");
    assert_eq!(index.num_docs(), 6);
}

#[tokio::test]
async fn a_tombstone_leaves_the_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = corpus();
    let index = SearchIndex::open(dir.path()).expect("open");
    let mut projection = IndexProjection::new(index.clone(), dyn_store(&store)).expect("projection");
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
    let dir = tempfile::tempdir().expect("temp dir");
    let store = corpus();
    let index = SearchIndex::open(dir.path()).expect("open");
    let mut projection = IndexProjection::new(index.clone(), dyn_store(&store)).expect("projection");
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
    let dir = tempfile::tempdir().expect("temp dir");
    let store = corpus();
    let index = SearchIndex::open(dir.path()).expect("open");
    let mut projection = IndexProjection::new(index.clone(), dyn_store(&store)).expect("projection");
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
    let mut follower = IndexProjection::new(server_index.clone(), dyn_store(&store)).expect("projection");
    drain(&mut follower).await;

    // `chorus reindex` in another process: its own handle, no access to the live writer.
    let cli_index = SearchIndex::open(dir.path()).expect("open from the cli");
    store.tombstone(7);
    let report = rebuild_index(&cli_index, dyn_store(&store), 100).await.expect("rebuild");
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
        let mut projection = IndexProjection::new(index, dyn_store(&corpus())).expect("projection");
        projection.catch_up().await.expect("catch up");
    } // the store is then replaced (a restored backup, a recreated demo store)
    let replaced = Arc::new(MemStore::default());
    replaced.put_item(item((
        1,
        chorus_core::Source::Slack,
        chorus_core::Kind::Bug,
        "Only one",
        "",
        "new",
        None,
        &[],
        (4, 1),
        (4, 1),
        &[],
    )));

    let index = SearchIndex::open(dir.path()).expect("reopen");
    let mut projection = IndexProjection::new(index.clone(), dyn_store(&replaced)).expect("projection");
    let outcome = projection.catch_up().await.expect("catch up");
    assert!(outcome.rebuilt, "positions from another database mean nothing here");
    assert_eq!(index.num_docs(), 1, "only the new store's items");
    assert_eq!(ids(&index, "only", Sort::Relevance), vec![1]);
}

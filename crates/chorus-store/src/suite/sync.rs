//! Page commits: idempotence, atomicity, cursor versions, tombstones, the change log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chorus_core::{EntityKind, ItemRecord, Record};
use sqlx::Executor;

use super::{at, deleted, item, item_id, page, store_suite, Harness};
use crate::{Change, ChangeEntity, IdPage, ItemFilter, Store, StoreError};

store_suite!(
    dollar_placeholders_bind_by_number,
    same_page_twice_is_unchanged_and_logs_nothing,
    failed_commit_leaves_neither_records_nor_cursor,
    stale_cursor_version_is_refused,
    reset_cursor_forgets_and_bumps_version,
    tombstone_hides_item_and_only_a_current_record_revives,
    change_log_is_ordered_and_complete,
    writer_and_readers_run_concurrently_without_errors,
    repeats_within_one_page_apply_in_order,
    deleted_external_ids_since_lists_recent_tombstones_only,
);

async fn dollar_placeholders_bind_by_number(harness: &Harness) {
    let row: (String, i64, i64) = sqlx::query_as("SELECT $2 AS b, $1 AS a, $1 + 1 AS c")
        .bind(41_i64)
        .bind("second")
        .fetch_one(&harness.store.reader)
        .await
        .expect("query");
    assert_eq!(row, ("second".to_owned(), 41, 42));
}

async fn same_page_twice_is_unchanged_and_logs_nothing(harness: &Harness) {
    let claim = harness.claim("zd").await;
    let records = vec![Record::Item(item("1", "one")), Record::Item(item("2", "two"))];
    let first = harness.commit(&claim, records.clone()).await;
    assert_eq!((first.upserted, first.unchanged), (2, 0));
    let last = harness.store.last_change().await.expect("last change");

    let second = harness.commit(&claim, records).await;
    assert_eq!((second.upserted, second.unchanged, second.deleted), (0, 2, 0));
    assert_eq!(second.cursor_version, first.cursor_version + 1);
    assert_eq!(harness.store.last_change().await.expect("last change"), last);
    assert_eq!(harness.store.counts().await.expect("counts").items, 2);
}

async fn failed_commit_leaves_neither_records_nor_cursor(harness: &Harness) {
    let trigger = if harness.is_sqlite() {
        "CREATE TRIGGER boom BEFORE INSERT ON items WHEN NEW.title = 'boom' \
         BEGIN SELECT RAISE(ABORT, 'boom'); END"
    } else {
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.title = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER boom BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION boom()"
    };
    harness.store.writer.execute(trigger).await.expect("install trigger");
    let claim = harness.claim("zd").await;
    let records = vec![Record::Item(item("1", "fine")), Record::Item(item("2", "boom"))];
    let failed = harness.store.commit_page(&claim, &page("zd", records, 0)).await;
    assert!(matches!(failed, Err(StoreError::Database(_))), "{failed:?}");

    assert_eq!(harness.store.cursor("zd").await.expect("cursor"), Default::default());
    assert!(harness.store.item_by_external_id("zd", "1").await.expect("read").is_none());
    assert_eq!(harness.store.last_change().await.expect("last change"), 0);
    // The connection is usable again and the retried page commits.
    let outcome = harness.commit(&claim, vec![Record::Item(item("1", "fine"))]).await;
    assert_eq!(outcome.cursor_version, 1);
}

async fn stale_cursor_version_is_refused(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Item(item("1", "one"))]).await;
    let stale = page("zd", vec![Record::Item(item("2", "two"))], 0);
    let refused = harness.store.commit_page(&claim, &stale).await;
    assert!(matches!(refused, Err(StoreError::CursorConflict { expected: 0, actual: 1, .. })), "{refused:?}");
    assert!(harness.store.item_by_external_id("zd", "2").await.expect("read").is_none());
    let cursor = harness.store.cursor("zd").await.expect("cursor");
    assert_eq!(cursor.version, 1);
    assert_eq!(cursor.value, Some(serde_json::json!({ "v": 1, "after": 1 })));
}

async fn reset_cursor_forgets_and_bumps_version(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Item(item("1", "one"))]).await;
    let reset = harness.store.reset_cursor(&claim).await.expect("reset");
    assert_eq!((reset.value, reset.version), (None, 2));
    assert_eq!(harness.store.cursor("zd").await.expect("cursor").version, 2);
}

async fn tombstone_hides_item_and_only_a_current_record_revives(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Item(item("1", "one"))]).await;
    let id = item_id(harness, "1").await;
    let outcome = harness.commit(&claim, vec![deleted(EntityKind::Item, "1")]).await;
    assert_eq!(outcome.deleted, 1);

    let live = harness.store.items(&ItemFilter::default(), IdPage::first(10)).await.expect("items");
    assert!(live.is_empty());
    let all = ItemFilter { include_deleted: true, ..Default::default() };
    let tombstones = harness.store.items(&all, IdPage::first(10)).await.expect("items");
    assert_eq!(tombstones.len(), 1);
    assert!(tombstones[0].deleted_at.is_some());
    assert_eq!(tombstones[0].raw, serde_json::json!({ "id": "1" }), "raw payload kept");
    let last = harness.store.changes_since(0, 100).await.expect("changes");
    assert_eq!(last.last().map(|c| (c.entity_id, c.deleted)), Some((id, true)));
    assert!(harness.store.live_external_ids("zd").await.expect("live").is_empty());

    // A stale copy, older than the version we last stored, does not bring it back ...
    let original = item("1", "one");
    let stale = ItemRecord {
        title: "edited long ago".into(),
        updated_at: original.updated_at - chrono::Duration::hours(1),
        ..item("1", "one")
    };
    let outcome = harness.commit(&claim, vec![Record::Item(stale)]).await;
    assert_eq!((outcome.upserted, outcome.unchanged), (0, 1));
    assert_eq!(harness.store.counts().await.expect("counts").tombstones, 1);

    // ... the source serving the same version again does (an issue back in scope,
    // access restored): source times are compared with source times, never our clock.
    let outcome = harness.commit(&claim, vec![Record::Item(original.clone())]).await;
    assert_eq!(outcome.upserted, 1);
    assert_eq!(harness.store.items_by_id(&[id], crate::Raw::Include).await.expect("read")[0].deleted_at, None);

    // ... and so does a newer version after a second deletion.
    harness.commit(&claim, vec![deleted(EntityKind::Item, "1")]).await;
    let newer = ItemRecord { updated_at: original.updated_at + chrono::Duration::hours(1), ..item("1", "restored") };
    let outcome = harness.commit(&claim, vec![Record::Item(newer)]).await;
    assert_eq!(outcome.upserted, 1);
    let revived = harness.store.items_by_id(&[id], crate::Raw::Include).await.expect("read");
    assert_eq!(revived[0].deleted_at, None);
    assert_eq!(revived[0].title, "restored");
}

async fn change_log_is_ordered_and_complete(harness: &Harness) {
    let claim = harness.claim("zd").await;
    harness.commit(&claim, vec![Record::Item(item("1", "one")), Record::Item(item("2", "two"))]).await;
    let edited = ItemRecord { updated_at: at(5), ..item("1", "one, edited") };
    harness.commit(&claim, vec![Record::Item(edited), deleted(EntityKind::Item, "2")]).await;
    let request = harness
        .store
        .create_request(&crate::NewRequest { title: "r".into(), description: String::new(), anchor_item_id: None })
        .await
        .expect("request");

    let changes = harness.store.changes_since(0, 100).await.expect("changes");
    assert!(changes.windows(2).all(|pair| pair[0].seq < pair[1].seq), "{changes:?}");
    let (one, two) = (item_id(harness, "1").await, item_id(harness, "2").await);
    let summary: Vec<(ChangeEntity, i64, bool)> = changes.iter().map(|c| (c.entity, c.entity_id, c.deleted)).collect();
    assert_eq!(
        summary,
        vec![
            (ChangeEntity::Item, one, false),
            (ChangeEntity::Item, two, false),
            (ChangeEntity::Item, one, false),
            (ChangeEntity::Item, two, true),
            (ChangeEntity::Request, request.id, false),
        ]
    );
    let last = harness.store.last_change().await.expect("last");
    assert_eq!(changes.last().map(|c: &Change| c.seq), Some(last));
    let tail = harness.store.changes_since(changes[2].seq, 1).await.expect("tail");
    assert_eq!(tail, vec![changes[3]]);
}

async fn writer_and_readers_run_concurrently_without_errors(harness: &Harness) {
    const PAGES: usize = 40;
    const PER_PAGE: usize = 50;
    let claim = harness.claim("zd").await;
    let store = Arc::clone(&harness.store);
    let errors = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (store, errors, reads, done) =
            (Arc::clone(&store), Arc::clone(&errors), Arc::clone(&reads), Arc::clone(&done));
        readers.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let results = [
                    store.items(&ItemFilter::default(), IdPage::first(100)).await.err(),
                    store.changes_since(0, 500).await.err(),
                    store.counts().await.err(),
                ];
                for error in results.into_iter().flatten() {
                    eprintln!("reader error: {error}");
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for page_no in 0..PAGES {
        let records = (0..PER_PAGE).map(|n| Record::Item(item(&format!("{page_no}-{n}"), "concurrent"))).collect();
        harness.commit(&claim, records).await;
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("reader task");
    }
    assert_eq!(errors.load(Ordering::Relaxed), 0);
    assert!(reads.load(Ordering::Relaxed) > 0);
    let counts = store.counts().await.expect("counts");
    assert_eq!(counts.items, (PAGES * PER_PAGE) as u64);
}

async fn repeats_within_one_page_apply_in_order(harness: &Harness) {
    let claim = harness.claim("zd").await;
    let later = ItemRecord { updated_at: at(3), ..item("1", "second") };
    let records = vec![
        Record::Item(item("1", "first")),
        Record::Item(item("2", "other")),
        Record::Item(later.clone()),
        Record::Item(later),
        deleted(EntityKind::Item, "2"),
    ];
    let outcome = harness.commit(&claim, records).await;
    assert_eq!((outcome.upserted, outcome.unchanged, outcome.deleted), (3, 1, 1));
    let one = harness.store.item_by_external_id("zd", "1").await.expect("read").expect("exists");
    assert_eq!(one.title, "second");
    assert_eq!(harness.store.live_external_ids("zd").await.expect("live"), ["1"]);
}

async fn deleted_external_ids_since_lists_recent_tombstones_only(harness: &Harness) {
    let claim = harness.claim("zd").await;
    let items = ["1", "2", "3"].map(|id| Record::Item(item(id, "x"))).to_vec();
    harness.commit(&claim, items).await;
    let before = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
    harness.commit(&claim, vec![deleted(EntityKind::Item, "3"), deleted(EntityKind::Item, "1")]).await;
    let other = harness.claim("jira").await;
    harness.commit(&other, vec![Record::Item(item("9", "x")), deleted(EntityKind::Item, "9")]).await;
    let store = &harness.store;
    assert_eq!(store.deleted_external_ids_since("zd", before).await.expect("deleted"), ["1", "3"]);
    let later = chrono::Utc::now() + chrono::TimeDelta::seconds(5);
    assert!(store.deleted_external_ids_since("zd", later).await.expect("deleted").is_empty(), "older tombstones");
    // A revived item is no longer listed.
    harness.commit(&claim, vec![Record::Item(item("1", "x"))]).await;
    assert_eq!(store.deleted_external_ids_since("zd", before).await.expect("deleted"), ["3"]);
}

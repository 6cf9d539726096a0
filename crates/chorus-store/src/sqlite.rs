//! Opening the SQLite backend: WAL, one writer connection, a pool of readers.
//!
//! Invariant: all writes of this process go through the single writer connection, and
//! every write transaction begins `IMMEDIATE`, so writers never deadlock on a lock
//! upgrade; in WAL mode readers never block the writer nor each other, and
//! `busy_timeout` makes a second process wait for the file lock instead of failing.

use std::time::Duration;

use crate::drivers::AnyConnection;
use crate::drivers::AnyPoolOptions;
use futures::future::BoxFuture;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::Executor;

use crate::sql::SqlStore;
use crate::{Backend, Result};

/// Connections reading while the writer writes.
const READERS: u32 = 4;

const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
    PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;";

/// The writer keeps the hot parts of the items' indexes in memory (64 MiB page cache
/// instead of SQLite's 2 MiB default): a bulk import inserts into four secondary
/// indexes whose pages would otherwise be re-read from the OS for every page commit.
///
/// It also checkpoints the WAL every 10 000 pages (~40 MiB) instead of every 1 000: a
/// page of 1 000 items dirties ~1 200 pages, most of them leaves of the two indexes keyed
/// by account, so the default checkpointed after nearly every commit and wrote the same
/// leaves back to the database again and again (bench, 1M items: checkpointing commits
/// took ~27 ms of a page's time at the end). The durability contract stays that of WAL
/// with `synchronous = NORMAL`: a commit survives the process crashing; a power loss may
/// roll the database back to an earlier commit (the WAL is synced when it checkpoints),
/// never to a half-written one, and a page's cursor always rolls back with its records.
const WRITER_PRAGMAS: &str = "PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 10000;";

fn set_pragmas(conn: &mut AnyConnection, _meta: PoolConnectionMetadata) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        conn.execute(PRAGMAS).await?;
        Ok(())
    })
}

fn set_writer_pragmas(
    conn: &mut AnyConnection,
    _meta: PoolConnectionMetadata,
) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        conn.execute(PRAGMAS).await?;
        conn.execute(WRITER_PRAGMAS).await?;
        Ok(())
    })
}

/// The URL with `mode=rwc` (create the file if missing) unless it names a mode.
fn with_create_mode(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Opens (creating if missing) the SQLite database `url` names and migrates it.
pub async fn open(url: &str) -> Result<SqlStore> {
    crate::drivers::install();
    let url = with_create_mode(url);
    let writer = AnyPoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(60))
        .idle_timeout(None)
        .max_lifetime(None)
        .after_connect(set_writer_pragmas)
        .connect(&url)
        .await?;
    crate::drivers::SQLITE_MIGRATOR.run(&writer).await?;
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let reader = if in_memory {
        // Every connection would open its own empty in-memory database.
        writer.clone()
    } else {
        AnyPoolOptions::new().max_connections(READERS).after_connect(set_pragmas).connect(&url).await?
    };
    let store = SqlStore::new(writer, reader, Backend::Sqlite);
    store.rekey_domains().await?;
    Ok(store)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use chorus_core::{Person, Record};

    use crate::suite::{item, Harness};

    /// `cargo nextest run -p chorus-store --run-ignored only bulk` (numbers in a dev build
    /// are a floor; the benchmark proper runs optimized).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "throughput measurement, slow in debug builds"]
    async fn bulk_commit_throughput() {
        const PAGES: usize = 50;
        const PER_PAGE: usize = 1000;
        let harness = Harness::sqlite().await;
        let claim = harness.claim("bulk").await;
        let started = Instant::now();
        for page_no in 0..PAGES {
            let records = (0..PER_PAGE)
                .map(|n| {
                    let mut record = item(&format!("{page_no}-{n}"), "bulk item");
                    record.author = Person { email: Some(format!("user{n}@company{}.com", n % 50)), name: None };
                    Record::Item(record)
                })
                .collect();
            harness.commit(&claim, records).await;
        }
        let per_second = (PAGES * PER_PAGE) as f64 / started.elapsed().as_secs_f64();
        eprintln!("committed {} items at {per_second:.0} items/s", PAGES * PER_PAGE);
    }
}

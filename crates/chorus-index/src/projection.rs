//! `IndexProjection`: keeps the index a projection of the store by following its change
//! log, and rebuilds it from scratch on demand (`chorus reindex`).
//!
//! Exactly one projection per index root owns the writer. It applies changes in batches,
//! each committed with the change-log position in the commit payload, so after a crash
//! or restart it resumes right after the last committed change: nothing is re-applied
//! into a later state and nothing is skipped. A rebuild writes a new generation while
//! searches keep using the old one, replays the changes that happened meanwhile, and only
//! then makes it live.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus_core::{ExchangeRates, Item};
use chorus_store::{IdPage, ItemFilter, Raw, Store};
use serde::Serialize;

use crate::documents::Projector;
use crate::error::Result;
use crate::generation::{self, Generation};
use crate::index::SearchIndex;
use crate::pairs::{FrequentWords, SAMPLE_ITEMS};
use crate::writer::{changes_to_ops, Op, Writer, FOLLOWER_MEMORY, REBUILD_MEMORY, REBUILD_THREADS};

/// Change-log entries read and committed per batch.
pub const DEFAULT_BATCH: u32 = 2_000;

/// How often a serving node's follower looks for new change-log entries.
pub const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// A projection that keeps finding full batches (it is far behind: a bulk import) doubles
/// its batch up to this size: fewer, larger commits catch up several times faster, while
/// a projection that keeps up commits every `DEFAULT_BATCH` changes.
const CATCH_UP_BATCH: u32 = 32_000;
/// Items and accounts read per page during a rebuild.
const REBUILD_PAGE: u32 = 5_000;
/// What a rebuild reads: live items, without their raw source payloads.
const LIVE_WITHOUT_RAW: ItemFilter = ItemFilter { connector: None, include_deleted: false, raw: Raw::Omit };
/// Pages of documents a rebuild reads ahead of the writer.
const SCAN_AHEAD: usize = 2;
/// A projection at least this many changes behind, and behind by at least as many
/// changes as it holds documents (a bulk import, a first sync), rebuilds instead of
/// replaying: a bulk scan indexes several times faster than change-by-change replay.
pub const BULK_CHANGES: i64 = 50_000;

/// What a catch-up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct CatchUp {
    /// Change-log entries consumed.
    pub changes: u64,
    /// Batches committed.
    pub commits: u64,
    /// The position now committed.
    pub position: i64,
    /// Whether the index was empty and was rebuilt instead of replaying the whole log.
    pub rebuilt: bool,
}

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RebuildReport {
    pub items: u64,
    pub accounts: u64,
    /// Changes replayed after the snapshot scan.
    pub replayed: u64,
    pub position: i64,
    pub elapsed_ms: u64,
}

/// The writer side of the index. Not `Clone`: one task owns it.
pub struct IndexProjection {
    store: Arc<dyn Store>,
    index: SearchIndex,
    /// The configured `[money]`: what ARR is converted with.
    rates: Arc<ExchangeRates>,
    writer: Writer,
    writer_generation: String,
    position: i64,
    /// No item with a larger id has a document in the writer's generation (ids only
    /// grow), so such an item is added without a delete.
    indexed_up_to: i64,
    batch: u32,
    /// The largest batch `next_batch` may grow to (`batch` when set explicitly).
    max_batch: u32,
    /// The size of the next batch.
    next_batch: u32,
    /// How far behind (in changes) the bulk path starts to be considered.
    bulk_changes: i64,
}

impl IndexProjection {
    /// Takes the writer of the live generation and reads where the last commit stopped.
    /// `rates` is the configured `[money]`; an index built with other rates is rebuilt
    /// on the first catch-up.
    pub fn new(index: SearchIndex, store: Arc<dyn Store>, rates: ExchangeRates) -> Result<IndexProjection> {
        let live = index.live();
        let writer = Writer::new(&live, 1, FOLLOWER_MEMORY)?;
        let position = live.position()?;
        let indexed_up_to = max_item_id(&live)?;
        let writer_generation = live.name.clone();
        Ok(IndexProjection {
            store,
            index,
            rates: Arc::new(rates),
            writer,
            writer_generation,
            position,
            indexed_up_to,
            batch: DEFAULT_BATCH,
            max_batch: CATCH_UP_BATCH,
            next_batch: DEFAULT_BATCH,
            bulk_changes: BULK_CHANGES,
        })
    }

    /// Sets how many changes behind the bulk path is considered (tests use small corpora).
    #[cfg(test)]
    pub(crate) fn with_bulk_changes(mut self, changes: i64) -> Self {
        self.bulk_changes = changes.max(1);
        self
    }

    /// Sets how many change-log entries go into one commit, always (no growth).
    pub fn with_batch(mut self, batch: u32) -> Self {
        self.batch = batch.max(1);
        self.max_batch = self.batch;
        self.next_batch = self.batch;
        self
    }

    /// The change-log position committed to the index.
    pub fn position(&self) -> i64 {
        self.position
    }

    /// The read side this projection writes to.
    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// Applies and commits one batch of changes. Returns how many changes it consumed
    /// (0 when caught up).
    pub async fn step(&mut self) -> Result<u64> {
        self.adopt_new_generation().await?;
        self.ensure_writer()?;
        let live = self.index.live();
        if live.rates().is_none() && self.index.num_docs() == 0 {
            live.record_rates(&self.rates)?;
        }
        drop(live);
        let projector = Projector::new(self.writer.fields(), Arc::clone(&self.rates));
        let limit = self.next_batch;
        let Some((ops, last, read)) =
            changes_to_ops(&self.store, &projector, self.position, limit, self.indexed_up_to).await?
        else {
            self.next_batch = self.batch;
            return Ok(0);
        };
        self.next_batch = if read >= limit as usize { limit.saturating_mul(2).min(self.max_batch) } else { self.batch };
        debug_assert!(last > self.position, "the change log only moves forward");
        let consumed = u64::try_from(last - self.position).unwrap_or(0).max(1);
        let added_up_to = max_added(&ops);
        if let Err(error) = self.write(ops, last).await {
            self.recover_writer().await;
            return Err(error);
        }
        self.position = last;
        self.indexed_up_to = self.indexed_up_to.max(added_up_to);
        self.index.reload_off_runtime().await?;
        Ok(consumed)
    }

    async fn write(&mut self, ops: Vec<Op>, last: i64) -> Result<()> {
        self.writer.apply(ops).await?;
        self.writer.commit(last).await
    }

    /// After a failed write (a panic lost the writer; an I/O error may have killed
    /// tantivy's indexing threads), drops the writer, discarding whatever it had not
    /// committed, and opens a new one on the live generation at its committed position.
    /// Replaying from there is safe: every operation is delete-then-add. If the new
    /// writer cannot be opened now, the next `step` tries again.
    async fn recover_writer(&mut self) {
        self.writer.discard().await;
        if let Err(error) = self.ensure_writer() {
            tracing::warn!(%error, "could not reopen the index writer; retrying on the next tick");
        }
    }

    /// Reopens the writer if an earlier failure discarded it.
    fn ensure_writer(&mut self) -> Result<()> {
        if !self.writer.is_lost() {
            return Ok(());
        }
        let live = self.index.live();
        self.writer = Writer::new(&live, 1, FOLLOWER_MEMORY)?;
        self.writer_generation = live.name.clone();
        self.position = live.position()?;
        self.indexed_up_to = self.indexed_up_to.max(max_item_id(&live)?);
        tracing::info!(generation = %live.name, position = self.position, "index writer reopened");
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn writer_mut(&mut self) -> &mut Writer {
        &mut self.writer
    }

    /// Applies every change committed to the store so far. An index that has never been
    /// committed to is rebuilt instead of replaying the whole log, and so is one that is
    /// AHEAD of the store's change log: it was built from another database (a restored
    /// backup, a changed `store.url`, a recreated store), whose positions mean nothing
    /// here; one built with other exchange rates than the configured ones; and one so
    /// far behind that a bulk scan beats replay (see [`BULK_CHANGES`]). Each rebuild
    /// says why in the log.
    pub async fn catch_up(&mut self) -> Result<CatchUp> {
        self.adopt_new_generation().await?;
        self.ensure_writer()?;
        let last_change = self.store.last_change().await?;
        let docs = self.index.num_docs();
        let live = self.index.live();
        let fresh = self.position == 0 && docs == 0 && last_change > 0;
        if self.position > last_change {
            tracing::warn!(index = self.position, store = last_change, "index is ahead of the store; rebuilding");
        }
        let outgrown = live.words.outgrown_by(docs);
        if outgrown {
            tracing::info!(docs, "index has outgrown its frequent-word sample; rebuilding");
        }
        // An empty generation without rates takes the configured ones in `step`.
        let rates_differ = match live.rates() {
            Some(built) if *built != *self.rates => {
                tracing::info!(
                    reporting = %self.rates.reporting_currency,
                    "exchange rates in [money] differ from those the index was built with; rebuilding"
                );
                true
            }
            None if docs > 0 => {
                tracing::info!(docs, "index records no exchange rates; rebuilding to convert ARR");
                true
            }
            _ => false,
        };
        let behind = last_change - self.position;
        let bulk = !fresh && behind >= self.bulk_changes && u64::try_from(behind).unwrap_or(0) >= docs;
        if bulk {
            tracing::info!(behind, docs, "index is far behind the store; rebuilding in bulk instead of replaying");
        }
        drop(live);
        if fresh || outgrown || rates_differ || bulk || self.position > last_change {
            let report = self.rebuild().await?;
            return Ok(CatchUp { changes: 0, commits: 1, position: report.position, rebuilt: true });
        }
        let mut outcome = CatchUp { position: self.position, ..CatchUp::default() };
        loop {
            let consumed = self.step().await?;
            if consumed == 0 {
                break;
            }
            outcome.changes += consumed;
            outcome.commits += 1;
        }
        outcome.position = self.position;
        Ok(outcome)
    }

    /// Follows the change log until `shutdown` resolves: catch up, sleep `poll`, repeat.
    /// Store or index failures are logged and retried on the next tick.
    pub async fn follow(mut self, poll: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.catch_up().await {
                Ok(outcome) if outcome.changes > 0 || outcome.rebuilt => {
                    tracing::debug!(changes = outcome.changes, position = outcome.position, "index caught up");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, position = self.position, "index catch-up failed; retrying"),
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Builds a fresh index from the store in a new generation and makes it live (see
    /// [`rebuild_index`]), then follows from the rebuilt position.
    pub async fn rebuild(&mut self) -> Result<RebuildReport> {
        let report = rebuild_index(&self.index, Arc::clone(&self.store), self.batch, &self.rates).await?;
        let live = self.index.live();
        self.writer = Writer::new(&live, 1, FOLLOWER_MEMORY)?;
        self.writer_generation = live.name.clone();
        self.position = report.position;
        self.indexed_up_to = max_item_id(&live)?;
        Ok(report)
    }

    /// Switches to the generation another process (`chorus reindex`) made live.
    async fn adopt_new_generation(&mut self) -> Result<()> {
        self.index.reload_off_runtime().await?;
        let live = self.index.live();
        if live.name == self.writer_generation {
            return Ok(());
        }
        self.writer = Writer::new(&live, 1, FOLLOWER_MEMORY)?;
        self.writer_generation = live.name.clone();
        self.position = live.position()?;
        self.indexed_up_to = max_item_id(&live)?;
        tracing::info!(generation = %live.name, position = self.position, "index generation changed; following it");
        Ok(())
    }
}

impl std::fmt::Debug for IndexProjection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexProjection")
            .field("generation", &self.writer_generation)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// Builds a fresh index from the store in a new generation and makes it live, without
/// touching the live generation's writer: `chorus reindex` calls this from its own
/// process while `chorus serve` keeps following (its projection adopts the new
/// generation on its next tick). Searches keep answering from the old generation until
/// the switch; on failure the old generation stays live and the half-built one is removed.
/// Every ARR is converted with `rates`, which the new generation records.
pub async fn rebuild_index(
    index: &SearchIndex,
    store: Arc<dyn Store>,
    batch: u32,
    rates: &ExchangeRates,
) -> Result<RebuildReport> {
    let started = Instant::now();
    let root = index.root().to_path_buf();
    // Read the position BEFORE reading any item: anything newer is replayed afterwards,
    // and replaying an item already read in its newer state is harmless (delete + add).
    let position = store.last_change().await?;
    let first_pages = first_item_pages(&store).await?;
    let rates = Arc::new(rates.clone());
    let next = Generation::create(&root, choose_frequent_words(&first_pages), Some(Arc::clone(&rates)))?;
    let dir = next.dir.clone();
    let mut report = match build_and_replay(&store, &next, rates, position, first_pages, batch.max(1)).await {
        Ok(report) => report,
        Err(error) => {
            drop(next);
            if let Err(cleanup) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(error = %cleanup, dir = %dir.display(), "could not remove a failed rebuild");
            }
            return Err(error);
        }
    };
    let published =
        next.reader.reload().map_err(Into::into).and_then(|()| generation::write_current(&root, &next.name));
    if let Err(error) = published {
        drop(next);
        if let Err(cleanup) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(error = %cleanup, dir = %dir.display(), "could not remove a failed rebuild");
        }
        return Err(error);
    }
    // Only now that `CURRENT` names it may the mark go: a cleanup in another process
    // checks the mark first and then `CURRENT`, so it always sees one of them.
    if let Err(error) = generation::clear_building(&next.dir) {
        tracing::warn!(%error, "could not clear the rebuild mark; it expires in a day");
    }
    let name = next.name.clone();
    index.swap(next);
    generation::remove_others(&root, &name);
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(items = report.items, position = report.position, elapsed_ms = report.elapsed_ms, "index rebuilt");
    Ok(report)
}

/// The live items a rebuild reads first, in pages: at least `SAMPLE_ITEMS` of them (all,
/// in a smaller store). They choose the frequent words and are then indexed as they are.
async fn first_item_pages(store: &Arc<dyn Store>) -> Result<Vec<Vec<Item>>> {
    let mut page = IdPage::first(REBUILD_PAGE);
    let (mut pages, mut read) = (Vec::new(), 0);
    while read < SAMPLE_ITEMS {
        let items = store.items(&LIVE_WITHOUT_RAW, page).await?;
        let Some(last) = items.last() else { break };
        page.after_id = last.id;
        read += items.len();
        pages.push(items);
    }
    Ok(pages)
}

/// Chooses the frequent words of a new generation from the first `SAMPLE_ITEMS` items.
fn choose_frequent_words(pages: &[Vec<Item>]) -> FrequentWords {
    let texts = pages.iter().flatten().take(SAMPLE_ITEMS).map(|item| {
        let mut texts = vec![item.title.as_str(), item.body.as_str()];
        texts.extend(item.comments.iter().map(|comment| comment.body.as_str()));
        texts
    });
    FrequentWords::choose(texts)
}

/// Scans the store into `next`, replays the changes made meanwhile, commits, and
/// releases the writer (so another process may open it as soon as it is live).
async fn build_and_replay(
    store: &Arc<dyn Store>,
    next: &Generation,
    rates: Arc<ExchangeRates>,
    position: i64,
    first_pages: Vec<Vec<Item>>,
    batch: u32,
) -> Result<RebuildReport> {
    generation::mark_building(&next.dir)?;
    let projector = Projector::new(next.fields, rates);
    let (mut writer, mut report, mut indexed_up_to) =
        build_into(store, next, &projector, position, first_pages).await?;
    loop {
        let Some((ops, last, _)) = changes_to_ops(store, &projector, report.position, batch, indexed_up_to).await?
        else {
            break;
        };
        report.replayed += u64::try_from(last - report.position).unwrap_or(0);
        indexed_up_to = indexed_up_to.max(max_added(&ops));
        writer.apply(ops).await?;
        report.position = last;
    }
    writer.commit(report.position).await?;
    writer.finish().await?;
    // The `BUILDING` mark stays until `CURRENT` names this generation (see `rebuild_index`).
    Ok(report)
}

/// Scans accounts and live items into `next` (`first_pages`, then the rest of the store);
/// `position` was read before any of them. Also returns the largest item id scanned.
async fn build_into(
    store: &Arc<dyn Store>,
    next: &Generation,
    projector: &Projector,
    position: i64,
    first_pages: Vec<Vec<Item>>,
) -> Result<(Writer, RebuildReport, i64)> {
    let mut writer = Writer::new(next, REBUILD_THREADS, REBUILD_MEMORY)?;
    let mut accounts = std::collections::HashMap::new();
    let mut page = IdPage::first(REBUILD_PAGE);
    loop {
        let batch = store.accounts(page).await?;
        let Some(last) = batch.last() else { break };
        page.after_id = last.id;
        accounts.extend(batch.into_iter().map(|account| (account.id, account)));
    }
    let mut report = RebuildReport { items: 0, accounts: accounts.len() as u64, replayed: 0, position, elapsed_ms: 0 };
    // Reading and decoding the next pages overlaps with indexing the current one.
    let (pages, mut documents) = tokio::sync::mpsc::channel(SCAN_AHEAD);
    let scan = tokio::spawn(scan_documents(Arc::clone(store), projector.clone(), accounts, first_pages, pages));
    let mut scanned_up_to = 0;
    while let Some(page) = documents.recv().await {
        let (page, last_id) = page?;
        scanned_up_to = scanned_up_to.max(last_id);
        report.items += page.len() as u64;
        writer.add(page).await?;
    }
    scan.await.map_err(|error| crate::error::IndexError::Task(format!("index scan task: {error}")))?;
    Ok((writer, report, scanned_up_to))
}

/// Sends the documents of `first_pages`, then of every later live item page by page, to
/// `pages` (each with the last item id it read); stops at the end, at the first error
/// (which it sends), or when the receiver is gone.
async fn scan_documents(
    store: Arc<dyn Store>,
    projector: Projector,
    mut accounts: std::collections::HashMap<i64, chorus_core::Account>,
    first_pages: Vec<Vec<Item>>,
    pages: tokio::sync::mpsc::Sender<Result<(Vec<tantivy::TantivyDocument>, i64)>>,
) {
    let after_id = first_pages.last().and_then(|items| items.last()).map_or(0, |item| item.id);
    let mut page = IdPage { after_id, limit: REBUILD_PAGE };
    let mut first_pages = first_pages.into_iter();
    loop {
        let items = match first_pages.next() {
            Some(items) => items,
            None => match store.items(&LIVE_WITHOUT_RAW, page).await {
                Ok(items) => items,
                Err(error) => {
                    let _ = pages.send(Err(error.into())).await;
                    return;
                }
            },
        };
        let Some(last) = items.last().map(|item| item.id) else { return };
        page.after_id = last;
        let documents = match projector.project(&store, &items, &mut accounts).await {
            Ok(documents) => documents.into_iter().filter_map(|(_, document)| document).collect(),
            Err(error) => {
                let _ = pages.send(Err(error)).await;
                return;
            }
        };
        if pages.send(Ok((documents, last))).await.is_err() {
            return;
        }
    }
}

/// The largest item id among operations that add a document (0 when none do).
fn max_added(ops: &[Op]) -> i64 {
    ops.iter().filter(|op| op.document.is_some()).map(|op| op.item_id).max().unwrap_or(0)
}

/// An upper bound of the item ids with a document in the generation's last commit
/// (deleted documents included; 0 when empty). Reloads the reader to see that commit.
fn max_item_id(generation: &Generation) -> Result<i64> {
    generation.reader.reload()?;
    let searcher = generation.reader.searcher();
    let mut max = 0;
    for segment in searcher.segment_readers() {
        if segment.max_doc() == 0 {
            continue;
        }
        if let Some(column) = segment.fast_fields().column_opt::<i64>("item_id")? {
            max = max.max(column.max_value());
        }
    }
    Ok(max)
}

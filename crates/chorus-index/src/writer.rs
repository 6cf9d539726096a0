//! The single owner of an `IndexWriter`, and the change-applying steps shared by the
//! follower and the rebuild.
//!
//! tantivy's writer blocks (indexing back-pressure, commit fsyncs), so every writer call
//! runs on tokio's blocking pool with the writer moved there and back. Invariant: a
//! commit always carries the payload of the change-log position whose effects it holds,
//! and the position only advances through such a commit.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chorus_store::{ChangeEntity, Raw, Store};
use tantivy::indexer::UserOperation;
use tantivy::{IndexWriter, TantivyDocument, Term};

use crate::documents::Projector;
use crate::error::{IndexError, Result};
use crate::generation::{Generation, Payload};
use crate::schema::Fields;

/// Items fetched from the store per call.
pub const FETCH_CHUNK: usize = 4_096;

/// Operations handed to tantivy's indexing threads in one message (one message per
/// document would wake a thread per document).
const SEND_BATCH: usize = 256;

/// Writer memory for the follower (small: it applies batches of changes).
pub const FOLLOWER_MEMORY: usize = 64 << 20;
/// Writer memory and threads for a rebuild (bulk indexing).
pub const REBUILD_MEMORY: usize = 512 << 20;
pub const REBUILD_THREADS: usize = 2;

/// One index operation: remove the item's document (unless the index cannot hold one),
/// then add its new one if live.
pub struct Op {
    pub item_id: i64,
    pub delete: bool,
    pub document: Option<TantivyDocument>,
}

/// An `IndexWriter` that runs on the blocking pool.
pub struct Writer {
    inner: Option<IndexWriter>,
    fields: Fields,
    /// Test hook: how the next writer call fails.
    #[cfg(test)]
    fail_next: Option<Failure>,
}

/// A failure injected into the next writer call (tests only).
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The blocking task panics, losing the writer.
    Panic,
    /// The call returns an I/O error, keeping the writer.
    Io,
}

impl Writer {
    pub fn new(generation: &Generation, threads: usize, memory: usize) -> Result<Writer> {
        let inner = generation.index.writer_with_num_threads(threads, memory)?;
        Ok(Writer {
            inner: Some(inner),
            fields: generation.fields,
            #[cfg(test)]
            fail_next: None,
        })
    }

    /// Whether an earlier failure lost or discarded the `IndexWriter`.
    pub fn is_lost(&self) -> bool {
        self.inner.is_none()
    }

    /// Drops the `IndexWriter` (waiting for its threads on the blocking pool), which
    /// discards everything not committed and releases the directory lock.
    pub async fn discard(&mut self) {
        let Some(writer) = self.inner.take() else { return };
        if let Err(error) = tokio::task::spawn_blocking(move || drop(writer)).await {
            tracing::warn!(%error, "dropping a failed index writer panicked");
        }
    }

    /// Makes the next writer call fail as `failure` says.
    #[cfg(test)]
    pub fn fail_next(&mut self, failure: Failure) {
        self.fail_next = Some(failure);
    }

    pub fn fields(&self) -> Fields {
        self.fields
    }

    async fn run<R: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut IndexWriter) -> tantivy::Result<R> + Send + 'static,
    ) -> Result<R> {
        let mut writer =
            self.inner.take().ok_or_else(|| IndexError::Task("index writer lost by an earlier failure".into()))?;
        #[cfg(test)]
        let failure = self.fail_next.take();
        let joined = tokio::task::spawn_blocking(move || {
            #[cfg(test)]
            match failure {
                Some(Failure::Panic) => panic!("injected index writer failure"),
                Some(Failure::Io) => {
                    let error = std::io::Error::other("injected: no space left on device");
                    return (writer, Err(tantivy::TantivyError::from(error)));
                }
                None => {}
            }
            let result = work(&mut writer);
            (writer, result)
        })
        .await;
        match joined {
            Ok((writer, result)) => {
                self.inner = Some(writer);
                Ok(result?)
            }
            Err(error) => Err(IndexError::Task(format!("index writer task: {error}"))),
        }
    }

    /// Applies operations (delete-term + add each), without committing.
    pub async fn apply(&mut self, ops: Vec<Op>) -> Result<()> {
        let item_id = self.fields.item_id;
        let operations = ops.into_iter().flat_map(move |op| {
            let delete = op.delete.then(|| UserOperation::Delete(Term::from_field_i64(item_id, op.item_id)));
            delete.into_iter().chain(op.document.map(UserOperation::Add))
        });
        self.send(operations).await
    }

    /// Adds documents known to be new (a rebuild into an empty index: no deletes).
    pub async fn add(&mut self, documents: Vec<TantivyDocument>) -> Result<()> {
        self.send(documents.into_iter().map(UserOperation::Add)).await
    }

    /// Hands operations to tantivy's indexing threads in order, `SEND_BATCH` at a time.
    async fn send(&mut self, operations: impl Iterator<Item = UserOperation> + Send + 'static) -> Result<()> {
        self.run(move |writer| {
            let mut operations = operations.peekable();
            while operations.peek().is_some() {
                writer.run(operations.by_ref().take(SEND_BATCH).collect::<Vec<_>>())?;
            }
            Ok(())
        })
        .await
    }

    /// Commits everything applied so far, recording `position` in the payload.
    pub async fn commit(&mut self, position: i64) -> Result<()> {
        let payload = Payload::at(position).to_json();
        self.run(move |writer| {
            let mut prepared = writer.prepare_commit()?;
            prepared.set_payload(&payload);
            prepared.commit().map(drop)
        })
        .await
    }

    /// Waits for background merges and releases the writer (and its directory lock).
    pub async fn finish(mut self) -> Result<()> {
        let Some(writer) = self.inner.take() else { return Ok(()) };
        tokio::task::spawn_blocking(move || writer.wait_merging_threads())
            .await
            .map_err(|error| IndexError::Task(format!("index merge task: {error}")))??;
        Ok(())
    }
}

/// Reads one batch of changes after `after` and turns them into index operations.
/// Items with an id above `indexed_up_to` have never been in the index (ids only grow),
/// so they are added without a delete. Returns `None` when the log holds nothing newer,
/// else the operations, the `seq` of the last change read, and how many changes were read.
pub async fn changes_to_ops(
    store: &Arc<dyn Store>,
    projector: &Projector,
    after: i64,
    limit: u32,
    indexed_up_to: i64,
) -> Result<Option<(Vec<Op>, i64, usize)>> {
    let changes = store.changes_since(after, limit).await?;
    let Some(last) = changes.last().map(|change| change.seq) else {
        return Ok(None);
    };
    let mut item_ids = BTreeSet::new();
    let mut account_ids = BTreeSet::new();
    for change in &changes {
        match change.entity {
            ChangeEntity::Item => {
                item_ids.insert(change.entity_id);
            }
            ChangeEntity::Account => {
                account_ids.insert(change.entity_id);
            }
            // Nothing from contacts or requests is denormalized into item documents;
            // links to requests are item changes.
            ChangeEntity::Contact | ChangeEntity::Request => {}
        }
    }
    if !account_ids.is_empty() {
        // The accounts' name, ARR, segment or stage changed: re-index their items.
        let account_ids: Vec<i64> = account_ids.into_iter().collect();
        item_ids.extend(store.item_ids_for_accounts(&account_ids).await?);
    }
    let ids: Vec<i64> = item_ids.into_iter().collect();
    let ops = ops_for_items(store, projector, &ids, indexed_up_to).await?;
    Ok(Some((ops, last, changes.len())))
}

/// Operations that make the index hold these items as the store has them now: a delete
/// for each item the index may hold (id up to `indexed_up_to`), then its document if it
/// is live. Items are read in chunks; their accounts once for the whole batch.
pub async fn ops_for_items(
    store: &Arc<dyn Store>,
    projector: &Projector,
    ids: &[i64],
    indexed_up_to: i64,
) -> Result<Vec<Op>> {
    let mut items = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(FETCH_CHUNK) {
        items.extend(store.items_by_id(chunk, Raw::Omit).await?);
    }
    let mut accounts = HashMap::new();
    let mut documents: HashMap<i64, Option<TantivyDocument>> =
        projector.project(store, &items, &mut accounts).await?.into_iter().collect();
    let mut ops = Vec::with_capacity(ids.len());
    for &item_id in ids {
        // Gone from the store (or tombstoned): the document only leaves the index.
        let document = documents.remove(&item_id).flatten();
        let delete = item_id <= indexed_up_to;
        if delete || document.is_some() {
            ops.push(Op { item_id, delete, document });
        }
    }
    Ok(ops)
}

//! `SearchIndex`: the shared, cloneable read side of the index.
//!
//! It holds the live [`Generation`] behind a lock that is taken only to clone an `Arc`,
//! so a search runs entirely on the generation it started with: a rebuild can swap in a
//! new generation (and delete the old directory) while searches on the old one finish.
//! Invariant: the generation held here is the one `CURRENT` names, or an older one
//! until [`SearchIndex::reload`] notices the change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::error::{IndexError, Result};
use crate::generation::{self, Generation};
use crate::pairs::FrequentWords;

/// The search index under one root directory. Cheap to clone and share.
#[derive(Clone, Debug)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    live: RwLock<Arc<Generation>>,
    /// The requests an item may be offered, with their words (`likely_requests`).
    offered: crate::suggest::OfferedCache,
}

impl SearchIndex {
    /// Opens the index under `root`, creating an empty one when there is none.
    ///
    /// An index from an incompatible version is set aside (a fresh, empty generation
    /// becomes live at position 0) and a warning logged: the projection then rebuilds it
    /// from the store on its first catch-up.
    pub fn open(root: impl AsRef<Path>) -> Result<SearchIndex> {
        let root = root.as_ref().to_path_buf();
        std::fs::create_dir_all(&root).map_err(|error| IndexError::io(&root, error))?;
        let live = match generation::read_current(&root)? {
            Some(name) if !generation::exists(&root, &name) => Self::recover(&root, &name)?,
            Some(name) => match Self::open_current(&root, name) {
                Ok(live) => live,
                Err(IndexError::Corrupt(reason)) => {
                    tracing::warn!(%reason, "search index unusable; starting an empty one to rebuild");
                    Self::fresh(&root)?
                }
                Err(error) => return Err(error),
            },
            None => Self::fresh(&root)?,
        };
        generation::remove_others(&root, &live.name);
        let offered = crate::suggest::OfferedCache::default();
        Ok(SearchIndex { inner: Arc::new(Inner { root, live: RwLock::new(Arc::new(live)), offered }) })
    }

    /// Opens the generation `CURRENT` named; if a rebuild in another process switched
    /// (and removed it) in between, opens the new one instead.
    fn open_current(root: &Path, name: String) -> Result<Generation> {
        match Generation::open(root, &name) {
            Err(error) if !matches!(error, IndexError::Corrupt(_)) => match generation::read_current(root)? {
                Some(newer) if newer != name => Generation::open(root, &newer),
                _ => Err(error),
            },
            opened => opened,
        }
    }

    /// `CURRENT` names `missing`, a generation that is gone (a cleanup raced a rebuild)
    /// or was never completed. Never fails for that reason: opens what `CURRENT` names
    /// now if that exists, else makes the newest complete generation live, else an
    /// empty one (which the projection then rebuilds from the store).
    fn recover(root: &Path, missing: &str) -> Result<Generation> {
        if let Some(name) = generation::read_current(root)? {
            if name != missing && generation::exists(root, &name) {
                if let Ok(live) = Generation::open(root, &name) {
                    return Ok(live);
                }
            }
        }
        tracing::warn!(generation = %missing, "search index names a missing generation; recovering");
        match generation::newest_complete(root) {
            Some(live) => {
                generation::write_current(root, &live.name)?;
                Ok(live)
            }
            None => Self::fresh(root),
        }
    }

    fn fresh(root: &Path) -> Result<Generation> {
        // Nothing to sample yet: no pairs until `chorus reindex` chooses the words.
        let fresh = Generation::create(root, FrequentWords::default(), None)?;
        generation::write_current(root, &fresh.name)?;
        Ok(fresh)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The live generation (searches hold on to it for their whole duration).
    pub(crate) fn offered_cache(&self) -> &crate::suggest::OfferedCache {
        &self.inner.offered
    }

    pub(crate) fn live(&self) -> Arc<Generation> {
        match self.inner.live.read() {
            Ok(live) => Arc::clone(&live),
            // A panic while swapping cannot leave a half-written Arc; use it.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Makes `next` the live generation in this process (after `CURRENT` names it).
    pub(crate) fn swap(&self, next: Generation) -> Arc<Generation> {
        let next = Arc::new(next);
        let mut live = match self.inner.live.write() {
            Ok(live) => live,
            Err(poisoned) => poisoned.into_inner(),
        };
        *live = Arc::clone(&next);
        next
    }

    /// The change-log position the live generation's last commit applied.
    pub fn position(&self) -> Result<i64> {
        self.live().position()
    }

    /// How many items are searchable.
    pub fn num_docs(&self) -> u64 {
        self.live().reader.searcher().num_docs()
    }

    /// [`reload`](Self::reload) on tokio's blocking pool, for async callers: a reload
    /// runs the reader's warmers (each new segment's dense columns, see `columns`), tens
    /// of milliseconds for a merged segment, which must not stall an async worker that is
    /// serving searches.
    pub async fn reload_off_runtime(&self) -> Result<bool> {
        let index = self.clone();
        tokio::task::spawn_blocking(move || index.reload())
            .await
            .map_err(|error| IndexError::Task(format!("index reload task: {error}")))?
    }

    /// Picks up new commits, and a new generation if another process (`chorus reindex`)
    /// made one live. Returns whether the generation changed.
    pub fn reload(&self) -> Result<bool> {
        let live = self.live();
        let current = generation::read_current(&self.inner.root)?;
        match current {
            Some(name) if name != live.name && !generation::exists(&self.inner.root, &name) => {
                // `CURRENT` names a generation that is gone: keep the live one (making
                // it current again) while it exists, else recover as `open` does.
                if generation::exists(&self.inner.root, &live.name) {
                    tracing::warn!(generation = %name, "search index names a missing generation; keeping the live one");
                    generation::write_current(&self.inner.root, &live.name)?;
                    live.reader.reload()?;
                    return Ok(false);
                }
                let next = Self::recover(&self.inner.root, &name)?;
                self.swap(next);
                Ok(true)
            }
            Some(name) if name != live.name => {
                let next = Generation::open(&self.inner.root, &name)?;
                self.swap(next);
                Ok(true)
            }
            _ => {
                live.reader.reload()?;
                Ok(false)
            }
        }
    }
}

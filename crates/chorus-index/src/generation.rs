//! On-disk layout: the index lives in generation directories under one root, and the
//! file `CURRENT` names the live one.
//!
//! ```text
//! <root>/CURRENT           "gen-00001732752000123-4242"
//! <root>/gen-…/            a complete tantivy index, its frequent-word list, and the
//!                          exchange rates its ARR was converted with (`rates.json`)
//! ```
//!
//! A rebuild writes a whole new generation next to the live one and then replaces
//! `CURRENT` with an atomic rename, so a reader always sees one complete index: the old
//! one or the new one, never a mix. Invariant: `CURRENT` only ever names a generation
//! whose last commit carries a valid [`Payload`].

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::{Index, IndexReader, ReloadPolicy};

use crate::columns::ColumnCache;
use crate::error::{IndexError, Result};
use crate::pairs::FrequentWords;
use crate::schema::{self, Fields, SCHEMA_VERSION};

const CURRENT: &str = "CURRENT";

const PREFIX: &str = "gen-";

/// The exchange rates a generation's documents were converted with.
const RATES: &str = "rates.json";

/// What every commit records: the schema version and the change-log position applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub schema_version: u32,
    /// The highest change-log `seq` whose effects are in this commit.
    pub change_seq: i64,
}

impl Payload {
    pub fn at(change_seq: i64) -> Self {
        Self { schema_version: SCHEMA_VERSION, change_seq }
    }

    pub fn to_json(self) -> String {
        // Two integers: serialization cannot fail.
        serde_json::to_string(&self).unwrap_or_default()
    }
}

/// One opened generation: its index, reader and field handles.
pub struct Generation {
    pub name: String,
    pub dir: PathBuf,
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
    /// The words whose pairs this generation indexes (fixed for its lifetime).
    pub words: Arc<FrequentWords>,
    /// The rates every ARR in this generation was converted with; unset for an empty
    /// generation created before any rates were known (see [`Generation::rates`]).
    rates: std::sync::OnceLock<Arc<chorus_core::ExchangeRates>>,
    /// The aggregates' dense copy of each segment's columns, built as the reader loads
    /// segments (a warmer of `reader`).
    pub(crate) columns: Arc<ColumnCache>,
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Generation {
    /// Creates an empty generation directory with the current schema and the frequent
    /// words it will pair (not yet live).
    pub fn create(
        root: &Path,
        words: FrequentWords,
        rates: Option<Arc<chorus_core::ExchangeRates>>,
    ) -> Result<Generation> {
        let name = new_name();
        let dir = root.join(&name);
        fs::create_dir_all(&dir).map_err(|error| IndexError::io(&dir, error))?;
        words.save(&dir)?;
        if let Some(rates) = &rates {
            save_rates(&dir, rates)?;
        }
        let (schema, _) = Fields::build();
        let index = Index::create_in_dir(&dir, schema)?;
        Self::from_index(name, dir, index, Arc::new(words), rates)
    }

    /// Opens an existing generation and checks its schema and payload version.
    pub fn open(root: &Path, name: &str) -> Result<Generation> {
        let dir = root.join(name);
        let directory = MmapDirectory::open(&dir)?;
        let index = Index::open(directory)?;
        let words = Arc::new(FrequentWords::load(&dir)?);
        let rates = load_rates(&dir)?.map(Arc::new);
        let generation = Self::from_index(name.to_owned(), dir, index, words, rates)?;
        if let Some(payload) = generation.committed_payload()? {
            if payload.schema_version != SCHEMA_VERSION {
                return Err(IndexError::Corrupt(format!(
                    "generation {name} has schema version {}, this build needs {SCHEMA_VERSION}",
                    payload.schema_version
                )));
            }
        }
        Ok(generation)
    }

    fn from_index(
        name: String,
        dir: PathBuf,
        mut index: Index,
        words: Arc<FrequentWords>,
        rates: Option<Arc<chorus_core::ExchangeRates>>,
    ) -> Result<Generation> {
        schema::register_tokenizer(&index, Arc::clone(&words));
        // One search visits the segments in parallel: a query over most of the corpus
        // (reach and facets of `the`) is bound by the largest segment, not their sum.
        // Concurrent searches share the pool, one thread per core, so together they can
        // still use every core.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads > 1 {
            index.set_multithread_executor(threads)?;
        }
        let fields = Fields::of(&index).map_err(|reason| IndexError::Corrupt(format!("{name}: {reason}")))?;
        let columns = Arc::new(ColumnCache::default());
        let warmer: Arc<dyn tantivy::Warmer> = Arc::clone(&columns) as Arc<dyn tantivy::Warmer>;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .warmers(vec![Arc::downgrade(&warmer)])
            .try_into()?;
        let recorded = std::sync::OnceLock::new();
        if let Some(rates) = rates {
            let _ = recorded.set(rates);
        }
        Ok(Generation { name, dir, index, reader, fields, words, rates: recorded, columns })
    }

    /// The rates this generation's ARR was converted with; `None` while it records none
    /// (an empty generation: the projection records its rates before the first commit,
    /// possibly from another process, so the file is looked for again).
    pub fn rates(&self) -> Option<Arc<chorus_core::ExchangeRates>> {
        if let Some(rates) = self.rates.get() {
            return Some(Arc::clone(rates));
        }
        let loaded = load_rates(&self.dir).ok().flatten()?;
        Some(Arc::clone(self.rates.get_or_init(|| Arc::new(loaded))))
    }

    /// Records `rates` for a generation that records none yet. Only for a generation
    /// whose documents hold no ARR converted otherwise (an empty one).
    pub fn record_rates(&self, rates: &Arc<chorus_core::ExchangeRates>) -> Result<()> {
        if self.rates().is_some() {
            return Ok(());
        }
        save_rates(&self.dir, rates)?;
        let _ = self.rates.set(Arc::clone(rates));
        Ok(())
    }

    /// The payload of the last commit, `None` before the first commit.
    pub fn committed_payload(&self) -> Result<Option<Payload>> {
        let metas = self.index.load_metas()?;
        let Some(raw) = metas.payload else {
            return Ok(None);
        };
        let payload = serde_json::from_str(&raw)
            .map_err(|error| IndexError::Corrupt(format!("commit payload `{raw}`: {error}")))?;
        Ok(Some(payload))
    }

    /// The change-log position applied by the last commit (0 before any).
    pub fn position(&self) -> Result<i64> {
        Ok(self.committed_payload()?.map_or(0, |payload| payload.change_seq))
    }
}

/// Records the rates a generation is built with (before its first commit).
fn save_rates(dir: &Path, rates: &chorus_core::ExchangeRates) -> Result<()> {
    let path = dir.join(RATES);
    // Currency codes and decimal strings always serialize.
    let json = serde_json::to_vec(rates).unwrap_or_default();
    fs::write(&path, json).map_err(|error| IndexError::io(&path, error))
}

/// The rates a generation was built with; `None` when it records none.
fn load_rates(dir: &Path) -> Result<Option<chorus_core::ExchangeRates>> {
    let path = dir.join(RATES);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| IndexError::Corrupt(format!("{}: {error}", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(IndexError::io(&path, error)),
    }
}

fn new_name() -> String {
    let millis = chrono::Utc::now().timestamp_millis();
    let nanos = chrono::Utc::now().timestamp_subsec_nanos();
    format!("{PREFIX}{millis:020}-{}-{nanos:09}", std::process::id())
}

/// The generation `CURRENT` names, if any.
pub fn read_current(root: &Path) -> Result<Option<String>> {
    let path = root.join(CURRENT);
    match fs::read_to_string(&path) {
        Ok(name) => {
            let name = name.trim().to_owned();
            let plausible = name.starts_with(PREFIX) && !name.contains(['/', '\\']) && !name.contains("..");
            if !plausible {
                return Err(IndexError::Corrupt(format!("{} names `{name}`", path.display())));
            }
            Ok(Some(name))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(IndexError::io(&path, error)),
    }
}

/// Makes `name` the live generation: write a temporary file, fsync, rename over
/// `CURRENT`, fsync the directory.
pub fn write_current(root: &Path, name: &str) -> Result<()> {
    let temporary = root.join(format!("{CURRENT}.tmp-{}", std::process::id()));
    let path = root.join(CURRENT);
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(name.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, &path)?;
        fs::File::open(root)?.sync_all()
    };
    write().map_err(|error| IndexError::io(&path, error))
}

/// Marks a generation that a rebuild is still writing; removed only AFTER `CURRENT`
/// names it, so a concurrent cleanup always sees either the mark or the new `CURRENT`.
const BUILDING: &str = "BUILDING";

/// Marks `dir` as being built (so a concurrent cleanup leaves it alone).
pub fn mark_building(dir: &Path) -> Result<()> {
    let path = dir.join(BUILDING);
    fs::write(&path, b"").map_err(|error| IndexError::io(&path, error))
}

/// Clears the mark set by [`mark_building`]. Call it only after [`write_current`] made
/// the generation live.
pub fn clear_building(dir: &Path) -> Result<()> {
    let path = dir.join(BUILDING);
    match fs::remove_file(&path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(IndexError::io(&path, error)),
        _ => Ok(()),
    }
}

/// Removes every generation directory except `keep`, the one `CURRENT` names when it is
/// checked, and those a rebuild is still writing (marked `BUILDING` less than a day ago).
/// Best effort: failures are logged. Readers that still hold the removed files keep
/// working (the files are mapped).
///
/// Per directory, the mark is checked BEFORE `CURRENT` is re-read: a rebuild writes
/// `CURRENT` before it clears the mark, so a generation that just went live is always
/// protected by one or the other.
pub fn remove_others(root: &Path, keep: &str) {
    let Ok(entries) = fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(PREFIX) || name == keep || is_being_built(&entry.path()) {
            continue;
        }
        match read_current(root) {
            Ok(Some(current)) if current == name => continue,
            Ok(_) => {}
            // Cannot tell what is live: delete nothing.
            Err(_) => return,
        }
        if let Err(error) = fs::remove_dir_all(entry.path()) {
            tracing::warn!(generation = %name, %error, "could not remove an old index generation");
        }
    }
}

fn is_being_built(dir: &Path) -> bool {
    let modified = fs::metadata(dir.join(BUILDING)).and_then(|meta| meta.modified());
    modified.is_ok_and(|at| at.elapsed().map_or(true, |age| age.as_secs() < 86_400))
}

/// Whether `name` is a generation directory that holds an index (a `CURRENT` naming a
/// directory that is gone, or was never completed, must not be trusted).
pub fn exists(root: &Path, name: &str) -> bool {
    root.join(name).join("meta.json").is_file()
}

/// The newest generation that is complete: not marked `BUILDING` (however old the mark),
/// opens with this schema, and carries a committed payload.
pub fn newest_complete(root: &Path) -> Option<Generation> {
    let mut names: Vec<String> = fs::read_dir(root)
        .ok()?
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(PREFIX))
        .collect();
    // Names start with the zero-padded creation time: newest last.
    names.sort_unstable();
    names.into_iter().rev().find_map(|name| {
        if root.join(&name).join(BUILDING).exists() || !exists(root, &name) {
            return None;
        }
        let generation = Generation::open(root, &name).ok()?;
        matches!(generation.committed_payload(), Ok(Some(_))).then_some(generation)
    })
}

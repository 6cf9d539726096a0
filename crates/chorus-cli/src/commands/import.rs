//! `chorus import`: JSON Lines back in — accounts, and items from tools without a connector.
//!
//! Items go through the sync engine like any connector's pages, so there is one run
//! loop: `ItemFile` is a `DynConnector` whose pages are batches of the file's lines,
//! each with the number of its last line as its cursor. The engine claims the target
//! id, heartbeats the claim however long the file takes, commits each batch with its
//! cursor in one transaction and records the run in `chorus runs`. An import is
//! idempotent (the same file twice changes nothing, the upsert key absorbs it). A bad
//! line stops the import with its number before anything of its batch is written;
//! the batches before it stay committed, and importing the mended file again applies
//! them as unchanged.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context};
use chorus_core::{Comment, ItemRecord, Kind, Person, Record, Source};
use chorus_store::AccountImport;
use chorus_sync::engine::{Engine, Quiet, SyncError};
use chorus_sync::{ConnectorError, DynConnector, DynPage, SyncMode};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde::de::IgnoredAny;
use serde::Deserialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::cli::ImportEntity;
use crate::runtime::App;

/// Lines per page: one transaction each.
const BATCH: usize = 500;

/// The kind of cursor an import writes: `{"kind": "import", "version": 1, "position": LINE}`.
const CURSOR_KIND: &str = "import";

/// Where import lines come from: a file or stdin, read asynchronously.
type LineReader = Box<dyn AsyncBufRead + Send + Unpin>;
/// An item line: the export's shape; store-assigned fields are accepted and ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemLine {
    external_id: String,
    kind: Kind,
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    comments: Vec<Comment>,
    #[serde(default)]
    author_email: Option<String>,
    #[serde(default)]
    author_name: Option<String>,
    #[serde(default)]
    csat: Option<f64>,
    /// Names an account by name (matched case-insensitively).
    #[serde(default)]
    account_name: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[serde(default)]
    raw: serde_json::Value,
    /// The connector an exported item came from; one file holds one connector's items.
    #[serde(default)]
    connector: Option<String>,
    // Store-assigned fields of the export's shape: accepted so an export re-imports,
    // and ignored (ids and links belong to the store they came from).
    #[serde(default, rename = "id")]
    _id: IgnoredAny,
    #[serde(default, rename = "source")]
    _source: IgnoredAny,
    #[serde(default, rename = "account_id")]
    _account_id: IgnoredAny,
    #[serde(default, rename = "request_ids")]
    _request_ids: IgnoredAny,
    /// Set on an exported tombstone (`export --include-deleted`): imported as deleted.
    #[serde(default)]
    deleted_at: Option<DateTime<Utc>>,
}

impl ItemLine {
    /// The records this line becomes: the item, then its tombstone if it was deleted.
    fn into_records(self) -> Vec<Record> {
        let tombstone = self
            .deleted_at
            .map(|_| Record::Deleted { entity: chorus_core::EntityKind::Item, external_id: self.external_id.clone() });
        let item = Record::Item(ItemRecord {
            external_id: self.external_id,
            key: self.key,
            kind: self.kind,
            title: self.title,
            body: self.body,
            comments: self.comments,
            url: self.url,
            status: self.status.unwrap_or_else(|| "open".to_owned()),
            priority: self.priority,
            tags: self.tags,
            author: Person { email: self.author_email, name: self.author_name },
            account_external_id: None,
            account_name: self.account_name,
            csat: self.csat,
            created_at: self.created_at,
            updated_at: self.updated_at,
            raw: self.raw,
        });
        std::iter::once(item).chain(tombstone).collect()
    }
}

pub async fn run(
    config: Option<&Path>,
    what: ImportEntity,
    file: Option<&Path>,
    connector: &str,
) -> anyhow::Result<()> {
    let app = App::load(config).await?;
    let (name, reader): (String, LineReader) = match file {
        Some(path) if path != Path::new("-") => {
            let file = tokio::fs::File::open(path).await.with_context(|| format!("cannot open {}", path.display()))?;
            (path.display().to_string(), Box::new(tokio::io::BufReader::new(file)))
        }
        _ => ("stdin".to_owned(), Box::new(tokio::io::BufReader::new(tokio::io::stdin()))),
    };
    match what {
        ImportEntity::Accounts => import_accounts(&app, reader).await,
        ImportEntity::Items => {
            if app.config.connector(connector).is_some() {
                bail!(
                    "`{connector}` is a configured connector; import items under an id of their own (--connector legacy)"
                );
            }
            let summary = import_items(&app.engine(), ItemFile::new(connector, name, reader)).await?;
            println!("{summary}");
            Ok(())
        }
    }
}

/// Accounts are all or nothing: every line parses before the first is written.
async fn import_accounts(app: &App, reader: LineReader) -> anyhow::Result<()> {
    let mut lines = reader.lines();
    let mut accounts = Vec::new();
    let mut number = 0;
    while let Some(line) = lines.next_line().await.with_context(|| format!("line {}", number + 1))? {
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        accounts.push(serde_json::from_str::<AccountImport>(&line).with_context(|| format!("line {number}"))?);
    }
    let mut imported = 0;
    for batch in accounts.chunks(BATCH) {
        imported += app.store.import_accounts(batch).await?.len();
    }
    println!("imported {imported} account(s)");
    Ok(())
}

/// Runs one item import through the engine; returns the summary line to print.
async fn import_items(engine: &Engine, file: ItemFile) -> anyhow::Result<String> {
    let report = match engine.run(&file, SyncMode::Full, &Quiet).await {
        Ok(report) => report,
        Err(SyncError::AlreadyRunning(id)) => bail!("connector `{id}` is being synced or imported by another run"),
        Err(e) => return Err(e.into()),
    };
    if !report.succeeded() {
        bail!("import into `{}` failed: {}", file.id, report.outcome.error.as_deref().unwrap_or("no reason recorded"));
    }
    let o = &report.outcome;
    Ok(format!(
        "imported {} item(s) into `{}`: {} new or changed, {} unchanged, {} deleted",
        file.items.load(Ordering::Relaxed),
        file.id,
        o.upserted,
        o.unchanged,
        o.deleted
    ))
}

/// A JSON Lines file of items as a connector the engine drives.
///
/// Its cursor is the number of the last line of each committed batch. An import is a
/// whole file, so it reads from line 1 whatever cursor an earlier import stored (and
/// runs as `SyncMode::Full`, which hands it none); within a run the line numbers only
/// grow, so its cursor never moves backwards.
struct ItemFile {
    id: String,
    /// The file's path, or `stdin`, for messages.
    name: String,
    /// Taken by the one `pages` call a run makes.
    reader: Mutex<Option<LineReader>>,
    /// Item lines read so far.
    items: AtomicUsize,
}

impl ItemFile {
    fn new(id: impl Into<String>, name: impl Into<String>, reader: LineReader) -> Self {
        Self { id: id.into(), name: name.into(), reader: Mutex::new(Some(reader)), items: AtomicUsize::new(0) }
    }
}

impl DynConnector for ItemFile {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        CURSOR_KIND
    }

    fn source(&self) -> Source {
        Source::Import
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        Box::pin(async move { Ok(self.name.clone()) })
    }

    fn pages(
        &self,
        _from: Option<&serde_json::Value>,
        _mode: SyncMode,
    ) -> Result<BoxStream<'_, Result<DynPage, ConnectorError>>, ConnectorError> {
        let reader = self
            .reader
            .lock()
            .map_err(|_| ConnectorError::permanent(&self.name, "the reader's lock is poisoned"))?
            .take()
            .ok_or_else(|| ConnectorError::permanent(&self.name, "this import already read its file"))?;
        let batches = Batches { file: self, lines: reader.lines(), line: 0, from_connector: None, done: false };
        Ok(futures::stream::unfold(batches, |mut batches| async move {
            let page = batches.next().await?;
            Some((page, batches))
        })
        .boxed())
    }
}

/// Reads an `ItemFile` batch by batch.
struct Batches<'a> {
    file: &'a ItemFile,
    lines: tokio::io::Lines<LineReader>,
    /// The number of the last line read.
    line: usize,
    /// The `connector` the file's items came from, once a line names one.
    from_connector: Option<String>,
    done: bool,
}

impl Batches<'_> {
    /// The next page, `None` at the end of the file or after an error.
    async fn next(&mut self) -> Option<Result<DynPage, ConnectorError>> {
        if self.done {
            return None;
        }
        let mut records = Vec::new();
        let mut items = 0;
        while items < BATCH {
            let item = match self.next_item().await {
                Ok(Some(item)) => item,
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err((line, reason)) => {
                    self.done = true;
                    return Some(Err(ConnectorError::permanent(&self.file.name, format!("line {line}: {reason}"))));
                }
            };
            records.extend(item.into_records());
            items += 1;
        }
        if items == 0 {
            return None;
        }
        self.file.items.fetch_add(items, Ordering::Relaxed);
        let cursor = serde_json::json!({ "kind": CURSOR_KIND, "version": 1, "position": self.line });
        Some(Ok(DynPage { records, cursor, unmapped: Vec::new() }))
    }

    /// The next item line, skipping blank ones; `None` at the end of the file. An error
    /// carries the number of the line it is about.
    async fn next_item(&mut self) -> Result<Option<ItemLine>, (usize, String)> {
        loop {
            let read = self.lines.next_line().await.map_err(|e| (self.line + 1, e.to_string()))?;
            let Some(text) = read else {
                return Ok(None);
            };
            self.line += 1;
            if text.trim().is_empty() {
                continue;
            }
            let item: ItemLine = serde_json::from_str(&text).map_err(|e| (self.line, e.to_string()))?;
            if let Some(connector) = &item.connector {
                match &self.from_connector {
                    None => self.from_connector = Some(connector.clone()),
                    Some(first) if first != connector => {
                        return Err((self.line, format!(
                            "the file holds items of several connectors (`{first}`, `{connector}`), whose external ids may collide; export and import them one connector at a time (export items --connector ID)"
                        )));
                    }
                    Some(_) => {}
                }
            }
            return Ok(Some(item));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chorus_store::{Holder, RunStatus, Store};
    use tokio::io::AsyncWriteExt;

    use super::*;

    fn line(id: usize) -> String {
        format!(
            "{{\"external_id\":\"{id}\",\"kind\":\"bug\",\"title\":\"item {id}\",\"created_at\":\"2026-01-01T00:00:00Z\",\"updated_at\":\"2026-01-01T00:00:00Z\"}}\n"
        )
    }

    fn holder(id: &str, ttl: Duration) -> Holder {
        Holder { id: id.to_owned(), host: "test-host".to_owned(), pid: std::process::id(), ttl }
    }

    async fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        let url = format!("sqlite://{}", dir.path().join("chorus.db").display());
        chorus_store::open(&url).await.expect("open store")
    }

    fn file_of(text: String) -> ItemFile {
        ItemFile::new("legacy", "items.jsonl", Box::new(std::io::Cursor::new(text.into_bytes())))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_import_longer_than_its_claim_ttl_keeps_the_claim_and_is_recorded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir).await;
        let ttl = Duration::from_secs(1);
        let engine = Engine::new(Arc::clone(&store), holder("importer", ttl));
        let (mut writer, reader) = tokio::io::duplex(64 * 1024);
        let file = ItemFile::new("legacy", "stdin", Box::new(tokio::io::BufReader::new(reader)));
        let import = tokio::spawn(async move { import_items(&engine, file).await });

        let first_batch: String = (1..=BATCH).map(line).collect();
        writer.write_all(first_batch.as_bytes()).await.expect("write");
        // A slow producer: the file takes well over the claim's TTL to arrive.
        tokio::time::sleep(ttl * 5 / 2).await;
        let rival = store.claim_run("legacy", &holder("rival", ttl)).await.expect("claim");
        assert!(rival.is_none(), "the import's claim outlives its TTL while the import works");
        writer.write_all(line(BATCH + 1).as_bytes()).await.expect("write");
        drop(writer);

        let summary = import.await.expect("join").expect("import succeeds");
        assert!(summary.starts_with(&format!("imported {} item(s) into `legacy`", BATCH + 1)), "{summary}");
        let runs = store.runs(Some("legacy"), 10).await.expect("runs");
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].status, RunStatus::Succeeded);
        assert_eq!((runs[0].pages, runs[0].upserted), (2, BATCH as u64 + 1));
        let cursor = store.cursor("legacy").await.expect("cursor");
        assert_eq!(cursor.value, Some(serde_json::json!({ "kind": "import", "version": 1, "position": BATCH + 1 })));
    }

    #[tokio::test]
    async fn a_bad_line_stops_before_its_batch_and_names_its_number() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir).await;
        let engine = Engine::new(Arc::clone(&store), holder("importer", Duration::from_secs(30)));
        let bad = BATCH + 3;
        let text: String =
            (1..=BATCH + 5).map(|n| if n == bad { "{\"external_id\":\"x\"}\n".to_owned() } else { line(n) }).collect();
        let err = import_items(&engine, file_of(text)).await.expect_err("bad line").to_string();
        assert!(err.contains(&format!("line {bad}: missing field")), "{err}");
        let runs = store.runs(Some("legacy"), 10).await.expect("runs");
        assert_eq!((runs[0].status, runs[0].pages, runs[0].upserted), (RunStatus::Failed, 1, BATCH as u64));
        let cursor = store.cursor("legacy").await.expect("cursor");
        assert_eq!(cursor.value.as_ref().map(|c| c["position"].clone()), Some(serde_json::json!(BATCH)));
    }

    #[tokio::test]
    async fn importing_twice_changes_nothing_and_blank_lines_are_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir).await;
        let engine = Engine::new(Arc::clone(&store), holder("importer", Duration::from_secs(30)));
        let text = format!("{}\n\n{}", line(1), line(2));
        let first = import_items(&engine, file_of(text.clone())).await.expect("first");
        assert_eq!(first, "imported 2 item(s) into `legacy`: 2 new or changed, 0 unchanged, 0 deleted");
        let second = import_items(&engine, file_of(text)).await.expect("second");
        assert_eq!(second, "imported 2 item(s) into `legacy`: 0 new or changed, 2 unchanged, 0 deleted");
    }

    #[tokio::test]
    async fn a_busy_connector_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir).await;
        let ttl = Duration::from_secs(30);
        let _held = store.claim_run("legacy", &holder("other", ttl)).await.expect("claim").expect("free");
        let engine = Engine::new(Arc::clone(&store), holder("importer", ttl));
        let err = import_items(&engine, file_of(line(1))).await.expect_err("busy").to_string();
        assert!(err.contains("being synced or imported by another run"), "{err}");
    }
}

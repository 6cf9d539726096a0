//! `chorus import`: JSON Lines back in — accounts, and items from tools without a connector.
//!
//! The input streams: a parser thread reads and decodes lines into batches and hands
//! them over a bounded channel, so at most a few batches are ever in memory and parsing
//! overlaps with the store's writes on the async side. Items go through the sync engine
//! like any connector's pages, so there is one run loop: `ItemFile` is a `DynConnector`
//! whose pages are those batches, each with the number of its last line as its cursor.
//! The engine claims the target id, heartbeats the claim however long the file takes,
//! commits each batch with its cursor in one transaction (which resolves the batch's
//! `account_name`s with one lookup) and records the run in `chorus runs`. An import is
//! idempotent (the same file twice changes nothing, the upsert key absorbs it). A bad
//! line stops the import with its number before anything of its batch is written;
//! the batches before it stay committed, and importing the mended file again applies
//! them as unchanged. Accounts stream the same way, batch by batch.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context};
use chorus_core::{Comment, ItemRecord, Kind, Person, Record, Source};
use chorus_store::{AccountImport, PageOutcome};
use chorus_sync::engine::{Engine, Observer, Quiet, SyncError};
use chorus_sync::{ConnectorError, DynConnector, DynPage, SyncMode};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::cli::ImportEntity;
use crate::runtime::App;

/// Lines per page: one transaction each.
const BATCH: usize = 2_000;

/// Parsed batches the parser thread may run ahead of the writer (bounds memory).
const AHEAD: usize = 2;

/// The kind of cursor an import writes: `{"kind": "import", "version": 1, "position": LINE}`.
const CURSOR_KIND: &str = "import";

/// Where import lines come from: a file or stdin, read on the parser thread.
pub(crate) type LineReader = Box<dyn BufRead + Send>;
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
    let (name, reader) = open_input(file)?;
    let bar = progress_bar(what);
    let result = match what {
        ImportEntity::Accounts => import_accounts(app.store.as_ref(), &name, reader, &bar).await,
        ImportEntity::Items => {
            if app.config.connector(connector).is_some() {
                bail!(
                    "`{connector}` is a configured connector; import items under an id of their own (--connector legacy)"
                );
            }
            let file = ItemFile::new(connector, name, reader);
            import_items_observed(&app.engine(), file, &bar).await
        }
    };
    bar.finish_and_clear();
    println!("{}", result?);
    Ok(())
}

/// The named input to stream: `file`, or stdin for `-` or none.
pub(crate) fn open_input(file: Option<&Path>) -> anyhow::Result<(String, LineReader)> {
    Ok(match file {
        Some(path) if path != Path::new("-") => {
            let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            (path.display().to_string(), Box::new(std::io::BufReader::with_capacity(1 << 20, file)))
        }
        _ => ("stdin".to_owned(), Box::new(std::io::BufReader::with_capacity(1 << 20, std::io::stdin()))),
    })
}

/// A spinner with the count and rate on a terminal (stderr); hidden otherwise.
pub(crate) fn progress_bar(what: ImportEntity) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let noun = match what {
        ImportEntity::Items => "items",
        ImportEntity::Accounts => "accounts",
    };
    let template = format!("{{spinner}} {{pos:>10}} {noun} imported  {{per_sec}}  {{elapsed}}  {{msg}}");
    let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bar = ProgressBar::new_spinner().with_style(style);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Advances the bar by each committed page's records.
struct Progress<'a>(&'a ProgressBar);

impl Observer for Progress<'_> {
    fn page_committed(&self, _connector: &str, _records: usize, outcome: &PageOutcome) {
        self.0.inc(outcome.upserted + outcome.unchanged);
        self.0.set_message(format!("{} new/changed, {} unchanged", outcome.upserted, outcome.unchanged));
    }
}

/// Accounts stream batch by batch: a bad line stops the import with its number before
/// anything of its batch is written (the batches before it stay imported; importing
/// the mended file again matches them and changes nothing).
pub(crate) async fn import_accounts(
    store: &dyn chorus_store::Store,
    name: &str,
    reader: LineReader,
    bar: &ProgressBar,
) -> anyhow::Result<String> {
    let mut batches = spawn_parser(reader, BATCH, |line: AccountImport, _| Ok(line));
    let mut imported = 0;
    while let Some(batch) = batches.recv().await {
        let batch = batch.map_err(|(line, reason)| anyhow::anyhow!("{name}: line {line}: {reason}"))?;
        let done = store.import_accounts(&batch.values).await?.len();
        imported += done;
        bar.inc(done as u64);
    }
    Ok(format!("imported {imported} account(s)"))
}

/// Runs one item import through the engine; returns the summary line to print.
#[cfg(test)]
async fn import_items(engine: &Engine, file: ItemFile) -> anyhow::Result<String> {
    import_items_observed(engine, file, &ProgressBar::hidden()).await
}

async fn import_items_observed(engine: &Engine, file: ItemFile, bar: &ProgressBar) -> anyhow::Result<String> {
    let run = if bar.is_hidden() {
        engine.run(&file, SyncMode::Full, &Quiet).await
    } else {
        engine.run(&file, SyncMode::Full, &Progress(bar)).await
    };
    let report = match run {
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

/// One batch of decoded lines and the number of the last line it read.
struct Parsed<T> {
    values: Vec<T>,
    last_line: usize,
}

/// A bad line: its number and why.
type BadLine = (usize, String);

/// Reads `reader` on a thread of its own, decoding each non-blank line as `L` and
/// mapping it with `check` (which sees the line number), and sends batches of `batch`
/// values over a bounded channel. The first bad line is sent as the error in place of
/// its batch and ends the stream; a dropped receiver stops the thread.
fn spawn_parser<L, T>(
    mut reader: LineReader,
    batch: usize,
    mut check: impl FnMut(L, usize) -> Result<T, String> + Send + 'static,
) -> mpsc::Receiver<Result<Parsed<T>, BadLine>>
where
    L: DeserializeOwned,
    T: Send + 'static,
{
    let (sender, receiver) = mpsc::channel(AHEAD);
    let parse = move || {
        let mut text = String::new();
        let mut line = 0;
        let mut values = Vec::with_capacity(batch);
        loop {
            text.clear();
            let read = match reader.read_line(&mut text) {
                Ok(read) => read,
                Err(error) => {
                    let _ = sender.blocking_send(Err((line + 1, error.to_string())));
                    return;
                }
            };
            if read == 0 {
                break;
            }
            line += 1;
            if text.trim().is_empty() {
                continue;
            }
            let decoded =
                serde_json::from_str::<L>(&text).map_err(|e| e.to_string()).and_then(|value| check(value, line));
            match decoded {
                Ok(value) => values.push(value),
                Err(reason) => {
                    let _ = sender.blocking_send(Err((line, reason)));
                    return;
                }
            }
            if values.len() == batch {
                let full = std::mem::replace(&mut values, Vec::with_capacity(batch));
                if sender.blocking_send(Ok(Parsed { values: full, last_line: line })).is_err() {
                    return;
                }
            }
        }
        if !values.is_empty() {
            let _ = sender.blocking_send(Ok(Parsed { values, last_line: line }));
        }
    };
    if let Err(error) = std::thread::Builder::new().name("chorus-import-parse".into()).spawn(parse) {
        // No thread, no parser: the receiver sees a closed, empty channel.
        tracing::error!(%error, "could not start the import parser thread");
    }
    receiver
}

/// Refuses a file that mixes connectors: their external ids may collide.
fn one_connector() -> impl FnMut(ItemLine, usize) -> Result<ItemLine, String> + Send + 'static {
    let mut first: Option<String> = None;
    move |item: ItemLine, _line| {
        if let Some(connector) = &item.connector {
            match &first {
                None => first = Some(connector.clone()),
                Some(first) if first != connector => {
                    return Err(format!(
                        "the file holds items of several connectors (`{first}`, `{connector}`), whose external ids may collide; export and import them one connector at a time (export items --connector ID)"
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(item)
    }
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
        let batches = spawn_parser(reader, BATCH, one_connector());
        Ok(futures::stream::unfold((self, batches), |(file, mut batches)| async move {
            let page = match batches.recv().await? {
                Ok(parsed) => {
                    file.items.fetch_add(parsed.values.len(), Ordering::Relaxed);
                    let records = parsed.values.into_iter().flat_map(ItemLine::into_records).collect();
                    let cursor = serde_json::json!({ "kind": CURSOR_KIND, "version": 1, "position": parsed.last_line });
                    Ok(DynPage { records, cursor, unmapped: Vec::new() })
                }
                Err((line, reason)) => {
                    batches.close();
                    Err(ConnectorError::permanent(&file.name, format!("line {line}: {reason}")))
                }
            };
            Some((page, (file, batches)))
        })
        .boxed())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chorus_store::{Holder, RunStatus, Store};
    use std::io::Write;

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
        let (reader, writer) = std::io::pipe().expect("pipe");
        let file = ItemFile::new("legacy", "stdin", Box::new(std::io::BufReader::new(reader)));
        let import = tokio::spawn(async move { import_items(&engine, file).await });

        let first_batch: String = (1..=BATCH).map(line).collect();
        let mut writer = tokio::task::spawn_blocking(move || {
            let mut writer = writer;
            writer.write_all(first_batch.as_bytes()).expect("write");
            writer
        })
        .await
        .expect("join");
        // A slow producer: the file takes well over the claim's TTL to arrive.
        tokio::time::sleep(ttl * 5 / 2).await;
        let rival = store.claim_run("legacy", &holder("rival", ttl)).await.expect("claim");
        assert!(rival.is_none(), "the import's claim outlives its TTL while the import works");
        writer.write_all(line(BATCH + 1).as_bytes()).expect("write");
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

    fn account_line(n: usize) -> String {
        format!("{{\"name\":\"Account {n}\",\"domains\":[\"a{n}.example\"]}}\n")
    }

    #[tokio::test]
    async fn a_bad_account_line_names_its_number_and_writes_nothing_of_its_batch() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir).await;
        let bad = BATCH + 2;
        let text: String =
            (1..=BATCH + 4).map(|n| if n == bad { "{\"name\": 7}\n".to_owned() } else { account_line(n) }).collect();
        let reader: LineReader = Box::new(std::io::Cursor::new(text.into_bytes()));
        let err = import_accounts(store.as_ref(), "accounts.jsonl", reader, &ProgressBar::hidden())
            .await
            .expect_err("bad line")
            .to_string();
        assert!(err.starts_with(&format!("accounts.jsonl: line {bad}: invalid type")), "{err}");
        let counts = store.counts().await.expect("counts");
        assert_eq!(counts.accounts, BATCH as u64, "the first batch is in, nothing of the bad line's batch");
    }

    #[tokio::test]
    async fn lines_are_parsed_on_a_thread_of_their_own_in_bounded_batches() {
        let text: String = (1..=5).map(line).collect();
        let reader: LineReader = Box::new(std::io::Cursor::new(text.into_bytes()));
        let mut batches = spawn_parser(reader, 2, |item: ItemLine, number| {
            assert_eq!(std::thread::current().name(), Some("chorus-import-parse"));
            Ok((number, item.external_id))
        });
        let mut seen = Vec::new();
        while let Some(batch) = batches.recv().await {
            let batch = batch.expect("good lines");
            assert!(batch.values.len() <= 2);
            seen.push((batch.last_line, batch.values));
        }
        let lasts: Vec<usize> = seen.iter().map(|(last, _)| *last).collect();
        assert_eq!(lasts, vec![2, 4, 5]);
        assert_eq!(seen[2].1, vec![(5, "5".to_owned())]);
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

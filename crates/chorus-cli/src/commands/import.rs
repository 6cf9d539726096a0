//! `chorus import`: JSON Lines back in — accounts, and items from tools without a connector.
//!
//! Items are committed like a sync page (records and a cursor in one transaction,
//! under a claim on the target connector id), so an import is idempotent: importing
//! the same file twice changes nothing. A bad line stops the import with its number,
//! before anything of its batch is written.

use std::io::BufRead;
use std::path::Path;

use anyhow::{bail, Context};
use chorus_core::{Comment, ItemRecord, Kind, Person, Record, Source};
use chorus_store::{AccountImport, PageCommit, RunOutcome, RunStatus};
use chrono::{DateTime, Utc};
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::cli::ImportEntity;
use crate::runtime::App;

const BATCH: usize = 500;

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
    let reader: Box<dyn BufRead> = match file {
        Some(path) if path != Path::new("-") => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )),
        _ => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    match what {
        ImportEntity::Accounts => import_accounts(&app, reader).await,
        ImportEntity::Items => import_items(&app, reader, connector).await,
    }
}

fn lines<T: for<'de> Deserialize<'de>>(reader: Box<dyn BufRead>) -> impl Iterator<Item = anyhow::Result<T>> {
    reader.lines().enumerate().filter_map(|(n, line)| {
        let line = match line {
            Ok(line) => line,
            Err(e) => return Some(Err(anyhow::anyhow!("line {}: {e}", n + 1))),
        };
        if line.trim().is_empty() {
            return None;
        }
        Some(serde_json::from_str(&line).map_err(|e| anyhow::anyhow!("line {}: {e}", n + 1)))
    })
}

async fn import_accounts(app: &App, reader: Box<dyn BufRead>) -> anyhow::Result<()> {
    let accounts = lines::<AccountImport>(reader).collect::<anyhow::Result<Vec<_>>>()?;
    let mut imported = 0;
    for batch in accounts.chunks(BATCH) {
        imported += app.store.import_accounts(batch).await?.len();
    }
    println!("imported {imported} account(s)");
    Ok(())
}

async fn import_items(app: &App, reader: Box<dyn BufRead>, connector: &str) -> anyhow::Result<()> {
    if app.config.connector(connector).is_some() {
        bail!("`{connector}` is a configured connector; import items under an id of their own (--connector legacy)");
    }
    let lines = lines::<ItemLine>(reader).collect::<anyhow::Result<Vec<_>>>()?;
    let mut sources: Vec<&str> = lines.iter().filter_map(|line| line.connector.as_deref()).collect();
    sources.sort_unstable();
    sources.dedup();
    if sources.len() > 1 {
        bail!(
            "the file holds items of several connectors ({}), whose external ids may collide; export and import them one connector at a time (export items --connector ID)",
            sources.join(", ")
        );
    }
    let count = lines.len();
    let records: Vec<Record> = lines.into_iter().flat_map(ItemLine::into_records).collect();
    let engine = app.engine();
    let Some(claim) = app.store.claim_run(connector, engine.holder()).await? else {
        bail!("connector `{connector}` is being synced or imported by another run");
    };
    let mut outcome = RunOutcome { status: RunStatus::Running, ..RunOutcome::default() };
    let result = async {
        let mut cursor = app.store.cursor(connector).await?;
        for batch in records.chunks(BATCH) {
            let commit = PageCommit {
                connector: connector.to_owned(),
                source: Source::Import,
                records: batch.to_vec(),
                cursor: serde_json::json!({ "kind": "import", "version": 1, "position": cursor.version + 1 }),
                expected_version: cursor.version,
            };
            let page = app.store.commit_page(&claim, &commit).await?;
            cursor.version = page.cursor_version;
            outcome.pages += 1;
            outcome.upserted += page.upserted;
            outcome.unchanged += page.unchanged;
            outcome.deleted += page.deleted;
        }
        anyhow::Ok(())
    }
    .await;
    outcome.status = if result.is_ok() { RunStatus::Succeeded } else { RunStatus::Failed };
    outcome.error = result.as_ref().err().map(|e| format!("{e:#}"));
    app.store.finish_run(&claim, &outcome).await?;
    result?;
    println!(
        "imported {} item(s) into `{connector}`: {} new or changed, {} unchanged, {} deleted",
        count, outcome.upserted, outcome.unchanged, outcome.deleted
    );
    Ok(())
}

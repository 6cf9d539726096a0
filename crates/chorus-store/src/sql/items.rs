//! Items: the normalized row a record becomes, its upsert, and reading items back.
//!
//! An item row is keyed by `(connector, external_id)` and carries a content hash of
//! every normalized field (raw payload included): a record whose hash matches the stored
//! row is a duplicate and writes nothing, which keeps re-reads out of the change log.

use std::collections::HashMap;

use crate::drivers::Any;
use crate::drivers::{AnyArguments, AnyRow};
use chorus_core::{Item, ItemRecord, Source};
use sqlx::Executor;

use super::hints::{item_source_account, Hints};
use super::{
    content_hash, corrupt, fetch_by_external_ids, get, in_chunks, micros, parse_json, parse_text, placeholders,
    pow2_batches, time_from, to_json, Dialect, Tx,
};
use crate::{Raw, Result};

const TABLE: &str = "items";

type AnyQuery<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

/// The columns `item_from_row` reads; `i` is `items`, `l` is `item_account_links`.
pub(crate) const ITEM_SELECT: &str = "SELECT i.id, i.connector, i.source, i.external_id, \
    i.item_key, i.kind, i.title, i.body, i.comments, i.url, i.status, i.priority, i.tags, \
    i.author_email, i.author_name, i.csat, i.created_at, i.updated_at, i.deleted_at, i.raw, \
    l.account_id FROM items i LEFT JOIN item_account_links l ON l.item_id = i.id";

/// [`ITEM_SELECT`], or with the raw payload replaced by JSON `null` (never read from disk).
pub(crate) fn item_select(raw: Raw) -> &'static str {
    match raw {
        Raw::Include => ITEM_SELECT,
        Raw::Omit => ITEM_SELECT_WITHOUT_RAW,
    }
}

const ITEM_SELECT_WITHOUT_RAW: &str = "SELECT i.id, i.connector, i.source, i.external_id, \
    i.item_key, i.kind, i.title, i.body, i.comments, i.url, i.status, i.priority, i.tags, \
    i.author_email, i.author_name, i.csat, i.created_at, i.updated_at, i.deleted_at, 'null' AS raw, \
    l.account_id FROM items i LEFT JOIN item_account_links l ON l.item_id = i.id";

/// Columns an upsert writes, in bind order (`ItemRow::bind`).
const UPSERT_COLUMNS: usize = 23;

/// Rows per upsert statement (736 parameters). On SQLite the statement binds its
/// parameters by position (`Dialect::sql`), so a statement's cost grows with its rows, not
/// their square; the per-statement round trip to sqlx's SQLite thread is what a larger
/// batch saves. Page upserts measured through the bench at 100k items (release, 2 cores):
/// 16 rows 9.5–10.5 ms a 1 000-item page, 32 rows 9.4–9.9 ms, 64 rows 10.9–12.2 ms.
/// (With `$N` binding, before: 4 rows was best, 15.1k items/s through the whole import.)
pub(crate) const UPSERT_BATCH: usize = 32;

/// A multi-row upsert of `rows` items; returns per row its id, external id and the account
/// its `account_external_id` names (`item_source_account`).
fn upsert_sql(rows: usize) -> String {
    let values: Vec<String> =
        (0..rows).map(|row| format!("({})", placeholders(1 + row * UPSERT_COLUMNS, UPSERT_COLUMNS))).collect();
    let source_account = item_source_account();
    format!(
        "INSERT INTO items (connector, source, external_id, item_key, kind, \
         title, body, comments, url, status, priority, tags, author_email, author_name, \
         author_domain, csat, account_external_id, account_name, account_name_key, created_at, \
         updated_at, raw, content_hash) VALUES {} \
         ON CONFLICT (connector, external_id) DO UPDATE SET source = excluded.source, \
         item_key = excluded.item_key, kind = excluded.kind, title = excluded.title, \
         body = excluded.body, comments = excluded.comments, url = excluded.url, \
         status = excluded.status, priority = excluded.priority, tags = excluded.tags, \
         author_email = excluded.author_email, author_name = excluded.author_name, \
         author_domain = excluded.author_domain, csat = excluded.csat, \
         account_external_id = excluded.account_external_id, account_name = excluded.account_name, \
         account_name_key = excluded.account_name_key, created_at = excluded.created_at, \
         updated_at = excluded.updated_at, deleted_at = NULL, raw = excluded.raw, \
         content_hash = excluded.content_hash \
         RETURNING id, external_id, {source_account} AS source_account",
        values.join(", ")
    )
}

/// What the upsert of one item returns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Upserted {
    pub(crate) id: i64,
    /// The account the item's `account_external_id` names, if any (resolution's first step).
    pub(crate) source_account: Option<i64>,
}

/// Inserts or overwrites items (reviving tombstones), a few statements for many rows.
/// `rows` must not repeat an external id. Returns, in `rows` order, what each upsert returned.
pub(crate) async fn upsert_items(tx: &mut Tx, dialect: Dialect, rows: &[ItemRow]) -> Result<Vec<Upserted>> {
    debug_assert!(
        rows.iter().map(|row| &row.external_id).collect::<std::collections::HashSet<_>>().len() == rows.len(),
        "one statement cannot upsert the same item twice"
    );
    let mut by_external_id: HashMap<String, Upserted> = HashMap::with_capacity(rows.len());
    let mut remaining = rows;
    for size in pow2_batches(rows.len(), UPSERT_BATCH) {
        let (batch, rest) = remaining.split_at(size);
        remaining = rest;
        let text = upsert_sql(batch.len());
        let sql = dialect.sql(&text);
        let mut query = sqlx::query(&sql);
        for row in batch {
            query = row.bind(query);
        }
        for returned in query.fetch_all(&mut **tx).await? {
            let upserted = Upserted { id: get(&returned, "id")?, source_account: get(&returned, "source_account")? };
            by_external_id.insert(get(&returned, "external_id")?, upserted);
        }
    }
    in_row_order(rows, &by_external_id)
}

fn in_row_order(rows: &[ItemRow], by_external_id: &HashMap<String, Upserted>) -> Result<Vec<Upserted>> {
    rows.iter()
        .map(|row| by_external_id.get(&row.external_id).copied().ok_or_else(|| corrupt(TABLE, "upsert returned no id")))
        .collect()
}

/// An item record, normalized into the columns it is stored in.
#[derive(Debug)]
pub(crate) struct ItemRow {
    pub(crate) external_id: String,
    pub(crate) updated_at: i64,
    pub(crate) hash: String,
    pub(crate) hints: Hints,
    source: &'static str,
    key: Option<String>,
    kind: &'static str,
    title: String,
    body: String,
    comments: String,
    url: Option<String>,
    status: String,
    priority: Option<String>,
    tags: String,
    author_name: Option<String>,
    csat: Option<f64>,
    account_name: Option<String>,
    created_at: i64,
    raw: String,
}

impl ItemRow {
    pub(crate) fn new(connector: &str, source: Source, record: &ItemRecord) -> Result<Self> {
        let normalized_email = record.author.normalized_email();
        // The registered domain (`eu.acme.co.uk` → `acme.co.uk`), never a free-mail one.
        let author_domain = normalized_email.as_deref().and_then(chorus_core::domain::account_domain);
        let author_email = normalized_email.or_else(|| record.author.email.clone());
        let account_name = record.account_name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        let account_external_id = record.account_external_id.clone().filter(|id| !id.is_empty());
        let mut row = Self {
            external_id: record.external_id.clone(),
            updated_at: micros(record.updated_at),
            hash: String::new(),
            hints: Hints {
                connector: connector.to_owned(),
                account_external_id,
                account_name_key: account_name.map(name_key),
                author_email,
                author_domain,
            },
            source: source.as_str(),
            key: record.key.clone(),
            kind: record.kind.as_str(),
            title: record.title.clone(),
            body: record.body.clone(),
            comments: to_json(TABLE, &record.comments)?,
            url: record.url.clone(),
            status: record.status.clone(),
            priority: record.priority.clone(),
            tags: to_json(TABLE, &record.tags)?,
            author_name: record.author.name.clone(),
            csat: record.csat,
            account_name: account_name.map(str::to_owned),
            created_at: micros(record.created_at),
            raw: to_json(TABLE, &record.raw)?,
        };
        row.hash = row.compute_hash();
        Ok(row)
    }

    fn compute_hash(&self) -> String {
        let created = self.created_at.to_string();
        let updated = self.updated_at.to_string();
        let csat = self.csat.map(|csat| csat.to_bits().to_string());
        content_hash([
            Some(self.source),
            self.key.as_deref(),
            Some(self.kind),
            Some(self.title.as_str()),
            Some(self.body.as_str()),
            Some(self.comments.as_str()),
            self.url.as_deref(),
            Some(self.status.as_str()),
            self.priority.as_deref(),
            Some(self.tags.as_str()),
            self.hints.author_email.as_deref(),
            self.author_name.as_deref(),
            csat.as_deref(),
            self.hints.account_external_id.as_deref(),
            self.account_name.as_deref(),
            Some(created.as_str()),
            Some(updated.as_str()),
            Some(self.raw.as_str()),
        ])
    }

    fn bind<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        query
            .bind(&self.hints.connector)
            .bind(self.source)
            .bind(&self.external_id)
            .bind(&self.key)
            .bind(self.kind)
            .bind(&self.title)
            .bind(&self.body)
            .bind(&self.comments)
            .bind(&self.url)
            .bind(&self.status)
            .bind(&self.priority)
            .bind(&self.tags)
            .bind(&self.hints.author_email)
            .bind(&self.author_name)
            .bind(&self.hints.author_domain)
            .bind(self.csat)
            .bind(&self.hints.account_external_id)
            .bind(&self.account_name)
            .bind(&self.hints.account_name_key)
            .bind(self.created_at)
            .bind(self.updated_at)
            .bind(&self.raw)
            .bind(&self.hash)
    }
}

/// The comparison key of an account name: trimmed and lowercased.
pub(crate) fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// What is stored for an item a page mentions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredItem {
    pub(crate) id: i64,
    pub(crate) hash: String,
    /// The source's `updated_at` of the stored version (unix micros).
    pub(crate) updated_at: i64,
    pub(crate) deleted_at: Option<i64>,
}

/// The stored state of the given external ids of one connector.
pub(crate) async fn stored_items(
    tx: &mut Tx,
    dialect: Dialect,
    connector: &str,
    external_ids: &[&str],
) -> Result<HashMap<String, StoredItem>> {
    let mut stored = HashMap::with_capacity(external_ids.len());
    let template = "SELECT id, external_id, content_hash, updated_at, deleted_at FROM items \
                    WHERE connector = $1 AND external_id IN ({ids})";
    for row in fetch_by_external_ids(tx, dialect, template, connector, external_ids).await? {
        let item = StoredItem {
            id: get(&row, "id")?,
            hash: get(&row, "content_hash")?,
            updated_at: get(&row, "updated_at")?,
            deleted_at: get(&row, "deleted_at")?,
        };
        stored.insert(get(&row, "external_id")?, item);
    }
    Ok(stored)
}

/// Marks an item deleted; the row and its raw payload stay as a tombstone.
pub(crate) async fn tombstone(tx: &mut Tx, id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE items SET deleted_at = $2 WHERE id = $1").bind(id).bind(now).execute(&mut **tx).await?;
    Ok(())
}

/// Decodes a row selected with `ITEM_SELECT` (`request_ids` left empty).
pub(crate) fn item_from_row(row: &AnyRow) -> Result<Item> {
    let source: String = get(row, "source")?;
    let kind: String = get(row, "kind")?;
    let comments: String = get(row, "comments")?;
    let tags: String = get(row, "tags")?;
    let raw: String = get(row, "raw")?;
    Ok(Item {
        id: get(row, "id")?,
        connector: get(row, "connector")?,
        source: parse_text(TABLE, &source)?,
        external_id: get(row, "external_id")?,
        key: get(row, "item_key")?,
        kind: parse_text(TABLE, &kind)?,
        title: get(row, "title")?,
        body: get(row, "body")?,
        comments: parse_json(TABLE, &comments)?,
        url: get(row, "url")?,
        status: get(row, "status")?,
        priority: get(row, "priority")?,
        tags: parse_json(TABLE, &tags)?,
        author_email: get(row, "author_email")?,
        author_name: get(row, "author_name")?,
        csat: get(row, "csat")?,
        account_id: get(row, "account_id")?,
        request_ids: Vec::new(),
        created_at: time_from(TABLE, get(row, "created_at")?)?,
        updated_at: time_from(TABLE, get(row, "updated_at")?)?,
        deleted_at: get::<Option<i64>>(row, "deleted_at")?.map(|micros| time_from(TABLE, micros)).transpose()?,
        raw: parse_json(TABLE, &raw)?,
    })
}

/// Decodes item rows and fills each item's `request_ids`.
pub(crate) async fn items_with_requests<'c, E>(executor: E, rows: &[AnyRow]) -> Result<Vec<Item>>
where
    E: Executor<'c, Database = Any> + Copy,
{
    let mut items = rows.iter().map(item_from_row).collect::<Result<Vec<_>>>()?;
    let ids: Vec<i64> = items.iter().map(|item| item.id).collect();
    let mut requests: HashMap<i64, Vec<i64>> = HashMap::new();
    for chunk in in_chunks(&ids) {
        let sql = format!(
            "SELECT DISTINCT item_id, request_id FROM item_request_links WHERE item_id IN ({}) \
             ORDER BY item_id, request_id",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(executor).await? {
            requests.entry(get(&row, "item_id")?).or_default().push(get(&row, "request_id")?);
        }
    }
    for item in &mut items {
        item.request_ids = requests.remove(&item.id).unwrap_or_default();
    }
    Ok(items)
}

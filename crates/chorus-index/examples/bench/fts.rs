//! The SQLite FTS5 baseline: the same items, read back from the store, in an FTS5 table
//! with the same tokenization (unicode61, diacritics folded), ranked by
//! `bm25 × revenue factor`, with total, reach and facets computed in SQL.
//!
//! Invariant: every number this module returns is computed the way `chorus-index`
//! defines it (same facet values, status lowercased, ARR of each distinct account once),
//! so the benchmark can demand exact equality.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use chorus_index::{revenue_factor, schema::normalize_status};
use chorus_store::{IdPage, ItemFilter, Raw, Store};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

use crate::corpus::BenchQuery;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Total, reach and every facet count: what both engines must agree on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Aggregates {
    pub total: u64,
    pub reach_accounts: u64,
    pub reach_arr_minor: i64,
    /// `(facet, value) → count`.
    pub facets: BTreeMap<(String, String), u64>,
}

/// Separates comments in the FTS5 `comments` column (see `load`).
const COMMENT_GAP: &str = " zzgap ";

pub struct Fts {
    conn: SqliteConnection,
}

const SCHEMA: &str = "
    CREATE TABLE accounts (id INTEGER PRIMARY KEY, arr_minor INTEGER NOT NULL, factor REAL NOT NULL,
                           segment TEXT, lifecycle_stage TEXT);
    CREATE TABLE items (id INTEGER PRIMARY KEY, account_id INTEGER, kind TEXT NOT NULL,
                        source TEXT NOT NULL, status TEXT NOT NULL, updated_at INTEGER NOT NULL);
    CREATE VIRTUAL TABLE items_fts USING fts5(title, body, comments,
                                             tokenize = 'unicode61 remove_diacritics 2');";

impl Fts {
    pub async fn create(path: &std::path::Path) -> Result<Fts, BoxError> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .pragma("cache_size", "-262144")
            .pragma("mmap_size", "1073741824");
        let mut conn = options.connect().await?;
        sqlx::raw_sql(SCHEMA).execute(&mut conn).await?;
        Ok(Fts { conn })
    }

    /// Reads accounts and live items from the store and loads them; returns items loaded.
    pub async fn load(&mut self, store: &Arc<dyn Store>) -> Result<u64, BoxError> {
        let mut page = IdPage::first(5_000);
        let mut tx = self.conn.begin().await?;
        loop {
            let accounts = store.accounts(page).await?;
            let Some(last) = accounts.last() else { break };
            page.after_id = last.id;
            for account in &accounts {
                sqlx::query("INSERT INTO accounts VALUES (?1, ?2, ?3, ?4, ?5)")
                    .bind(account.id)
                    .bind(account.arr_minor.max(0))
                    .bind(revenue_factor(account.arr_minor))
                    .bind(account.segment.as_deref())
                    .bind(account.lifecycle_stage.map(|stage| stage.as_str()))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        let mut loaded = 0;
        let mut page = IdPage::first(5_000);
        let filter = ItemFilter { raw: Raw::Omit, ..ItemFilter::default() };
        loop {
            let items = store.items(&filter, page).await?;
            let Some(last) = items.last() else { break };
            page.after_id = last.id;
            let mut tx = self.conn.begin().await?;
            for item in &items {
                sqlx::query("INSERT INTO items VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                    .bind(item.id)
                    .bind(item.account_id)
                    .bind(item.kind.as_str())
                    .bind(item.source.as_str())
                    .bind(normalize_status(&item.status))
                    .bind(item.updated_at.timestamp())
                    .execute(&mut *tx)
                    .await?;
                // tantivy leaves a one-position gap between the values of a multi-valued
                // field, so a phrase never spans two comments; a filler token that is not in
                // the corpus vocabulary gives FTS5 the same gap.
                let comments: Vec<&str> = item.comments.iter().map(|c| c.body.as_str()).collect();
                sqlx::query("INSERT INTO items_fts (rowid, title, body, comments) VALUES (?1, ?2, ?3, ?4)")
                    .bind(item.id)
                    .bind(&item.title)
                    .bind(&item.body)
                    .bind(comments.join(COMMENT_GAP))
                    .execute(&mut *tx)
                    .await?;
                loaded += 1;
            }
            tx.commit().await?;
        }
        Ok(loaded)
    }

    fn filter_sql(query: &BenchQuery) -> &'static str {
        match query.filter.as_ref().map(|(name, _)| *name) {
            Some("kind") => " AND i.kind = ?2",
            Some("source") => " AND i.source = ?2",
            Some("status") => " AND i.status = ?2",
            Some("segment") => " AND a.segment = ?2",
            _ => "",
        }
    }

    /// The 20 best item ids by `bm25 (title ×2) × revenue factor`.
    pub async fn top20(&mut self, query: &BenchQuery) -> Result<Vec<i64>, BoxError> {
        let sql = format!(
            "SELECT i.id, -bm25(items_fts, 2.0, 1.0, 1.0) * COALESCE(a.factor, 1.0) AS rank \
             FROM items_fts JOIN items i ON i.id = items_fts.rowid \
             LEFT JOIN accounts a ON a.id = i.account_id \
             WHERE items_fts MATCH ?1{} ORDER BY rank DESC LIMIT 20",
            Self::filter_sql(query)
        );
        let mut statement = sqlx::query(&sql).bind(&query.text);
        if let Some((_, value)) = &query.filter {
            statement = statement.bind(value);
        }
        let rows = statement.fetch_all(&mut self.conn).await?;
        Ok(rows.iter().map(|row| row.get::<i64, _>(0)).collect())
    }

    /// Total, reach and facets over all matches, in one statement.
    pub async fn aggregates(&mut self, query: &BenchQuery) -> Result<Aggregates, BoxError> {
        let sql = format!(
            "WITH m AS MATERIALIZED (
                SELECT i.account_id, i.kind, i.source, i.status, a.arr_minor, a.segment, a.lifecycle_stage
                FROM items_fts JOIN items i ON i.id = items_fts.rowid
                LEFT JOIN accounts a ON a.id = i.account_id
                WHERE items_fts MATCH ?1{})
             SELECT 'total', '', COUNT(*), 0 FROM m
             UNION ALL SELECT 'reach', '', COUNT(*), COALESCE(SUM(arr_minor), 0)
                 FROM (SELECT DISTINCT account_id, arr_minor FROM m WHERE account_id IS NOT NULL)
             UNION ALL SELECT 'source', source, COUNT(*), 0 FROM m GROUP BY source
             UNION ALL SELECT 'kind', kind, COUNT(*), 0 FROM m GROUP BY kind
             UNION ALL SELECT 'status', status, COUNT(*), 0 FROM m GROUP BY status
             UNION ALL SELECT 'segment', segment, COUNT(*), 0 FROM m WHERE segment IS NOT NULL GROUP BY segment
             UNION ALL SELECT 'lifecycle_stage', lifecycle_stage, COUNT(*), 0 FROM m
                 WHERE lifecycle_stage IS NOT NULL GROUP BY lifecycle_stage",
            Self::filter_sql(query)
        );
        let mut statement = sqlx::query(&sql).bind(&query.text);
        if let Some((_, value)) = &query.filter {
            statement = statement.bind(value);
        }
        let mut aggregates = Aggregates::default();
        for row in statement.fetch_all(&mut self.conn).await? {
            let facet: String = row.get(0);
            let value: String = row.get(1);
            let count = u64::try_from(row.get::<i64, _>(2)).unwrap_or(0);
            match facet.as_str() {
                "total" => aggregates.total = count,
                "reach" => {
                    aggregates.reach_accounts = count;
                    aggregates.reach_arr_minor = row.get(3);
                }
                _ => {
                    aggregates.facets.insert((facet, value), count);
                }
            }
        }
        Ok(aggregates)
    }
}

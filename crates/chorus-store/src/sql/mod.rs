//! The one `Store` implementation, written once over sqlx `Any`.
//!
//! SQLite and PostgreSQL run the same SQL text (`$N` placeholders, `ON CONFLICT`,
//! `RETURNING`); `Dialect` holds the three things that differ: how a write transaction
//! begins, how a row is locked, and how the placeholders of a many-parameter statement
//! are spelled (SQLite binds `?` by position, `$N` by a quadratic name lookup). The
//! invariant kept here: every write runs inside `SqlStore::begin_write`, which
//! serializes change-log appends (SQLite: one writer connection and `BEGIN IMMEDIATE`;
//! PostgreSQL: a transaction-scoped advisory lock), so change sequence numbers commit —
//! and become visible — in increasing order.

mod account_fields;
mod account_find;
mod accounts;
mod changes;
mod commit;
mod demand;
mod graph;
mod hints;
mod items;
mod links;
mod opportunities;
mod owners;
mod packed;
mod requests;
mod resolve;
mod runs;
mod sessions;
mod store;
mod tokens;
mod triage;

use std::borrow::Cow;

use crate::drivers::Any;
use crate::drivers::AnyRow;
use crate::drivers::{AnyConnection, AnyPool};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use crate::{Backend, Result, StoreError};

pub(crate) use changes::ChangeSet;

/// A write transaction on the writer pool.
pub(crate) type Tx = sqlx::Transaction<'static, Any>;

/// Key of the PostgreSQL advisory lock that serializes change-log appends ("chorus").
const CHANGE_LOG_LOCK: i64 = 0x6368_6f72_7573;

/// Largest `IN (...)` list or multi-row `VALUES` a statement carries.
const MAX_BATCH: usize = 256;

/// The store over one database: a writer pool and a reader pool (the same pool on
/// PostgreSQL, where the server arbitrates writers).
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) writer: AnyPool,
    pub(crate) reader: AnyPool,
    pub(crate) dialect: Dialect,
}

/// What differs between the two databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dialect {
    pub(crate) backend: Backend,
}

impl Dialect {
    /// The statement text to send for `sql`, which is written with `$N` placeholders.
    ///
    /// SQLite: sqlx binds a `$N` parameter by asking SQLite for each parameter's name, a
    /// linear scan, so binding a statement costs the square of its parameter count (a
    /// 736-parameter upsert: 610 µs against 54 µs with `?`). When the placeholders are
    /// `$1, $2, ..., $n`, each once and in that order, they become anonymous `?`, which
    /// bind by position to the same values; any other statement is sent unchanged.
    pub(crate) fn sql(self, sql: &str) -> Cow<'_, str> {
        match self.backend {
            Backend::Sqlite => positional(sql).map_or(Cow::Borrowed(sql), Cow::Owned),
            Backend::Postgres => Cow::Borrowed(sql),
        }
    }

    /// Suffix that locks the selected rows until the transaction ends (PostgreSQL); on
    /// SQLite the write transaction already excludes every other writer.
    pub(crate) fn for_update(self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }
}

/// Whether a write transaction appends to the change log (and must be serialized with
/// every other appender on PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appends {
    Changes,
    Nothing,
}

impl SqlStore {
    pub(crate) fn new(writer: AnyPool, reader: AnyPool, backend: Backend) -> Self {
        Self { writer, reader, dialect: Dialect { backend } }
    }

    /// Begins a write transaction.
    ///
    /// SQLite: `BEGIN IMMEDIATE` takes the database write lock up front, so a transaction
    /// never fails half-way trying to upgrade a read lock (another process may write the
    /// same file; `busy_timeout` makes it wait instead). PostgreSQL: a transaction that
    /// appends changes first takes `CHANGE_LOG_LOCK`, held until commit, so a later
    /// sequence number can never commit before an earlier one.
    pub(crate) async fn begin_write(&self, appends: Appends) -> Result<Tx> {
        match self.dialect.backend {
            Backend::Sqlite => Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => {
                let mut tx = self.writer.begin().await?;
                if appends == Appends::Changes {
                    sqlx::query("SELECT 1 AS locked FROM pg_advisory_xact_lock($1)")
                        .bind(CHANGE_LOG_LOCK)
                        .execute(&mut *tx)
                        .await?;
                }
                Ok(tx)
            }
        }
    }
}

/// Unix microseconds of a UTC time, the storage form of every timestamp.
pub(crate) fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

pub(crate) fn now_micros() -> i64 {
    micros(Utc::now())
}

/// Decodes a stored timestamp.
pub(crate) fn time_from(table: &'static str, value: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(value).ok_or_else(|| corrupt(table, format!("timestamp {value} out of range")))
}

pub(crate) fn date_to_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// A stored `YYYY-MM-DD` date. The form `date_to_text` writes is read by hand (ranking
/// reads every account's renewal date, and chrono's format parser costs about a
/// microsecond a date); anything else goes through chrono's `%Y-%m-%d`.
pub(crate) fn date_from(table: &'static str, text: &str) -> Result<NaiveDate> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0u32, |n, b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
    };
    let fast = (bytes.len() == 10 && bytes[4] == b'-' && bytes[7] == b'-')
        .then(|| NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?))
        .flatten();
    match fast {
        Some(date) => Ok(date),
        None => {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| corrupt(table, format!("date `{text}` unreadable")))
        }
    }
}

pub(crate) fn corrupt(table: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { table, reason: reason.into() }
}

/// Parses a stored vocabulary string (kind, source, provenance, ...).
pub(crate) fn parse_text<T>(table: &'static str, text: &str) -> Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|err: T::Err| corrupt(table, err.to_string()))
}

/// Decodes a stored JSON column.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(table: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|err| corrupt(table, format!("json unreadable: {err}")))
}

pub(crate) fn to_json<T: serde::Serialize>(table: &'static str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|err| corrupt(table, format!("json unwritable: {err}")))
}

/// Reads a column, naming the table on failure.
pub(crate) fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(column).map_err(|err| corrupt("row", format!("column {column}: {err}")))
}

/// `$first, $first+1, ..., $first+n-1`.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(n * 7);
    for index in first..first + n {
        if index > first {
            out.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "${index}");
    }
    out
}

/// `sql` with `$1, $2, ..., $n` (outside string literals) replaced by `?`, or `None` when
/// it has no placeholder or they are not each used once in increasing order.
fn positional(sql: &str) -> Option<String> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut next = 1usize;
    let mut copied = 0;
    let mut in_literal = false;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'\'' => in_literal = !in_literal,
            b'$' if !in_literal => {
                let digits = bytes[at + 1..].iter().take_while(|byte| byte.is_ascii_digit()).count();
                let number: usize = sql[at + 1..at + 1 + digits].parse().ok()?;
                if number != next {
                    return None;
                }
                next += 1;
                out.push_str(&sql[copied..at]);
                out.push('?');
                at += 1 + digits;
                copied = at;
                continue;
            }
            _ => {}
        }
        at += 1;
    }
    if next == 1 {
        return None;
    }
    out.push_str(&sql[copied..]);
    Some(out)
}

/// Splits `values` into chunks of at most `MAX_BATCH`, each padded (by repeating its last
/// value) to a power of two, so an `IN (...)` list only ever has a handful of distinct
/// lengths and its statements stay in the per-connection statement cache.
pub(crate) fn in_chunks<T: Clone>(values: &[T]) -> Vec<Vec<T>> {
    values
        .chunks(MAX_BATCH)
        .map(|chunk| {
            let mut padded = chunk.to_vec();
            if let Some(last) = chunk.last() {
                padded.resize(chunk.len().next_power_of_two(), last.clone());
            }
            padded
        })
        .collect()
}

/// Splits `n` rows into batch sizes that are powers of two no larger than `max` (largest
/// first), for multi-row `VALUES` with a handful of distinct statement texts.
pub(crate) fn pow2_batches(mut n: usize, max: usize) -> Vec<usize> {
    debug_assert!(max.is_power_of_two());
    let mut sizes = Vec::new();
    while n > 0 {
        let size = if n >= max { max } else { 1 << (usize::BITS - 1 - n.leading_zeros()) };
        sizes.push(size);
        n -= size;
    }
    sizes
}

/// Runs `template` (which holds `{ids}` where an `IN` list goes) over `ids` in chunks.
pub(crate) async fn fetch_by_ids(pool: &AnyPool, template: &str, ids: &[i64]) -> Result<Vec<AnyRow>> {
    let mut rows = Vec::new();
    for chunk in in_chunks(ids) {
        let sql = template.replace("{ids}", &placeholders(1, chunk.len()));
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        rows.extend(query.fetch_all(pool).await?);
    }
    Ok(rows)
}

/// Runs `template` (`$1` is the connector; `{ids}` is where the `IN` list of external
/// ids goes) over `external_ids` in chunks, on `conn` (a write transaction's, or a
/// reader's).
pub(crate) async fn fetch_by_external_ids(
    conn: &mut AnyConnection,
    dialect: Dialect,
    template: &str,
    connector: &str,
    external_ids: &[&str],
) -> Result<Vec<AnyRow>> {
    let mut rows = Vec::new();
    for chunk in in_chunks(external_ids) {
        let text = template.replace("{ids}", &placeholders(2, chunk.len()));
        let sql = dialect.sql(&text);
        let mut query = sqlx::query(&sql).bind(connector);
        for external_id in chunk {
            query = query.bind(external_id);
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// A hex SHA-256 prefix (128 bits) over length-prefixed fields, `None` distinct from "".
pub(crate) fn content_hash<'a>(fields: impl IntoIterator<Item = Option<&'a str>>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for field in fields {
        match field {
            None => hasher.update([0u8]),
            Some(text) => {
                hasher.update([1u8]);
                hasher.update((text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
        }
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(32);
    for byte in &hasher.finalize()[..16] {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_by_hand_agree_with_chrono() {
        let mut day = NaiveDate::from_ymd_opt(1999, 12, 25).expect("date");
        for _ in 0..800 {
            assert_eq!(date_from("t", &date_to_text(day)).expect("date"), day);
            day = day.succ_opt().expect("next day");
        }
        for bad in ["2026-02-30", "2026-13-01", "2026-00-10", "20a6-01-01", "2026/01/01", "", "2026-01-0x"] {
            assert!(date_from("t", bad).is_err(), "{bad}");
        }
        assert_eq!(date_from("t", "2026-1-5").ok(), NaiveDate::parse_from_str("2026-1-5", "%Y-%m-%d").ok());
    }

    #[test]
    fn batches_are_powers_of_two_and_cover_everything() {
        for n in [0, 1, 3, 255, 256, 257, 1000] {
            let sizes = pow2_batches(n, MAX_BATCH);
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|size| size.is_power_of_two() && *size <= MAX_BATCH));
        }
        let chunks = in_chunks(&[1, 2, 3]);
        assert_eq!(chunks, vec![vec![1, 2, 3, 3]]);
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
    }

    #[test]
    fn sqlite_placeholders_become_positional_only_when_in_order() {
        let sqlite = Dialect { backend: Backend::Sqlite };
        let postgres = Dialect { backend: Backend::Postgres };
        assert_eq!(
            sqlite.sql("SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"),
            "SELECT a FROM t WHERE b = ? AND c IN (?, ?)"
        );
        assert_eq!(sqlite.sql("SELECT '$1' FROM t WHERE b = $1"), "SELECT '$1' FROM t WHERE b = ?");
        assert_eq!(sqlite.sql("UPDATE t SET a = $2 WHERE id = $1"), "UPDATE t SET a = $2 WHERE id = $1");
        assert_eq!(sqlite.sql("SELECT $1 UNION SELECT $1"), "SELECT $1 UNION SELECT $1");
        assert_eq!(sqlite.sql("SELECT 1"), "SELECT 1");
        assert_eq!(postgres.sql("SELECT $1"), "SELECT $1");
    }

    #[test]
    fn hash_is_lowercase_hex_of_the_digest_prefix() {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update([1u8]);
        hasher.update(2u64.to_le_bytes());
        hasher.update(b"ab");
        hasher.update([0u8]);
        let expected: String = hasher.finalize()[..16].iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(content_hash([Some("ab"), None]), expected);
    }

    #[test]
    fn hash_tells_none_from_empty() {
        assert_ne!(content_hash([None]), content_hash([Some("")]));
        assert_ne!(content_hash([Some("ab"), Some("c")]), content_hash([Some("a"), Some("bc")]));
    }
}

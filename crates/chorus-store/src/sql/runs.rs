//! Sync runs: claims (leases), heartbeats, run history, cursors and credentials.
//!
//! A connector has at most one lease row. Invariant: a lease changes hands only inside
//! a write transaction that holds the row (SQLite: the database write lock; PostgreSQL:
//! `FOR UPDATE`, or `ON CONFLICT DO NOTHING` for the first claim), and only when the
//! holder expired or is a dead process on this host; the displaced run is `abandoned`.

use std::path::Path;

use crate::drivers::Any;
use crate::drivers::AnyRow;

use super::{corrupt, get, now_micros, parse_json, time_from, Appends, Dialect, SqlStore, Tx};
use crate::{Holder, Result, RunClaim, RunOutcome, RunStatus, StoreError, StoredCursor, SyncRun};

/// Fails with `ClaimLost` unless `claim` still holds its connector (and locks the lease
/// row until the transaction ends on PostgreSQL, so no takeover interleaves).
pub(crate) async fn check_claim(tx: &mut Tx, dialect: Dialect, claim: &RunClaim) -> Result<()> {
    let sql = format!("SELECT holder_id, run_id FROM sync_leases WHERE connector = $1{}", dialect.for_update());
    let row = sqlx::query(&sql).bind(&claim.connector).fetch_optional(&mut **tx).await?;
    let held = match row {
        Some(row) => {
            let holder: String = get(&row, "holder_id")?;
            let run: i64 = get(&row, "run_id")?;
            holder == claim.holder_id && run == claim.run_id
        }
        None => false,
    };
    if held {
        Ok(())
    } else {
        Err(StoreError::ClaimLost { connector: claim.connector.clone() })
    }
}

/// Whether a process id is known to be gone on this host. Without `/proc` nothing is
/// known, and only expiry frees a lease.
fn process_is_gone(pid: i64) -> bool {
    Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

fn ttl_micros(holder: &Holder) -> i64 {
    i64::try_from(holder.ttl.as_micros()).unwrap_or(i64::MAX / 4)
}

impl SqlStore {
    pub(crate) async fn claim_run_tx(&self, connector: &str, holder: &Holder) -> Result<Option<RunClaim>> {
        let now = now_micros();
        let ttl = ttl_micros(holder);
        let mut tx = self.begin_write(Appends::Nothing).await?;
        let sql = format!(
            "SELECT holder_id, host, pid, run_id, expires_at FROM sync_leases WHERE connector = $1{}",
            self.dialect.for_update()
        );
        let lease = sqlx::query(&sql).bind(connector).fetch_optional(&mut *tx).await?;
        let run_id = self.start_run(&mut tx, connector, holder, now).await?;
        let taken = match lease {
            None => {
                sqlx::query(
                    "INSERT INTO sync_leases (connector, holder_id, host, pid, run_id, ttl_micros, \
                     acquired_at, heartbeat_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) \
                     ON CONFLICT (connector) DO NOTHING",
                )
                .bind(connector)
                .bind(&holder.id)
                .bind(&holder.host)
                .bind(i64::from(holder.pid))
                .bind(run_id)
                .bind(ttl)
                .bind(now)
                .bind(now.saturating_add(ttl))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1
            }
            Some(lease) => self.take_over(&mut tx, connector, holder, &lease, run_id, now).await?,
        };
        if !taken {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(RunClaim { run_id, connector: connector.to_owned(), holder_id: holder.id.clone() }))
    }

    async fn start_run(&self, tx: &mut Tx, connector: &str, holder: &Holder, now: i64) -> Result<i64> {
        let id = sqlx::query_scalar::<Any, i64>(
            "INSERT INTO sync_runs (connector, holder, status, started_at) VALUES ($1, $2, $3, $4) \
             RETURNING id",
        )
        .bind(connector)
        .bind(&holder.id)
        .bind(RunStatus::Running.as_str())
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        Ok(id)
    }

    /// Takes an existing lease if its holder expired or died; marks its run abandoned.
    async fn take_over(
        &self,
        tx: &mut Tx,
        connector: &str,
        holder: &Holder,
        lease: &AnyRow,
        run_id: i64,
        now: i64,
    ) -> Result<bool> {
        let old_holder: String = get(lease, "holder_id")?;
        let old_host: String = get(lease, "host")?;
        let old_pid: i64 = get(lease, "pid")?;
        let old_run: i64 = get(lease, "run_id")?;
        let expires_at: i64 = get(lease, "expires_at")?;
        let expired = now > expires_at;
        let dead = old_host == holder.host && process_is_gone(old_pid);
        if !(expired || dead) {
            return Ok(false);
        }
        tracing::info!(connector, previous = %old_holder, expired, dead, "taking over sync claim");
        sqlx::query(
            "UPDATE sync_runs SET status = $2, finished_at = $3, error = $4 \
             WHERE id = $1 AND status = $5",
        )
        .bind(old_run)
        .bind(RunStatus::Abandoned.as_str())
        .bind(now)
        .bind(if dead { "holder process exited" } else { "claim expired" })
        .bind(RunStatus::Running.as_str())
        .execute(&mut **tx)
        .await?;
        let updated = sqlx::query(
            "UPDATE sync_leases SET holder_id = $3, host = $4, pid = $5, run_id = $6, \
             ttl_micros = $7, acquired_at = $8, heartbeat_at = $8, expires_at = $9 \
             WHERE connector = $1 AND holder_id = $2",
        )
        .bind(connector)
        .bind(&old_holder)
        .bind(&holder.id)
        .bind(&holder.host)
        .bind(i64::from(holder.pid))
        .bind(run_id)
        .bind(ttl_micros(holder))
        .bind(now)
        .bind(now.saturating_add(ttl_micros(holder)))
        .execute(&mut **tx)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    pub(crate) async fn heartbeat_tx(&self, claim: &RunClaim) -> Result<()> {
        let now = now_micros();
        let updated = sqlx::query(
            "UPDATE sync_leases SET heartbeat_at = $4, expires_at = $4 + ttl_micros \
             WHERE connector = $1 AND holder_id = $2 AND run_id = $3",
        )
        .bind(&claim.connector)
        .bind(&claim.holder_id)
        .bind(claim.run_id)
        .bind(now)
        .execute(&self.writer)
        .await?;
        if updated.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::ClaimLost { connector: claim.connector.clone() })
        }
    }

    pub(crate) async fn finish_run_tx(&self, claim: &RunClaim, outcome: &RunOutcome) -> Result<()> {
        let now = now_micros();
        // A list of strings always serializes.
        let examples = (!outcome.unmapped_examples.is_empty())
            .then(|| serde_json::to_string(&outcome.unmapped_examples).ok())
            .flatten();
        let mut tx = self.begin_write(Appends::Nothing).await?;
        sqlx::query(
            "UPDATE sync_runs SET status = $2, finished_at = $3, pages = $4, upserted = $5, \
             unchanged = $6, deleted = $7, error = $8, unmapped = $10, unmapped_examples = $11 \
             WHERE id = $1 AND status = $9",
        )
        .bind(claim.run_id)
        .bind(outcome.status.as_str())
        .bind(now)
        .bind(count(outcome.pages))
        .bind(count(outcome.upserted))
        .bind(count(outcome.unchanged))
        .bind(count(outcome.deleted))
        .bind(&outcome.error)
        .bind(RunStatus::Running.as_str())
        .bind(count(outcome.unmapped))
        .bind(examples)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sync_leases WHERE connector = $1 AND holder_id = $2 AND run_id = $3")
            .bind(&claim.connector)
            .bind(&claim.holder_id)
            .bind(claim.run_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn cursor_read(&self, connector: &str) -> Result<StoredCursor> {
        let row = sqlx::query("SELECT cursor, version FROM sync_state WHERE connector = $1")
            .bind(connector)
            .fetch_optional(&self.reader)
            .await?;
        let Some(row) = row else { return Ok(StoredCursor::default()) };
        let cursor: Option<String> = get(&row, "cursor")?;
        Ok(StoredCursor {
            value: cursor.map(|text| parse_json("sync_state", &text)).transpose()?,
            version: get(&row, "version")?,
        })
    }

    pub(crate) async fn reset_cursor_tx(&self, claim: &RunClaim) -> Result<StoredCursor> {
        let mut tx = self.begin_write(Appends::Nothing).await?;
        check_claim(&mut tx, self.dialect, claim).await?;
        let version = sqlx::query_scalar::<Any, i64>(
            "INSERT INTO sync_state (connector, cursor, version, updated_at) VALUES ($1, NULL, 1, $2) \
             ON CONFLICT (connector) DO UPDATE SET cursor = NULL, version = sync_state.version + 1, \
             updated_at = excluded.updated_at RETURNING version",
        )
        .bind(&claim.connector)
        .bind(now_micros())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(StoredCursor { value: None, version })
    }

    pub(crate) async fn runs_read(&self, connector: Option<&str>, limit: u32) -> Result<Vec<SyncRun>> {
        self.runs_before_read(connector, None, limit).await
    }

    pub(crate) async fn runs_before_read(
        &self,
        connector: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SyncRun>> {
        let rows = sqlx::query(
            "SELECT id, connector, holder, status, started_at, finished_at, pages, upserted, \
             unchanged, deleted, error, unmapped, unmapped_examples FROM sync_runs WHERE ($1 IS NULL OR connector = $1) \
             AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(connector)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    pub(crate) async fn credential_read(&self, connector: &str, name: &str) -> Result<Option<String>> {
        let value = sqlx::query_scalar("SELECT value FROM credentials WHERE connector = $1 AND name = $2")
            .bind(connector)
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        Ok(value)
    }

    pub(crate) async fn swap_credential_tx(
        &self,
        connector: &str,
        name: &str,
        expected: Option<&str>,
        new: &str,
    ) -> Result<bool> {
        let now = now_micros();
        let query = match expected {
            None => sqlx::query(
                "INSERT INTO credentials (connector, name, value, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (connector, name) DO NOTHING",
            ),
            Some(_) => sqlx::query(
                "UPDATE credentials SET value = $3, updated_at = $4 \
                 WHERE connector = $1 AND name = $2 AND value = $5",
            ),
        };
        let mut query = query.bind(connector).bind(name).bind(new).bind(now);
        if let Some(expected) = expected {
            query = query.bind(expected);
        }
        Ok(query.execute(&self.writer).await?.rows_affected() == 1)
    }
}

fn count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn run_from_row(row: &AnyRow) -> Result<SyncRun> {
    const TABLE: &str = "sync_runs";
    let status: String = get(row, "status")?;
    let counter = |column: &str| -> Result<u64> {
        u64::try_from(get::<i64>(row, column)?).map_err(|_| corrupt(TABLE, format!("negative {column}")))
    };
    Ok(SyncRun {
        id: get(row, "id")?,
        connector: get(row, "connector")?,
        holder: get(row, "holder")?,
        status: RunStatus::parse(&status).ok_or_else(|| corrupt(TABLE, format!("unknown status `{status}`")))?,
        started_at: time_from(TABLE, get(row, "started_at")?)?,
        finished_at: get::<Option<i64>>(row, "finished_at")?.map(|at| time_from(TABLE, at)).transpose()?,
        pages: counter("pages")?,
        upserted: counter("upserted")?,
        unchanged: counter("unchanged")?,
        deleted: counter("deleted")?,
        unmapped: counter("unmapped")?,
        unmapped_examples: get::<Option<String>>(row, "unmapped_examples")?
            .map(|text| serde_json::from_str(&text).map_err(|e| corrupt(TABLE, format!("unmapped examples: {e}"))))
            .transpose()?
            .unwrap_or_default(),
        error: get(row, "error")?,
    })
}

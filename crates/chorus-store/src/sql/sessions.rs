//! Web sessions: create (forgetting expired ones), look up by hash, delete.
//!
//! Invariant: a session is returned only while it has not expired and its token is
//! live — the look-up joins `api_tokens` on `revoked_at IS NULL` — so revoking a token
//! ends every session it opened the moment the revoke commits, on every node.

use chrono::{DateTime, Utc};

use super::{get, micros, now_micros, parse_text, time_from, SqlStore};
use crate::drivers::AnyRow;
use crate::{NewWebSession, Result, Role, StoreError, WebSession};

const TABLE: &str = "web_sessions";
const SESSION_SELECT: &str = "SELECT s.id, s.token_id, t.role, s.created_at, s.expires_at \
     FROM web_sessions s JOIN api_tokens t ON t.id = s.token_id";

impl SqlStore {
    pub(crate) async fn create_web_session_tx(&self, session: &NewWebSession) -> Result<WebSession> {
        let now = now_micros();
        sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1").bind(now).execute(&self.writer).await?;
        let live = sqlx::query("SELECT id FROM api_tokens WHERE id = $1 AND revoked_at IS NULL")
            .bind(session.token_id)
            .fetch_optional(&self.writer)
            .await?;
        if live.is_none() {
            return Err(StoreError::NotFound { what: "token", id: session.token_id });
        }
        let row = sqlx::query(
            "INSERT INTO web_sessions (hash, token_id, created_at, expires_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&session.hash)
        .bind(session.token_id)
        .bind(now)
        .bind(micros(session.expires_at))
        .fetch_one(&self.writer)
        .await?;
        let id: i64 = get(&row, "id")?;
        let sql = format!("{SESSION_SELECT} WHERE s.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_one(&self.writer).await?;
        session_from_row(&row)
    }

    pub(crate) async fn web_session_by_hash_read(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<WebSession>> {
        let sql = format!("{SESSION_SELECT} WHERE s.hash = $1 AND s.expires_at > $2 AND t.revoked_at IS NULL");
        let row = sqlx::query(&sql).bind(hash).bind(micros(now)).fetch_optional(&self.reader).await?;
        row.as_ref().map(session_from_row).transpose()
    }

    pub(crate) async fn delete_web_session_tx(&self, hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM web_sessions WHERE hash = $1").bind(hash).execute(&self.writer).await?;
        Ok(done.rows_affected() > 0)
    }
}

fn session_from_row(row: &AnyRow) -> Result<WebSession> {
    let role: String = get(row, "role")?;
    let role: Role = parse_text(TABLE, &role)?;
    Ok(WebSession {
        id: get(row, "id")?,
        token_id: get(row, "token_id")?,
        role,
        created_at: time_from(TABLE, get(row, "created_at")?)?,
        expires_at: time_from(TABLE, get(row, "expires_at")?)?,
    })
}

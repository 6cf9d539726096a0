//! API tokens: create, look up by hash, list, revoke, and note their last use.
//!
//! Invariant: a revoked token is never returned by `api_token_by_hash_read`, and
//! revoking is one atomic statement, so a token stops working the moment the revoke
//! commits, on every node sharing the database.

use crate::drivers::AnyRow;

use super::{corrupt, get, micros, now_micros, parse_text, time_from, SqlStore};
use crate::{ApiToken, NewApiToken, Result, Role, StoreError};

const TABLE: &str = "api_tokens";
const TOKEN_COLUMNS: &str = "id, name, role, prefix, created_at, last_used_at, revoked_at";

impl SqlStore {
    pub(crate) async fn create_api_token_tx(&self, token: &NewApiToken) -> Result<ApiToken> {
        if token.name.trim().is_empty() {
            return Err(StoreError::Conflict("a token needs a name".into()));
        }
        let sql = format!(
            "INSERT INTO api_tokens (name, role, prefix, hash, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING {TOKEN_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(token.name.trim())
            .bind(token.role.as_str())
            .bind(&token.prefix)
            .bind(&token.hash)
            .bind(now_micros())
            .fetch_one(&self.writer)
            .await?;
        token_from_row(&row)
    }

    pub(crate) async fn api_token_by_hash_read(&self, hash: &str) -> Result<Option<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL");
        let row = sqlx::query(&sql).bind(hash).fetch_optional(&self.reader).await?;
        row.as_ref().map(token_from_row).transpose()
    }

    pub(crate) async fn api_tokens_read(&self) -> Result<Vec<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.reader).await?;
        rows.iter().map(token_from_row).collect()
    }

    pub(crate) async fn revoke_api_token_tx(&self, id: i64) -> Result<ApiToken> {
        let sql = format!(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING {TOKEN_COLUMNS}"
        );
        let row = sqlx::query(&sql).bind(id).bind(now_micros()).fetch_optional(&self.writer).await?;
        match row {
            Some(row) => token_from_row(&row),
            None => Err(StoreError::NotFound { what: "token", id }),
        }
    }

    pub(crate) async fn touch_api_token_tx(&self, id: i64, at: chrono::DateTime<chrono::Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
        )
        .bind(id)
        .bind(micros(at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

fn token_from_row(row: &AnyRow) -> Result<ApiToken> {
    let role: String = get(row, "role")?;
    let role: Role = parse_text(TABLE, &role)?;
    let optional_time =
        |column: &str| -> Result<_> { get::<Option<i64>>(row, column)?.map(|at| time_from(TABLE, at)).transpose() };
    let name: String = get(row, "name")?;
    if name.is_empty() {
        return Err(corrupt(TABLE, "empty name"));
    }
    Ok(ApiToken {
        id: get(row, "id")?,
        name,
        role,
        prefix: get(row, "prefix")?,
        created_at: time_from(TABLE, get(row, "created_at")?)?,
        last_used_at: optional_time("last_used_at")?,
        revoked_at: optional_time("revoked_at")?,
    })
}

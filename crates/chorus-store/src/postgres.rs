//! Opening the PostgreSQL backend: one pool, optionally confined to a schema.
//!
//! Invariant: the pool serves readers and writers alike; writers that append to the
//! change log serialize on an advisory lock (see `sql::SqlStore::begin_write`), so
//! several `chorus serve` nodes can share the database and still see sequence numbers
//! commit in order.

use crate::drivers::AnyConnection;
use crate::drivers::AnyPoolOptions;
use futures::future::BoxFuture;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::{Connection, Executor};

use crate::sql::SqlStore;
use crate::{Backend, Result, StoreError};

const MAX_CONNECTIONS: u32 = 8;

/// Opens the database `url` names and migrates it (schema from the server's search path).
pub async fn open(url: &str) -> Result<SqlStore> {
    connect(url, None).await
}

/// Opens the database confined to `schema` (created if missing): every connection's
/// `search_path` names only it, so tables, migrations and data live there. Tests use a
/// fresh schema each to run side by side on one server.
pub async fn open_isolated(url: &str, schema: &str) -> Result<SqlStore> {
    let schema = checked_schema(schema)?;
    crate::drivers::install();
    let mut conn = AnyConnection::connect(url).await?;
    conn.execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str()).await?;
    conn.close().await?;
    connect(url, Some(schema)).await
}

/// Drops a schema made by `open_isolated`, with everything in it.
pub async fn drop_isolated(url: &str, schema: &str) -> Result<()> {
    let schema = checked_schema(schema)?;
    crate::drivers::install();
    let mut conn = AnyConnection::connect(url).await?;
    conn.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str()).await?;
    conn.close().await?;
    Ok(())
}

/// A schema name safe to splice into SQL: lowercase letters, digits and `_`.
fn checked_schema(schema: &str) -> Result<&str> {
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase())
        && schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(schema)
    } else {
        Err(StoreError::Config("schema names use lowercase letters, digits and `_`".into()))
    }
}

async fn connect(url: &str, schema: Option<&str>) -> Result<SqlStore> {
    crate::drivers::install();
    let set_search_path = schema.map(|schema| format!("SET search_path TO {schema}"));
    let pool = AnyPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .after_connect(
            move |conn: &mut AnyConnection, _meta: PoolConnectionMetadata| -> BoxFuture<'_, Result<(), sqlx::Error>> {
                let statement = set_search_path.clone();
                Box::pin(async move {
                    if let Some(statement) = statement {
                        conn.execute(statement.as_str()).await?;
                    }
                    Ok(())
                })
            },
        )
        .connect(url)
        .await?;
    crate::drivers::POSTGRES_MIGRATOR.run(&pool).await?;
    let store = SqlStore::new(pool.clone(), pool, Backend::Postgres);
    store.rekey_domains().await?;
    Ok(store)
}

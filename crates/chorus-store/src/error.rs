//! Store errors. Messages are lowercase, carry no secrets and no SQL.

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL or options are unusable.
    #[error("store configuration: {0}")]
    Config(String),
    /// The database refused or failed the operation.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Bringing the schema up to date failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx_core::migrate::MigrateError),
    /// Another claimant took the connector over (this run must stop writing).
    #[error("connector `{connector}` claim lost to another run")]
    ClaimLost { connector: String },
    /// The cursor changed since this run read it.
    #[error("cursor of `{connector}` is at version {actual}, expected {expected}")]
    CursorConflict { connector: String, expected: i64, actual: i64 },
    /// A stored row could not be decoded (corrupt or from a newer version).
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    /// The caller named something that does not exist.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: i64 },
    /// The input contradicts what is stored (e.g. one import line naming two accounts).
    #[error("conflict: {0}")]
    Conflict(String),
}

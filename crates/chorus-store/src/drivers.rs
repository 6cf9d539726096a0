//! The sqlx pieces the store stands on, named once: the `Any` driver over SQLite and
//! PostgreSQL, and the migrations embedded in the binary.
//!
//! They come from `sqlx-core`, `sqlx-sqlite` and `sqlx-postgres` rather than from the
//! `sqlx` facade's `any` and `migrate` features, which name sqlx-mysql as a weak
//! dependency and so put it, and `rsa` (RUSTSEC-2023-0071), into Cargo.lock although
//! nothing builds it (decision 0008). Invariant: every file under `migrations/` is in
//! `SQLITE` / `POSTGRES` below, in order (a test reads the folders and fails on drift),
//! and a migration's checksum is sqlx's own (SHA-384 of its text), so databases
//! migrated by earlier builds validate unchanged.

use std::borrow::Cow;
use std::sync::{LazyLock, Once};

use sqlx_core::any::driver::AnyDriver;
pub use sqlx_core::any::{Any, AnyArguments, AnyConnection, AnyPool, AnyPoolOptions, AnyRow};
use sqlx_core::migrate::{Migration, MigrationType, Migrator};

/// The drivers `Any` connects with.
static DRIVERS: [AnyDriver; 2] = [sqlx_sqlite::any::DRIVER, sqlx_postgres::any::DRIVER];

/// Makes the `Any` drivers known to sqlx (once per process; later calls do nothing).
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // Fails only when drivers were installed already, which is what we want.
        let _ = sqlx_core::any::driver::install_drivers(&DRIVERS);
    });
}

/// One migration file: its version, its description and its text.
type Embedded = (i64, &'static str, &'static str);

const SQLITE: &[Embedded] = &[
    (1, "init", include_str!("../../../migrations/sqlite/0001_init.sql")),
    (2, "run unmapped", include_str!("../../../migrations/sqlite/0002_run_unmapped.sql")),
    (3, "opportunities", include_str!("../../../migrations/sqlite/0003_opportunities.sql")),
    (4, "account graph", include_str!("../../../migrations/sqlite/0004_account_graph.sql")),
    (5, "requests", include_str!("../../../migrations/sqlite/0005_requests.sql")),
    (6, "api tokens", include_str!("../../../migrations/sqlite/0006_api_tokens.sql")),
    (7, "web sessions", include_str!("../../../migrations/sqlite/0007_web_sessions.sql")),
    (8, "record fields", include_str!("../../../migrations/sqlite/0008_record_fields.sql")),
    (9, "demand format", include_str!("../../../migrations/sqlite/0009_demand_format.sql")),
];

const POSTGRES: &[Embedded] = &[
    (1, "init", include_str!("../../../migrations/postgres/0001_init.sql")),
    (2, "run unmapped", include_str!("../../../migrations/postgres/0002_run_unmapped.sql")),
    (3, "opportunities", include_str!("../../../migrations/postgres/0003_opportunities.sql")),
    (4, "account graph", include_str!("../../../migrations/postgres/0004_account_graph.sql")),
    (5, "requests", include_str!("../../../migrations/postgres/0005_requests.sql")),
    (6, "api tokens", include_str!("../../../migrations/postgres/0006_api_tokens.sql")),
    (7, "web sessions", include_str!("../../../migrations/postgres/0007_web_sessions.sql")),
    (8, "record fields", include_str!("../../../migrations/postgres/0008_record_fields.sql")),
    (9, "demand format", include_str!("../../../migrations/postgres/0009_demand_format.sql")),
];

fn migrator(embedded: &'static [Embedded]) -> Migrator {
    let migrations = embedded
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(*version, Cow::Borrowed(*description), MigrationType::Simple, Cow::Borrowed(*sql), false)
        })
        .collect::<Vec<_>>();
    Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT }
}

/// The SQLite schema's migrations.
pub static SQLITE_MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| migrator(SQLITE));

/// The PostgreSQL schema's migrations.
pub static POSTGRES_MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| migrator(POSTGRES));

#[cfg(test)]
mod tests {
    use super::*;

    /// `(version, file name)` of every migration file in `migrations/<dir>`, in order.
    fn files(dir: &str) -> Vec<(i64, String)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations").join(dir);
        let mut files: Vec<(i64, String)> = std::fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".sql"))
            .filter_map(|name| Some((name.split('_').next()?.parse().ok()?, name)))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        for (dir, embedded) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let versions: Vec<i64> = files(dir).into_iter().map(|(version, _)| version).collect();
            let listed: Vec<i64> = embedded.iter().map(|(version, _, _)| *version).collect();
            assert_eq!(listed, versions, "migrations/{dir} and drivers.rs disagree");
            for ((_, name), (_, _, sql)) in files(dir).iter().zip(embedded) {
                let on_disk = std::fs::read_to_string(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations").join(dir).join(name),
                )
                .unwrap_or_default();
                assert_eq!(&on_disk, sql, "{dir}/{name} is embedded as written");
            }
        }
    }
}

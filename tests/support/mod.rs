//! Shared by the end-to-end tests: find the `chorus` binary, lay out a temporary
//! installation (config + SQLite store) pointed at a simulator, run commands, and
//! read the store back for assertions.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use chorus_core::Item;
use chorus_store::{IdPage, ItemFilter, Store};

/// The `chorus` binary built for this test run (`CHORUS_BIN` overrides).
pub fn chorus_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("CHORUS_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/chorus
    let profile_dir = exe.parent().and_then(Path::parent).expect("target profile directory");
    let bin = profile_dir.join("chorus");
    assert!(bin.exists(), "{} not built: run `cargo build -p chorus-cli` first (make test does)", bin.display());
    bin
}

/// A temporary installation: a directory with `chorus.toml` and a SQLite store.
pub struct Install {
    pub dir: tempfile::TempDir,
    store_url: String,
}

impl Install {
    /// An installation on SQLite whose config has `[[connectors]]` blocks from `connectors_toml`.
    pub fn new(connectors_toml: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("chorus.db").display());
        Self::write(dir, url, connectors_toml)
    }

    /// An installation on the store at `store_url` (e.g. a PostgreSQL schema).
    pub fn with_store_url(store_url: &str, connectors_toml: &str) -> Self {
        Self::write(tempfile::tempdir().expect("temp dir"), store_url.to_owned(), connectors_toml)
    }

    fn write(dir: tempfile::TempDir, store_url: String, connectors_toml: &str) -> Self {
        let config = format!(
            "[store]\nurl = \"{store_url}\"\n\n[index]\npath = \"{}\"\n\n[sync]\nclaim_ttl_secs = 30\nmax_attempts = 10\n\n{connectors_toml}",
            dir.path().join("index").display()
        );
        let install = Self { dir, store_url };
        std::fs::write(install.config_path(), config).expect("write config");
        install
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("chorus.toml")
    }

    pub fn store_url(&self) -> String {
        self.store_url.clone()
    }

    /// A `chorus` command with this installation's config.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(chorus_bin());
        command.arg("--config").arg(self.config_path()).args(args);
        command.env_remove("CHORUS_CONFIG").env("RUST_LOG", "warn");
        command
    }

    /// Runs a command to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("spawn chorus")
    }

    /// Opens the store the installation uses (migrated, as the binary would).
    pub async fn store(&self) -> Arc<dyn Store> {
        chorus_store::open(&self.store_url()).await.expect("open store")
    }
}

/// A `[[connectors]]` block for a feed simulator at `base_url`.
pub fn feed_connector(id: &str, base_url: &str, extra_settings: &str) -> String {
    format!(
        "[[connectors]]\nid = \"{id}\"\nkind = \"feed\"\nallow_insecure_endpoints = true\nrequests_per_minute = 60000\nburst = 1000\n\n[connectors.settings]\nbase_url = \"{base_url}\"\n{extra_settings}\n"
    )
}

/// Every item in the store, tombstones included, in id order.
pub async fn all_items(store: &dyn Store) -> Vec<Item> {
    let filter = ItemFilter { include_deleted: true, ..ItemFilter::default() };
    let mut items = Vec::new();
    let mut after_id = 0;
    loop {
        let page = store.items(&filter, IdPage { after_id, limit: 1000 }).await.expect("read items");
        let Some(last) = page.last() else { break };
        after_id = last.id;
        items.extend(page);
    }
    items
}

/// A test runtime for store reads between process runs.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// stdout and stderr of a finished command, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

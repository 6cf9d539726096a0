//! The paths users take, each beside its baseline in the same run: `chorus import items`
//! of a JSON Lines file followed by the first `chorus search` (which catches the index
//! up), through the CLI binary as a user runs it, against a plain SQLite FTS5 load of the
//! same file (parse each line, insert the row and its FTS5 entry in transactions of
//! 5 000, then one search); and the follower catching up on the change log that import
//! left. Every path runs in a process of its own, whose peak RSS (`VmHWM`) is sampled
//! from `/proc/<pid>/status` until it exits.
//!
//! Invariant: both sides read the same file, written before any clock starts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

use crate::corpus::{self, Vocabulary};
use crate::fts::BoxError;

/// Set (to the JSON Lines file) in the child that runs the FTS5 load.
pub const FTS_LOAD_CHILD: &str = "BENCH_FTS_LOAD_CHILD";
/// Set (to `bulk` or `replay`) in the child that runs the follower.
pub const FOLLOW_CHILD: &str = "BENCH_FOLLOW_CHILD";
/// The baseline's transaction size.
const FTS_TRANSACTION: usize = 5_000;
/// The query of the first search on both sides.
pub const FIRST_QUERY: &str = "export";

/// The user paths' figures.
#[derive(Debug, Clone, Default)]
pub struct UserFigures {
    pub n: usize,
    pub accounts: Measured,
    pub import: Measured,
    pub first_search: Measured,
    pub fts: Measured,
    pub follow_bulk: Measured,
    pub follow_replay: Option<Measured>,
    pub search_total: u64,
    pub fts_total: u64,
}

/// One process: wall time and peak RSS.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    pub elapsed: Duration,
    pub peak_rss_mb: f64,
}

impl UserFigures {
    /// Items per second from the start of `chorus import items` to the first answer.
    pub fn import_and_search_rate(&self) -> f64 {
        self.n as f64 / (self.import.elapsed + self.first_search.elapsed).as_secs_f64()
    }

    pub fn fts_rate(&self) -> f64 {
        self.n as f64 / self.fts.elapsed.as_secs_f64()
    }

    pub fn follow_rate(&self) -> f64 {
        self.n as f64 / self.follow_bulk.elapsed.as_secs_f64()
    }

    /// The section of `docs/benchmarks.md` these figures fill.
    pub fn markdown(&self) -> String {
        let mb = |m: &Measured| format!("{:.0} MB", m.peak_rss_mb);
        let s = |m: &Measured| format!("{:.1} s", m.elapsed.as_secs_f64());
        let ours = self.import_and_search_rate();
        let fts = self.fts_rate();
        let mut out = String::new();
        out.push_str(&format!("### User paths ({} items, same run)\n\n", self.n));
        out.push_str("| path | time | items/s | peak RSS |\n| --- | ---: | ---: | ---: |\n");
        out.push_str(&format!(
            "| `chorus import accounts` ({} accounts) | {} | | {} |\n",
            corpus::ACCOUNTS,
            s(&self.accounts),
            mb(&self.accounts)
        ));
        out.push_str(&format!("| `chorus import items` | {} | | {} |\n", s(&self.import), mb(&self.import)));
        out.push_str(&format!(
            "| first `chorus search {FIRST_QUERY}` (catches the index up; {} matches) | {} | | {} |\n",
            self.search_total,
            s(&self.first_search),
            mb(&self.first_search)
        ));
        out.push_str(&format!(
            "| **import items + first search** | {:.1} s | **{ours:.0}** | |\n",
            (self.import.elapsed + self.first_search.elapsed).as_secs_f64()
        ));
        out.push_str(&format!(
            "| baseline: plain FTS5 load of the same file + one search ({} matches) | {} | {fts:.0} | {} |\n",
            self.fts_total,
            s(&self.fts),
            mb(&self.fts)
        ));
        out.push_str(&format!(
            "| follower catching up on that change log (bulk path) | {} | {:.0} | {} |\n",
            s(&self.follow_bulk),
            self.follow_rate(),
            mb(&self.follow_bulk)
        ));
        if let Some(replay) = &self.follow_replay {
            out.push_str(&format!(
                "| follower replaying it change by change (bulk path off) | {} | {:.0} | {} |\n",
                s(replay),
                self.n as f64 / replay.elapsed.as_secs_f64(),
                mb(replay)
            ));
        }
        out.push_str(&format!(
            "\nimport + first search vs the FTS5 load: **{:.2}×** (target ≥ 20 000 items/s and ≥ 1.5×); \
             follower target ≥ 25 000 items/s; import peak RSS target < 500 MB, flat in N.\n",
            ours / fts
        ));
        out
    }
}

/// Runs every user path on a corpus of `n` items in `work/user`.
pub fn run(work: &Path, n: usize) -> Result<UserFigures, BoxError> {
    let dir = work.join("user");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let (accounts, items) = write_files(&dir, n)?;
    let chorus = chorus_binary()?;
    let config = dir.join("chorus.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[index]\npath = \"{}\"\n",
            dir.join("chorus.db").display(),
            dir.join("index").display()
        ),
    )?;
    let mut figures = UserFigures { n, ..UserFigures::default() };
    let cli = |args: &[&str]| {
        let mut command = Command::new(&chorus);
        command.arg("--config").arg(&config).args(args);
        command
    };
    eprintln!("bench: user paths: chorus import accounts");
    figures.accounts = measure(cli(&["import", "accounts", &path_arg(&accounts)]))?.0;
    eprintln!("bench: user paths: chorus import items");
    figures.import = measure(cli(&["import", "items", &path_arg(&items), "--connector", "bench"]))?.0;
    eprintln!("bench: user paths: first chorus search");
    let (first_search, answer) = measure(cli(&["search", FIRST_QUERY, "--format", "json", "--limit", "20"]))?;
    figures.first_search = first_search;
    let answer: serde_json::Value = serde_json::from_slice(&answer)?;
    figures.search_total = answer["total"].as_u64().ok_or("the search printed no total")?;

    eprintln!("bench: user paths: FTS5 load of the same file");
    let mut fts = Command::new(std::env::current_exe()?);
    fts.env(FTS_LOAD_CHILD, &items).env("BENCH_FTS_LOAD_DB", dir.join("fts.db"));
    let (fts, total) = measure(fts)?;
    figures.fts = fts;
    figures.fts_total = String::from_utf8(total)?.trim().parse()?;

    for mode in ["bulk", "replay"] {
        if mode == "replay" && std::env::var("BENCH_REPLAY").is_ok_and(|v| v == "0") {
            continue;
        }
        eprintln!("bench: user paths: follower ({mode})");
        let mut follow = Command::new(std::env::current_exe()?);
        follow.env(FOLLOW_CHILD, mode).env("BENCH_FOLLOW_DIR", &dir);
        let measured = measure(follow)?.0;
        match mode {
            "bulk" => figures.follow_bulk = measured,
            _ => figures.follow_replay = Some(measured),
        }
    }
    Ok(figures)
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// Writes the corpus's accounts and items as the JSON Lines `chorus import` reads;
/// items name their account by name.
fn write_files(dir: &Path, n: usize) -> Result<(PathBuf, PathBuf), BoxError> {
    let accounts = corpus::accounts();
    let accounts_path = dir.join("accounts.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&accounts_path)?);
    for account in &accounts {
        let line = serde_json::json!({
            "name": account.name,
            "arr_minor": account.arr_minor,
            "currency": "USD",
            "segment": account.segment,
            "lifecycle_stage": account.stage,
        });
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let items_path = dir.join("items.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&items_path)?);
    let vocabulary = Vocabulary::new();
    for item in corpus::Items::new(&vocabulary, n) {
        let comments: Vec<chorus_core::Comment> = item
            .comments
            .into_iter()
            .enumerate()
            .map(|(k, body)| chorus_core::Comment {
                external_id: format!("{}-c{k}", item.external_id),
                author: chorus_core::Person::default(),
                body,
                public: true,
                created_at: item.updated_at,
            })
            .collect();
        let line = serde_json::json!({
            "external_id": item.external_id,
            "kind": item.kind,
            "title": item.title,
            "body": item.body,
            "status": item.status,
            "comments": comments,
            "account_name": item.account.map(|k| accounts[k].name.clone()),
            "created_at": item.created_at,
            "updated_at": item.updated_at,
        });
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok((accounts_path, items_path))
}

/// The release `chorus` binary next to this example, built first (a no-op when current).
fn chorus_binary() -> Result<PathBuf, BoxError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo).args(["build", "--release", "-p", "chorus-cli", "--bin", "chorus"]).status()?;
    if !status.success() {
        return Err("building the chorus binary failed".into());
    }
    let exe = std::env::current_exe()?;
    // target/release/examples/bench → target/release/chorus
    let binary = exe.parent().and_then(Path::parent).map(|dir| dir.join("chorus")).ok_or("no target directory")?;
    if !binary.is_file() {
        return Err(format!("{} is missing", binary.display()).into());
    }
    Ok(binary)
}

/// Runs `command` to completion, sampling its peak RSS; fails when it fails. Returns
/// what it measured and its stdout.
fn measure(mut command: Command) -> Result<(Measured, Vec<u8>), BoxError> {
    let started = Instant::now();
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
    let pid = child.id();
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut bytes).map(|_| bytes)
    });
    let mut peak_kb = 0.0_f64;
    let status = loop {
        if let Some(kb) = vm_hwm_kb(pid) {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let output = reader.join().map_err(|_| "the stdout reader panicked")??;
    if !status.success() {
        return Err(format!("{command:?} failed ({status})").into());
    }
    Ok((Measured { elapsed, peak_rss_mb: peak_kb / 1024.0 }, output))
}

fn vm_hwm_kb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
}

/// One line of the file as the baseline script reads it.
#[derive(serde::Deserialize)]
struct Line {
    external_id: String,
    kind: String,
    title: String,
    body: String,
    status: String,
    #[serde(default)]
    comments: Vec<LineComment>,
    account_name: Option<String>,
    created_at: String,
    updated_at: String,
}

#[derive(serde::Deserialize)]
struct LineComment {
    body: String,
}

/// The child: loads the file into a fresh FTS5 database (row + FTS5 entry per line, in
/// transactions of 5 000), answers one search, and prints its match count.
pub async fn fts_load_child(file: &Path) -> Result<(), BoxError> {
    let db = std::env::var("BENCH_FTS_LOAD_DB")?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db}{suffix}"));
    }
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{db}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let mut conn = options.connect().await?;
    sqlx::raw_sql(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, external_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
                             status TEXT NOT NULL, account_name TEXT, created_at TEXT NOT NULL,
                             updated_at TEXT NOT NULL);
         CREATE VIRTUAL TABLE items_fts USING fts5(title, body, comments,
                                                  tokenize = 'unicode61 remove_diacritics 2');",
    )
    .execute(&mut conn)
    .await?;
    let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file)?);
    let mut tx = conn.begin().await?;
    let mut in_tx = 0;
    for line in std::io::BufRead::lines(reader) {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let item: Line = serde_json::from_str(&line)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO items (external_id, kind, status, account_name, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )
        .bind(&item.external_id)
        .bind(&item.kind)
        .bind(&item.status)
        .bind(&item.account_name)
        .bind(&item.created_at)
        .bind(&item.updated_at)
        .fetch_one(&mut *tx)
        .await?;
        let comments: Vec<&str> = item.comments.iter().map(|c| c.body.as_str()).collect();
        sqlx::query("INSERT INTO items_fts (rowid, title, body, comments) VALUES (?1, ?2, ?3, ?4)")
            .bind(id)
            .bind(&item.title)
            .bind(&item.body)
            .bind(comments.join(" "))
            .execute(&mut *tx)
            .await?;
        in_tx += 1;
        if in_tx == FTS_TRANSACTION {
            tx.commit().await?;
            tx = conn.begin().await?;
            in_tx = 0;
        }
    }
    tx.commit().await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM items_fts WHERE items_fts MATCH ?1")
        .bind(FIRST_QUERY)
        .fetch_one(&mut conn)
        .await?;
    sqlx::query("SELECT rowid FROM items_fts WHERE items_fts MATCH ?1 ORDER BY bm25(items_fts) LIMIT 20")
        .bind(FIRST_QUERY)
        .fetch_all(&mut conn)
        .await?;
    println!("{total}");
    Ok(())
}

/// The child: a follower on a fresh index catching up on the store the import left —
/// `bulk` as `chorus serve` would (far behind, it takes the bulk path), `replay` change
/// by change (the bulk path off), to show what the bulk path saves.
pub async fn follow_child(mode: &str) -> Result<(), BoxError> {
    let dir = PathBuf::from(std::env::var("BENCH_FOLLOW_DIR")?);
    let store = chorus_store::open(&format!("sqlite://{}", dir.join("chorus.db").display())).await?;
    let root = dir.join(format!("index-follow-{mode}"));
    let _ = std::fs::remove_dir_all(&root);
    let index = chorus_index::SearchIndex::open(&root)?;
    let mut projection = chorus_index::IndexProjection::new(
        index.clone(),
        std::sync::Arc::clone(&store),
        chorus_core::ExchangeRates::default(),
    )?;
    let started = Instant::now();
    match mode {
        "bulk" => {
            let outcome = projection.catch_up().await?;
            eprintln!("bench: follower caught up (rebuilt in bulk: {})", outcome.rebuilt);
        }
        _ => while projection.step().await? > 0 {},
    }
    eprintln!(
        "bench: follower ({mode}) indexed {} documents in {:.1}s",
        index.num_docs(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

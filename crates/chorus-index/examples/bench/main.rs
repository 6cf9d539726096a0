//! `make bench`: chorus-index against a SQLite FTS5 baseline on one synthetic corpus.
//!
//! Steps, in one run on one machine: generate the seeded corpus (`BENCH_N` items,
//! default 1 000 000; 20 000 accounts), import it through the store (SQLite), rebuild the
//! index from the store, time one warm-up and three passes of top-20 and of the full
//! answer; then, in a child process of this same binary (so that each engine's peak
//! memory is its own), load the FTS5 baseline from the store and time it the same way;
//! check that both engines agree exactly on total, reach and facets for all 200 queries
//! (exit 1 otherwise), and write `docs/benchmarks.md` (or `BENCH_OUT`). `BENCH_DIR` keeps
//! the databases and index; `BENCH_SLOW=1` lists on stderr every query whose median
//! exceeds 3 ms. With the `BENCH_DIR` of an earlier run, `BENCH_ONLY=queries` only times
//! the index's queries, `BENCH_ONLY=rebuild` only rebuilds the index from the stored
//! items, `BENCH_ONLY=build` imports the corpus and rebuilds the index (the state the
//! HTTP phase and `queries` start from), and `BENCH_ONLY=follow` replays the stored
//! change log through the projection, writing no report: quick loops for profiling one
//! side. The user paths (`user`):
//! `chorus import items` + the first `chorus search` through the CLI binary beside a
//! plain FTS5 load of the same JSON Lines file, and the follower catching up on the
//! change log that import left, each with its peak RSS; `BENCH_ONLY=user` runs them
//! alone (`BENCH_REPLAY=0` skips the change-by-change replay).
//!
//! This is a benchmark, not a test: CI never runs it.

mod corpus;
mod fts;
mod report;
mod user;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus_core::{ExternalId, Kind, Record, Source};
use chorus_index::{rebuild_index, SearchAnswer, SearchIndex, SearchRequest, DEFAULT_BATCH};
use chorus_store::{AccountImport, Holder, PageCommit, RunOutcome, RunStatus, Store};

use corpus::{BenchQuery, Vocabulary};
use fts::{Aggregates, BoxError, Fts};
use report::{Figures, Latency};

const CONNECTORS: [Source; 4] = [Source::Zendesk, Source::Jira, Source::Slack, Source::Salesforce];
const PAGE: usize = 1_000;

/// Set (to the work directory) in the child process that runs the FTS5 baseline.
const FTS_CHILD: &str = "BENCH_FTS_CHILD";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let outcome = if let Ok(work) = std::env::var(FTS_CHILD) {
        fts_child(std::path::Path::new(&work)).await
    } else if let Ok(file) = std::env::var(user::FTS_LOAD_CHILD) {
        user::fts_load_child(std::path::Path::new(&file)).await
    } else if let Ok(mode) = std::env::var(user::FOLLOW_CHILD) {
        user::follow_child(&mode).await
    } else {
        run().await
    };
    if let Err(error) = outcome {
        eprintln!("bench failed: {error}");
        std::process::exit(1);
    }
}

fn bench_n() -> Result<usize, BoxError> {
    Ok(std::env::var("BENCH_N").ok().map(|v| v.replace('_', "").parse()).transpose()?.unwrap_or(1_000_000))
}

async fn run() -> Result<(), BoxError> {
    let n = bench_n()?;
    let kept = std::env::var("BENCH_DIR").ok();
    let temp = tempfile::tempdir()?;
    let work = kept.map(std::path::PathBuf::from).unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&work)?;
    let out = std::env::var("BENCH_OUT")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/benchmarks.md").to_owned());
    let mut figures = Figures { n, ..Figures::default() };
    eprintln!("bench: {n} items, {} accounts, work dir {}", corpus::ACCOUNTS, work.display());

    let vocabulary = Vocabulary::new();
    let only = std::env::var("BENCH_ONLY").ok();
    if only.as_deref() == Some("queries") {
        return time_queries_only(&work, &vocabulary, n);
    }
    if only.as_deref() == Some("user") {
        let user = user::run(&work, n)?;
        println!("{}", user.markdown());
        return Ok(());
    }
    let store = chorus_store::open(&format!("sqlite://{}", work.join("store.db").display())).await?;
    if only.as_deref() == Some("follow") {
        return follow_only(&work, store).await;
    }
    if only.as_deref() != Some("rebuild") {
        let started = Instant::now();
        import(&store, n).await?;
        figures.store_import = started.elapsed();
        eprintln!("bench: store import {:.1}s", figures.store_import.as_secs_f64());
    }

    let index = SearchIndex::open(work.join("index"))?;
    let started = Instant::now();
    let rebuilt =
        rebuild_index(&index, Arc::clone(&store), DEFAULT_BATCH, &chorus_core::ExchangeRates::default()).await?;
    figures.index_build = started.elapsed();
    figures.rss_after_index_mb = report::peak_rss_mb();
    if index.num_docs() != n as u64 || rebuilt.items != n as u64 {
        return Err(format!("index holds {} documents, expected {n}", index.num_docs()).into());
    }
    eprintln!("bench: index rebuild {:.1}s", figures.index_build.as_secs_f64());
    if matches!(only.as_deref(), Some("rebuild" | "build")) {
        return Ok(());
    }

    let queries = corpus::queries(&vocabulary, n);
    let requests: Vec<SearchRequest> = queries.iter().map(request).collect::<Result<_, _>>()?;
    let ours = requests
        .iter()
        .map(|request| Ok(aggregates_of(&index.search(request)?)))
        .collect::<Result<Vec<_>, BoxError>>()?;
    figures.index_top = time_sync(&requests, |r| index.top_hits(r).map(drop))?;
    figures.index_full = time_sync(&requests, |r| index.search(r).map(drop))?;
    figures.peak_rss_mb = report::peak_rss_mb();
    drop(index);
    drop(store);

    eprintln!("bench: running the FTS5 baseline in a child process");
    let baseline = run_fts_child(&work, n)?;
    if baseline.loaded != n as u64 {
        return Err(format!("fts baseline holds {} items, expected {n}", baseline.loaded).into());
    }
    figures.fts_load = Duration::from_secs_f64(baseline.load_secs);
    figures.fts_peak_rss_mb = baseline.peak_rss_mb;
    figures.fts_top = Latency::from_samples(baseline.top_samples());
    figures.fts_full = Latency::from_samples(baseline.full_samples());
    let mismatches = check(&queries, &ours, &baseline.aggregates()?);
    figures.checked = queries.len();
    figures.mismatches = mismatches.clone();

    eprintln!("bench: the user paths");
    let user = user::run(&work, n)?;
    let markdown = format!("{}\n{}", report::render(&figures), user.markdown());
    std::fs::write(&out, &markdown)?;
    println!("{markdown}");
    eprintln!("bench: wrote {out}");
    if !mismatches.is_empty() {
        return Err(format!(
            "{} of {} queries disagree with the FTS5 baseline (see {out})",
            mismatches.len(),
            queries.len()
        )
        .into());
    }
    Ok(())
}

/// `BENCH_ONLY=follow`: times the projection replaying the whole change log of the store
/// in `work` into an empty index (what `chorus serve` does while an import runs).
async fn follow_only(work: &std::path::Path, store: Arc<dyn Store>) -> Result<(), BoxError> {
    let root = work.join("index-follow");
    let _ = std::fs::remove_dir_all(&root);
    let index = SearchIndex::open(&root)?;
    let mut projection =
        chorus_index::IndexProjection::new(index.clone(), Arc::clone(&store), chorus_core::ExchangeRates::default())?;
    let last = store.last_change().await?;
    let started = Instant::now();
    let mut steps = 0u64;
    while projection.step().await? > 0 {
        steps += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "bench: follower replayed {last} changes in {steps} commits, {elapsed:.1}s ({:.0} items/s), {} documents",
        index.num_docs() as f64 / elapsed,
        index.num_docs()
    );
    Ok(())
}

/// `BENCH_ONLY=queries`: times the queries on the index an earlier run left in `work`.
fn time_queries_only(work: &std::path::Path, vocabulary: &Vocabulary, n: usize) -> Result<(), BoxError> {
    let index = SearchIndex::open(work.join("index"))?;
    if index.num_docs() != n as u64 {
        return Err(format!("{} holds {} documents, not BENCH_N={n}", work.display(), index.num_docs()).into());
    }
    let requests: Vec<SearchRequest> = corpus::queries(vocabulary, n).iter().map(request).collect::<Result<_, _>>()?;
    let top = time_sync(&requests, |r| index.top_hits(r).map(drop))?;
    let full = time_sync(&requests, |r| index.search(r).map(drop))?;
    for (name, latency) in [("top-20", top), ("full", full)] {
        eprintln!(
            "bench: {name} p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            latency.p50.as_secs_f64() * 1e3,
            latency.p95.as_secs_f64() * 1e3,
            latency.p99.as_secs_f64() * 1e3,
            latency.max.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// Imports accounts (with an external id per connector) and the items, page by page,
/// through the store's sync path.
async fn import(store: &Arc<dyn Store>, n: usize) -> Result<(), BoxError> {
    let accounts = corpus::accounts();
    for chunk in accounts.chunks(2_000) {
        let imports: Vec<AccountImport> = chunk
            .iter()
            .map(|account| AccountImport {
                id: None,
                name: account.name.clone(),
                domains: vec![],
                arr_minor: Some(account.arr_minor),
                currency: Some("USD".into()),
                segment: Some(account.segment.into()),
                lifecycle_stage: Some(account.stage),
                csm_owner: None,
                renewal_date: None,
                external_ids: CONNECTORS
                    .iter()
                    .map(|source| ExternalId {
                        connector: source.as_str().into(),
                        source: *source,
                        id: account.external_id.clone(),
                    })
                    .collect(),
                parent_id: None,
                plan: None,
                merged_into: None,
                created_at: None,
                updated_at: None,
            })
            .collect();
        store.import_accounts(&imports).await?;
    }
    let holder = Holder {
        id: format!("bench:{}", std::process::id()),
        host: "bench".into(),
        pid: std::process::id(),
        ttl: Duration::from_secs(3_600),
    };
    let mut claims = BTreeMap::new();
    for source in CONNECTORS {
        let claim = store.claim_run(source.as_str(), &holder).await?.ok_or("connector already claimed")?;
        let version = store.cursor(source.as_str()).await?.version;
        claims.insert(source.as_str(), (claim, version, Vec::with_capacity(PAGE)));
    }
    // The corpus is generated on a thread of its own, so that the timed import measures
    // the store rather than the generator (the import leaves most of one core idle).
    let external_ids: Vec<String> = accounts.iter().map(|account| account.external_id.clone()).collect();
    let (sender, mut generated) = tokio::sync::mpsc::channel::<(Source, Record)>(4 * PAGE);
    let generator = std::thread::spawn(move || {
        let vocabulary = Vocabulary::new();
        for item in corpus::Items::new(&vocabulary, n) {
            let source = item.source;
            if sender.blocking_send((source, corpus::record(item, &external_ids))).is_err() {
                return;
            }
        }
    });
    while let Some((source, record)) = generated.recv().await {
        let (claim, version, buffer) = claims.get_mut(source.as_str()).ok_or("unknown source")?;
        buffer.push(record);
        if buffer.len() >= PAGE {
            let records = std::mem::take(buffer);
            *version = commit(store, claim, *version, records).await?;
        }
    }
    generator.join().map_err(|_| "the corpus generator panicked")?;
    for (_, (claim, version, buffer)) in claims {
        if !buffer.is_empty() {
            commit(store, &claim, version, buffer).await?;
        }
        let outcome = RunOutcome { status: RunStatus::Succeeded, ..RunOutcome::default() };
        store.finish_run(&claim, &outcome).await?;
    }
    Ok(())
}

async fn commit(
    store: &Arc<dyn Store>,
    claim: &chorus_store::RunClaim,
    version: i64,
    records: Vec<Record>,
) -> Result<i64, BoxError> {
    let source = Source::from_str(&claim.connector)?;
    let page = PageCommit {
        connector: claim.connector.clone(),
        source,
        records,
        cursor: serde_json::json!({ "v": 1, "page": version + 1 }),
        expected_version: version,
    };
    Ok(store.commit_page(claim, &page).await?.cursor_version)
}

fn request(query: &BenchQuery) -> Result<SearchRequest, BoxError> {
    let mut request = SearchRequest::new(query.text.clone());
    match &query.filter {
        Some(("kind", value)) => request.filters.kind = vec![Kind::from_str(value)?],
        Some(("source", value)) => request.filters.source = vec![Source::from_str(value)?],
        Some(("status", value)) => request.filters.status = vec![value.clone()],
        Some(("segment", value)) => request.filters.segment = vec![value.clone()],
        Some((other, _)) => return Err(format!("unknown bench filter {other}").into()),
        None => {}
    }
    Ok(request)
}

fn aggregates_of(answer: &SearchAnswer) -> Aggregates {
    let mut facets = BTreeMap::new();
    for (name, list) in answer.facets.named() {
        for facet in list {
            facets.insert((name.to_owned(), facet.value.clone()), facet.count);
        }
    }
    Aggregates {
        total: answer.total,
        reach_accounts: answer.reach.accounts,
        reach_arr_minor: answer.reach.arr_minor,
        facets,
    }
}

/// Compares total, reach and facets of every query; returns one line per disagreement.
fn check(queries: &[BenchQuery], ours: &[Aggregates], theirs: &[Aggregates]) -> Vec<String> {
    let mut mismatches = Vec::new();
    if ours.len() != theirs.len() {
        mismatches.push(format!("{} answers from the index, {} from the baseline", ours.len(), theirs.len()));
    }
    for ((query, ours), theirs) in queries.iter().zip(ours).zip(theirs) {
        if ours != theirs {
            let line = format!(
                "`{}` {:?}: index total {} reach {}/{} vs fts total {} reach {}/{}{}",
                query.text,
                query.filter,
                ours.total,
                ours.reach_accounts,
                ours.reach_arr_minor,
                theirs.total,
                theirs.reach_accounts,
                theirs.reach_arr_minor,
                if ours.facets == theirs.facets { "" } else { " (facets differ)" }
            );
            eprintln!("MISMATCH {line}");
            mismatches.push(line);
        }
    }
    mismatches
}

/// Runs this binary again as the FTS5 child and reads its report.
fn run_fts_child(work: &std::path::Path, n: usize) -> Result<FtsReport, BoxError> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .env(FTS_CHILD, work)
        .env("BENCH_N", n.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("the FTS5 baseline process failed ({})", output.status).into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// The child: loads FTS5 from the store in `work`, answers and times every query, and
/// prints an [`FtsReport`] as JSON on stdout.
async fn fts_child(work: &std::path::Path) -> Result<(), BoxError> {
    let n = bench_n()?;
    let store = chorus_store::open(&format!("sqlite://{}", work.join("store.db").display())).await?;
    let path = work.join("fts.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut fts = Fts::create(&path).await?;
    let started = Instant::now();
    let loaded = fts.load(&store).await?;
    let load_secs = started.elapsed().as_secs_f64();
    eprintln!("bench: fts load {load_secs:.1}s");
    let queries = corpus::queries(&Vocabulary::new(), n);
    let mut aggregates = Vec::with_capacity(queries.len());
    for query in &queries {
        aggregates.push(WireAggregates::from(&fts.aggregates(query).await?));
    }
    let top = time_fts(&mut fts, &queries, false).await?;
    let full = time_fts(&mut fts, &queries, true).await?;
    let report = FtsReport { loaded, load_secs, aggregates, top, full, peak_rss_mb: report::peak_rss_mb() };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// What the FTS5 child reports to the parent.
#[derive(serde::Serialize, serde::Deserialize)]
struct FtsReport {
    loaded: u64,
    load_secs: f64,
    aggregates: Vec<WireAggregates>,
    /// Seconds per query per timed pass.
    top: Vec<Vec<f64>>,
    full: Vec<Vec<f64>>,
    peak_rss_mb: f64,
}

impl FtsReport {
    fn top_samples(&self) -> Vec<Vec<Duration>> {
        Self::samples(&self.top)
    }

    fn full_samples(&self) -> Vec<Vec<Duration>> {
        Self::samples(&self.full)
    }

    fn samples(seconds: &[Vec<f64>]) -> Vec<Vec<Duration>> {
        seconds.iter().map(|passes| passes.iter().map(|s| Duration::from_secs_f64(*s)).collect()).collect()
    }

    fn aggregates(&self) -> Result<Vec<Aggregates>, BoxError> {
        Ok(self.aggregates.iter().map(Aggregates::from).collect())
    }
}

/// [`Aggregates`] with its facet map as a list (JSON keys must be strings).
#[derive(serde::Serialize, serde::Deserialize)]
struct WireAggregates {
    total: u64,
    reach_accounts: u64,
    reach_arr_minor: i64,
    facets: Vec<(String, String, u64)>,
}

impl From<&Aggregates> for WireAggregates {
    fn from(a: &Aggregates) -> Self {
        WireAggregates {
            total: a.total,
            reach_accounts: a.reach_accounts,
            reach_arr_minor: a.reach_arr_minor,
            facets: a.facets.iter().map(|((facet, value), count)| (facet.clone(), value.clone(), *count)).collect(),
        }
    }
}

impl From<&WireAggregates> for Aggregates {
    fn from(w: &WireAggregates) -> Self {
        Aggregates {
            total: w.total,
            reach_accounts: w.reach_accounts,
            reach_arr_minor: w.reach_arr_minor,
            facets: w.facets.iter().map(|(facet, value, count)| ((facet.clone(), value.clone()), *count)).collect(),
        }
    }
}

fn time_sync(
    requests: &[SearchRequest],
    mut run: impl FnMut(&SearchRequest) -> chorus_index::Result<()>,
) -> Result<Latency, BoxError> {
    for request in requests {
        run(request)?;
    }
    let mut samples = vec![Vec::with_capacity(3); requests.len()];
    for _pass in 0..3 {
        for (request, sample) in requests.iter().zip(&mut samples) {
            let started = Instant::now();
            run(request)?;
            sample.push(started.elapsed());
        }
    }
    if std::env::var("BENCH_SLOW").is_ok() {
        for (request, sample) in requests.iter().zip(&samples) {
            let mut sorted = sample.clone();
            sorted.sort();
            if sorted[1] > Duration::from_millis(3) {
                eprintln!("slow {:>8.2} ms  {:?} {:?}", sorted[1].as_secs_f64() * 1e3, request.query, request.filters);
            }
        }
    }
    Ok(Latency::from_samples(samples))
}

/// Seconds per query per timed pass (one warm-up pass first).
async fn time_fts(fts: &mut Fts, queries: &[BenchQuery], full: bool) -> Result<Vec<Vec<f64>>, BoxError> {
    let mut samples = vec![Vec::with_capacity(3); queries.len()];
    for pass in 0..4 {
        for (query, sample) in queries.iter().zip(&mut samples) {
            let started = Instant::now();
            fts.top20(query).await?;
            if full {
                fts.aggregates(query).await?;
            }
            if pass > 0 {
                sample.push(started.elapsed().as_secs_f64());
            }
        }
    }
    Ok(samples)
}

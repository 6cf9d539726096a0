//! Times request ranking from the store: `cargo run --release -p chorus-store --example
//! rank_requests` (`make bench` runs it after the search benchmark).
//!
//! Builds a SQLite store of `BENCH_N` items (default 1 000 000) linked to 10 000 requests,
//! 50 000 accounts (a third in EUR, one in ten a child), 5 000 opportunities, written with
//! bulk SQL (the sync path is the search benchmark's subject), then `rebuild_demand`. An
//! item's account is drawn independently of its request, so a request's ~95 linked items
//! come from ~95 distinct accounts: ~950 000 (request, account) pairs, one aggregate entry
//! each, the worst case for ranking, which decodes and scores every pair. Times, after
//! one warm-up, five runs of the ranking as `chorus requests list` does it (maintained
//! aggregates + account facts read, model prepared, every request ranked), then once the
//! baseline: the same numbers from a plain SQL `GROUP BY (request, account)` over links
//! and items, ranked by the same model. Both must rank the same requests with the same
//! scores. Writes its section of `docs/benchmarks.md` (or `BENCH_OUT`), replacing an
//! earlier one. `BENCH_DIR` keeps the database for another run.

use std::time::{Duration, Instant};

use chorus_core::money::{Currency, ExchangeRates, Rate};
use chorus_core::{PriorityModel, PriorityWeights};
use chorus_store::Store;
use chrono::Utc;
use sqlx::Executor;

const REQUESTS: u64 = 10_000;
const ACCOUNTS: u64 = 50_000;
const OPPORTUNITIES: u64 = 5_000;
const BEGIN: &str = "<!-- rank_requests:begin -->";
const END: &str = "<!-- rank_requests:end -->";

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let n: u64 = std::env::var("BENCH_N").ok().map(|v| v.parse()).transpose()?.unwrap_or(1_000_000);
    let keep = std::env::var("BENCH_DIR").ok();
    let temp = tempfile::tempdir()?;
    let dir = keep.as_deref().map(std::path::PathBuf::from).unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join(format!("rank-{n}.db")).display());
    let store = chorus_store::sqlite::open(&url).await?;
    let started = Instant::now();
    if store.counts().await?.requests == 0 {
        load(&url, n).await?;
        eprintln!("loaded {n} items in {:.1?}", started.elapsed());
        let started = Instant::now();
        store.rebuild_demand().await?;
        eprintln!("built demand aggregates in {:.1?}", started.elapsed());
        // What the store's writer does as it goes (`wal_autocheckpoint`): the bulk load
        // bypassed it, so its pages would otherwise be read from the WAL.
        let pool = sqlx::SqlitePool::connect(&url).await?;
        pool.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        pool.close().await;
    }
    let load_time = started.elapsed();

    let rates = ExchangeRates::new(Currency::USD).with_rate(Currency::EUR, "1.08".parse::<Rate>()?);
    // The ranking `chorus requests list` runs (`rank_requests`: facts and demand read at
    // once, the model prepared while the demand still streams in, then ranked), three
    // warm-up runs (each of the pool's reader connections prepares its statements on its
    // first use) and five timed ones; then each of its parts alone, five runs in turn.
    // The baseline runs once, after them: its seconds of SQL and gigabyte of rows would
    // otherwise leave the allocator and caches of the next run in its wake.
    const RUNS: usize = 5;
    let weights = PriorityWeights::default();
    let mut totals = Vec::new();
    let mut reference = None;
    const WARM_UP: usize = 3;
    for run in 1..=WARM_UP + RUNS {
        let now = Utc::now();
        let started = Instant::now();
        let ranking = chorus_store::ranking::rank_requests(&store, &weights, &rates, None, now).await?;
        let total = started.elapsed();
        let warm = run > WARM_UP;
        eprintln!("{} {run}: ranking {total:.1?}", if warm { "run" } else { "warm-up" });
        if warm {
            totals.push(total);
        }
        reference = Some((now, ranking.ranked));
    }
    let Some((now, reference)) = reference else { return Err("no run".into()) };
    let mut parts: [Vec<Duration>; 4] = Default::default();
    let mut pairs = 0;
    let mut last = None;
    for run in 1..=RUNS {
        let started = Instant::now();
        let (accounts, opportunities) = store.priority_facts(Currency::USD).await?;
        let facts = started.elapsed();
        let started = Instant::now();
        let demands = store.priority_demands(None).await?;
        let demand = started.elapsed();
        pairs = demands.iter().map(|demand| demand.len()).sum::<usize>();
        let started = Instant::now();
        let model = PriorityModel::new(weights.clone(), rates.clone(), &accounts, &opportunities, now)?;
        let prepare = started.elapsed();
        let started = Instant::now();
        let ranked = model.rank(&demands)?;
        let rank = started.elapsed();
        check_same(&reference, &ranked)?;
        eprintln!("parts {run}: facts {facts:.1?}, demand {demand:.1?}, prepare {prepare:.1?}, rank {rank:.1?}");
        for (part, time) in parts.iter_mut().zip([facts, demand, prepare, rank]) {
            part.push(time);
        }
        last = Some((model, ranked, prepare));
    }
    let Some((model, ranked, prepare_time)) = last else { return Err("no run".into()) };
    let started = Instant::now();
    let recomputed = store.recompute_demand().await?;
    let sql = started.elapsed();
    let baseline_ranked = model.rank(&recomputed)?;
    let baseline_total = started.elapsed() + prepare_time;
    check_same(&ranked, &baseline_ranked)?;
    eprintln!("SQL baseline {baseline_total:.1?} (of which the SQL {sql:.1?})");
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let [facts, demand, prepare, rank] = parts.map(|mut times| median(&mut times));
    let report = render(n, pairs, load_time, &totals, [facts, demand, prepare, rank], sql, baseline_total);
    print!("{report}");
    write_section(&report)?;
    Ok(())
}

/// The two rankings agree: same requests in the same order, scores equal to 1e-9.
fn check_same(a: &[chorus_core::priority::Ranked], b: &[chorus_core::priority::Ranked]) -> Result<(), Error> {
    if a.len() != b.len() {
        return Err(format!("maintained ranking has {} requests, baseline {}", a.len(), b.len()).into());
    }
    for (x, y) in a.iter().zip(b) {
        let close = (x.score - y.score).abs() <= 1e-9 * x.score.abs().max(1.0);
        if !close || x.counts != y.counts {
            return Err(format!("request {} / {}: {} vs {}", x.request_id, y.request_id, x.score, y.score).into());
        }
    }
    Ok(())
}

/// Writes the synthetic data with a few bulk statements.
async fn load(url: &str, n: u64) -> Result<(), Error> {
    let pool = sqlx::SqlitePool::connect(url).await?;
    let now = Utc::now().timestamp_micros();
    let year = 365 * 86_400 * 1_000_000_i64;
    let statements = [
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ACCOUNTS}) \
             INSERT INTO accounts (id, name, name_key, arr_minor, currency, segment, renewal_date, parent_id, \
             created_at, updated_at) SELECT i, 'Account ' || i, 'account ' || i, (i * 2654435761) % 50000000, \
             CASE WHEN i % 3 = 0 THEN 'EUR' ELSE 'USD' END, \
             CASE i % 3 WHEN 0 THEN 'enterprise' WHEN 1 THEN 'mid-market' ELSE 'smb' END, \
             date('now', '+' || ((i * 40503) % 400) || ' days'), CASE WHEN i % 10 = 0 THEN i - 9 END, {now}, {now} \
             FROM n"
        ),
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ACCOUNTS}) \
             INSERT INTO account_external_ids (connector, source, external_id, account_id) \
             SELECT 'bench', 'salesforce', 'a' || i, i FROM n"
        ),
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
             INSERT INTO items (id, connector, source, external_id, kind, title, body, comments, status, tags, \
             author_email, created_at, updated_at, raw, content_hash) \
             SELECT i, 'bench', 'zendesk', 'e' || i, \
             CASE (i * 7919) % 4 WHEN 0 THEN 'bug' WHEN 1 THEN 'feature_request' WHEN 2 THEN 'support_ticket' \
             ELSE 'sales_blocker' END, 'item ' || i, '', '[]', 'open', '[]', \
             'p' || ((i * 48271) % 400000) || '@example.com', {now} - (i * 69621) % {year}, {now}, '{{}}', '' FROM n"
        ),
        format!(
            "INSERT INTO item_account_links (item_id, account_id, provenance, linked_at) \
             SELECT id, 1 + ((id * 2654435761) % 4294967291) % {ACCOUNTS}, 'source_field', {now} \
             FROM items WHERE id % 20 <> 0"
        ),
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {REQUESTS}) \
             INSERT INTO requests (id, title, description, status, created_at, updated_at) \
             SELECT i, 'Request ' || i, '', 'open', {now}, {now} FROM n"
        ),
        format!(
            "INSERT INTO item_request_links (item_id, request_id, provenance, linked_at, arr_at_ask_minor, \
             arr_at_ask_currency) SELECT i.id, 1 + (i.id * 40503) % {REQUESTS}, 'manual', {now}, \
             CASE WHEN a.id IS NOT NULL THEN a.arr_minor * (80 + i.id % 40) / 100 END, a.currency \
             FROM items i LEFT JOIN item_account_links l ON l.item_id = i.id LEFT JOIN accounts a ON a.id = l.account_id"
        ),
        // Half the opportunities name a sales blocker (items with id % 4 = 1 are blockers).
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {OPPORTUNITIES}) \
             INSERT INTO opportunities (connector, external_id, name, account_external_id, amount_minor, currency, \
             stage, probability, closed, won, blocker_external_id, source_updated_at, content_hash, created_at, \
             updated_at) SELECT 'bench', 'o' || i, 'Opportunity ' || i, 'a' || (1 + (i * 10) % {ACCOUNTS}), \
             (i * 2654435761) % 20000000, 'USD', 'Negotiation', (i * 37) % 101, CASE WHEN i % 4 = 0 THEN 1 ELSE 0 END, 0, \
             CASE WHEN i % 2 = 0 AND i * 200 + 1 <= {n} THEN 'e' || (i * 200 + 1) END, {now}, '', {now}, {now} FROM n"
        ),
    ];
    for statement in &statements {
        pool.execute(statement.as_str()).await?;
    }
    pool.close().await;
    Ok(())
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn render(
    n: u64,
    pairs: usize,
    load: Duration,
    runs: &[Duration],
    [facts, demand, prepare, rank]: [Duration; 4],
    sql: Duration,
    baseline: Duration,
) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load_avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load_avg = load_avg.split_whitespace().next().unwrap_or("?");
    let mut sorted = runs.to_vec();
    sorted.sort();
    let ranking = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let over = runs.iter().filter(|run| run.as_millis() >= 100).count();
    let runs_ms = runs.iter().map(|run| format!("{:.1}", run.as_secs_f64() * 1000.0)).collect::<Vec<_>>().join(", ");
    let verdict = match (ranking.as_millis() < 100, over) {
        (true, 0) => "met by every run".to_owned(),
        (true, over) => format!("met at the median; {over} of {} runs over it", runs.len()),
        (false, _) => format!("missed at the median; {over} of {} runs over it", runs.len()),
    };
    format!(
        "{BEGIN}\n## Request ranking: maintained aggregates vs a SQL GROUP BY\n\n\
         Generated by `make bench` (`cargo run --release -p chorus-store --example rank_requests`);\n\
         do not edit by hand. SQLite; {n} items linked to {REQUESTS} requests, {ACCOUNTS} accounts (a third in \
         EUR, one in ten a child), {OPPORTUNITIES} opportunities; {pairs} (request, account) pairs (an item's \
         account is drawn independently of its request: ~95 accounts a request); three warm-up runs and medians of five of the ranking, then five of each part alone (the baseline: one run, after them); the ranking reads the facts and the demand at once and prepares the model while the demand streams in, so its parts add up to more than it. Both rows \
         rank with the same model and are checked to give the same scores.\n\n\
         - date: {date}\n- machine: {cores} cores, load average {load_avg} when it ran\n\
         - data load and aggregate build (bulk SQL, not timed below): {load:.1?}\n\n\
         | ranking every request | time |\n| --- | ---: |\n\
         | from the maintained aggregates (`chorus requests list`) | {ranking} |\n\
         | &nbsp;&nbsp;its parts, each alone: read the account and opportunity facts | {facts} |\n\
         | &nbsp;&nbsp;read the packed demand of every request | {demand} |\n\
         | &nbsp;&nbsp;prepare the model | {prepare} |\n\
         | &nbsp;&nbsp;rank (decode and score every pair, one thread a core) | {rank} |\n\
         | baseline: SQL `GROUP BY (request, account)` then the same model | {baseline} |\n\
         | &nbsp;&nbsp;of which the SQL | {sql} |\n\n\
         The timed runs of the ranking, in order: {runs_ms} ms; the 100 ms target: {verdict}.\n\n{END}\n",
        date = Utc::now().format("%Y-%m-%d %H:%M UTC"),
        load = load,
        ranking = ms(ranking),
        facts = ms(facts),
        demand = ms(demand),
        prepare = ms(prepare),
        rank = ms(rank),
        baseline = ms(baseline),
        sql = ms(sql),
    )
}

/// Replaces this benchmark's section of the report (or appends it).
fn write_section(section: &str) -> Result<(), Error> {
    let path = std::env::var("BENCH_OUT")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/benchmarks.md").to_owned());
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(begin), Some(end)) if end > begin => {
            format!("{}{}{}", &old[..begin], section, old[end + END.len()..].trim_start_matches('\n'))
        }
        _ if old.is_empty() => section.to_owned(),
        _ => format!("{}\n{section}", old.trim_end_matches('\n').to_owned() + "\n"),
    };
    std::fs::write(&path, new)?;
    Ok(())
}

//! The engine's run outcomes with scripted connectors: a rate-limited end is resumable
//! (not failed), unmapped records are counted and named in the run history, and a
//! connector that panics fails its run without taking the scheduler down.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chorus_core::{ItemRecord, Kind, Person, Record, Source};
use chorus_store::{RunStatus, Store};
use chorus_sync::engine::{this_process, Engine, Quiet};
use chorus_sync::scheduler::{self, Job};
use chorus_sync::{ConnectorError, DynConnector, DynPage, SyncMode, Unmapped};
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};

/// What a scripted page does.
#[derive(Clone)]
enum Step {
    Page { ids: Vec<&'static str>, unmapped: Vec<&'static str> },
    RateLimited,
    Panic,
}

/// A connector that plays `steps` from the stored cursor (the index of the next step).
struct Scripted {
    steps: Vec<Step>,
    runs: AtomicU32,
}

impl Scripted {
    fn new(steps: Vec<Step>) -> Self {
        Self { steps, runs: AtomicU32::new(0) }
    }
}

fn item(id: &str) -> Record {
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    Record::Item(ItemRecord {
        external_id: id.to_owned(),
        key: None,
        kind: Kind::Bug,
        title: format!("item {id}"),
        body: String::new(),
        comments: Vec::new(),
        url: None,
        status: "open".into(),
        priority: None,
        tags: Vec::new(),
        author: Person::default(),
        account_external_id: None,
        account_name: None,
        csat: None,
        created_at: at,
        updated_at: at,
        raw: serde_json::Value::Null,
    })
}

impl DynConnector for Scripted {
    fn id(&self) -> &str {
        "scripted"
    }

    fn kind(&self) -> &'static str {
        "scripted"
    }

    fn source(&self) -> Source {
        Source::Jira
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        Box::pin(async { Ok("scripted".to_owned()) })
    }

    fn pages(
        &self,
        from: Option<&serde_json::Value>,
        _mode: SyncMode,
    ) -> Result<BoxStream<'_, Result<DynPage, ConnectorError>>, ConnectorError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let start = from.and_then(serde_json::Value::as_u64).unwrap_or(0);
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let steps: Vec<(usize, Step)> = self.steps.iter().cloned().enumerate().skip(start).collect();
        let pages = stream::iter(steps).map(|(at, step)| match step {
            Step::Page { ids, unmapped } => Ok(DynPage {
                records: ids.into_iter().map(item).collect(),
                cursor: serde_json::json!(at + 1),
                unmapped: unmapped
                    .into_iter()
                    .map(|id| Unmapped { external_id: id.to_owned(), reason: "no kind for this type".into() })
                    .collect(),
            }),
            Step::RateLimited => Err(ConnectorError::RateLimited {
                endpoint: "/search".into(),
                retry_after: Some(Duration::from_secs(3600)),
            }),
            Step::Panic => panic!("a bug met input nobody foresaw"),
        });
        // Ends after the first error, as a real connector's stream does.
        let mut failed = false;
        Ok(pages
            .take_while(move |page| {
                let go = !failed;
                failed = page.is_err();
                futures::future::ready(go)
            })
            .boxed())
    }
}

async fn store() -> Arc<dyn Store> {
    chorus_store::open("sqlite::memory:").await.expect("in-memory store")
}

fn engine(store: &Arc<dyn Store>) -> Engine {
    Engine::new(Arc::clone(store), this_process(Duration::from_secs(30)))
}

#[tokio::test]
async fn a_rate_limited_run_is_resumable_not_failed() {
    let store = store().await;
    let engine = engine(&store);
    let connector = Scripted::new(vec![
        Step::Page { ids: vec!["1", "2"], unmapped: vec![] },
        Step::RateLimited,
        Step::Page { ids: vec!["3"], unmapped: vec![] },
    ]);
    let report = engine.run(&connector, SyncMode::Incremental, &Quiet).await.expect("run starts");
    assert_eq!(report.outcome.status, RunStatus::RateLimited, "{:?}", report.outcome.error);
    assert_eq!(report.outcome.pages, 1);
    let reason = report.outcome.error.as_deref().unwrap_or_default();
    assert!(reason.contains("rate limited") && reason.contains("resumes"), "{reason}");
    let cursor = store.cursor("scripted").await.expect("cursor");
    assert_eq!(cursor.value, Some(serde_json::json!(1)), "the cursor is at the last committed page");
    let runs = store.runs(Some("scripted"), 5).await.expect("history");
    assert_eq!(runs[0].status, RunStatus::RateLimited, "the history says rate limited, not failed");
}

#[tokio::test]
async fn unmapped_records_are_counted_and_named_in_the_run_history() {
    let store = store().await;
    let engine = engine(&store);
    let many: Vec<&'static str> =
        (0..30).map(|n| &*Box::leak(format!("bad-{n}").into_boxed_str())).collect::<Vec<&'static str>>();
    let connector = Scripted::new(vec![
        Step::Page { ids: vec!["1"], unmapped: vec!["PROJ-7"] },
        Step::Page { ids: vec!["2"], unmapped: many },
    ]);
    let report = engine.run(&connector, SyncMode::Incremental, &Quiet).await.expect("run starts");
    assert!(report.succeeded(), "{:?}", report.outcome.error);
    assert_eq!(report.outcome.unmapped, 31);
    let runs = store.runs(Some("scripted"), 5).await.expect("history");
    assert_eq!(runs[0].unmapped, 31, "every unmapped record is counted");
    assert_eq!(runs[0].unmapped_examples.len(), chorus_store::UNMAPPED_EXAMPLES_MAX, "a few are named");
    assert_eq!(runs[0].unmapped_examples[0], "PROJ-7: no kind for this type");
}

#[tokio::test]
async fn a_panicking_connector_fails_its_run_and_frees_its_claim() {
    let store = store().await;
    let engine = engine(&store);
    let connector = Scripted::new(vec![Step::Page { ids: vec!["1"], unmapped: vec![] }, Step::Panic]);
    let report = engine.run(&connector, SyncMode::Incremental, &Quiet).await.expect("run starts");
    assert_eq!(report.outcome.status, RunStatus::Failed);
    let reason = report.outcome.error.as_deref().unwrap_or_default();
    assert!(reason.contains("panicked") && reason.contains("nobody foresaw"), "{reason}");
    // The claim was released: the next run starts at once (and panics again).
    let again = engine.run(&connector, SyncMode::Incremental, &Quiet).await.expect("the claim is free");
    assert_eq!(again.outcome.status, RunStatus::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_keeps_scheduling_a_connector_that_panics() {
    let store = store().await;
    let engine = engine(&store);
    let connector = Arc::new(Scripted::new(vec![Step::Panic]));
    let schedule = croner::Cron::new("* * * * * *").with_seconds_optional().parse().expect("every second");
    let job = Job { connector: Arc::clone(&connector) as Arc<dyn DynConnector>, schedule };
    scheduler::run(engine, vec![job], tokio::time::sleep(Duration::from_millis(3500))).await;
    let runs = connector.runs.load(Ordering::SeqCst);
    assert!(runs >= 2, "the schedule went on after a panicking run ({runs} runs)");
    let history = store.runs(Some("scripted"), 10).await.expect("history");
    assert!(history.iter().all(|run| run.status == RunStatus::Failed), "each panic is a failed run");
}

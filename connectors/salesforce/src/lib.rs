//! Salesforce connector (`kind = "salesforce"`).
//!
//! A run first reads the org's shape (`describe` of each object: every field the
//! mapping names must exist, else the run stops naming field and object; whether
//! `CurrencyIsoCode` exists, i.e. multi-currency). Then it reads, in this order,
//! Accounts, Contacts, Opportunities and Cases changed since the cursor, with SOQL
//! `WHERE SystemModstamp >= t - overlap ORDER BY SystemModstamp, Id` (the overlap
//! re-reads what a long transaction committed late with an older stamp; the upsert key
//! absorbs the repeats), following `nextRecordsUrl`; then the recycle bin of each
//! object (`queryAll … IsDeleted = true`, same predicate) as tombstones. Each query page
//! is yielded with the cursor, and the engine commits both together. An expired locator
//! (`INVALID_QUERY_LOCATOR`), and the next run after a failed one, re-ask from the last
//! record read with `(SystemModstamp > t OR (SystemModstamp = t AND Id > id))`; a
//! locator served twice in a run stops it. Invariant: a committed page's cursor holds
//! the position of that page's own last record (`open`) while its query is unfinished,
//! so resuming after any committed page reads exactly the records after it — ties on
//! `SystemModstamp` included — and the stored positions never go back.
//!
//! A record purged from the recycle bin is in no query at all: on full runs and on
//! the `reconcile.every_hours` schedule, the run ends by checking the ids the store
//! knows against the org (`reconcile`).

pub mod auth;
pub mod client;
pub mod config;
pub mod cursor;
pub mod mapping;
pub mod reconcile;

use std::collections::{HashSet, VecDeque};

use chorus_core::Source;
use chorus_sync::endpoint::parse_endpoint;
use chorus_sync::{Connector, ConnectorContext, ConnectorError, Credentials, Page, SyncMode};
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};

pub use crate::client::SalesforceClient;
use crate::client::{Locator, QueryPage};
pub use crate::config::SalesforceConfig;
use crate::config::{MappingConfig, ObjectsConfig, ReconcileConfig};
pub use crate::cursor::SalesforceCursor;
use crate::cursor::{overlap_predicate, resume_predicate, Object, OpenQuery, Position, Stream};
use crate::mapping::{position, text, Mapper, OrgShape};
use crate::reconcile::Check;

/// How often one query may be re-asked after its locator expired, within a run.
const LOCATOR_RETRIES: u32 = 3;

/// A configured Salesforce org.
pub struct SalesforceConnector {
    client: SalesforceClient,
    mapping: MappingConfig,
    objects: ObjectsConfig,
    overlap: chrono::Duration,
    reconcile: ReconcileConfig,
    credentials: Credentials,
}

/// The query a run is reading.
struct Reading {
    stream: Stream,
    /// The locator of the next page (`None`: the query was not sent yet).
    next: Option<String>,
    /// The predicate of the query's first request: asked again when a locator expired
    /// before any record was read.
    first: Option<String>,
    /// The last record this query read (in its order; inside the overlap, below the
    /// stored position).
    last: Option<Position>,
    expired: u32,
}

struct RunState {
    cursor: SalesforceCursor,
    streams: VecDeque<Stream>,
    reading: Option<Reading>,
    /// The mapper and the SELECT list per object, once `describe` was read.
    plan: Option<Plan>,
    locators: HashSet<String>,
    /// The query the run before left unfinished (from the cursor it started with).
    /// Losing it (a run failing again before that query) only costs a re-read: the
    /// overlap from the position reaches back past its last record.
    resume: Option<OpenQuery>,
    /// The purged-record check, when due this run.
    reconcile: Option<Reconciling>,
    done: bool,
}

/// A due check: the keys (`reconcile::key`) of live records this run read, which
/// need no asking, then the batches still to ask.
#[derive(Default)]
struct Reconciling {
    seen: HashSet<String>,
    check: Option<Check>,
}

struct Plan {
    mapper: Mapper,
    selects: Vec<(Object, String)>,
}

impl Plan {
    fn select(&self, object: Object) -> &str {
        self.selects.iter().find(|(o, _)| *o == object).map_or("Id, SystemModstamp", |(_, s)| s.as_str())
    }
}

impl SalesforceConnector {
    fn enabled(&self, object: Object) -> bool {
        match object {
            Object::Account => self.objects.accounts,
            Object::Contact => self.objects.contacts,
            Object::Opportunity => self.objects.opportunities,
            Object::Case => self.objects.cases,
        }
    }

    /// The fields read of `object`, each once; relationship fields are not
    /// in `describe` and are left out of the check.
    fn fields(&self, object: Object) -> Vec<&str> {
        let m = &self.mapping;
        let mut fields: Vec<&str> = match object {
            Object::Account => {
                let mut fields = vec!["Name", "Website", &m.arr_field, "Industry", "ParentId", "OwnerId"];
                for field in [&m.segment_field, &m.plan_field, &m.renewal_date_field, &m.lifecycle_stage_field] {
                    fields.extend(field.as_deref());
                }
                fields
            }
            Object::Contact => vec!["Name", "Email", "AccountId"],
            Object::Opportunity => {
                vec!["Name", "AccountId", "Amount", "StageName", "Probability", "CloseDate", "IsClosed", "IsWon"]
            }
            Object::Case => {
                vec![
                    "CaseNumber",
                    "Subject",
                    "Description",
                    "Status",
                    "Priority",
                    &m.case_kind.field,
                    "AccountId",
                    "SuppliedEmail",
                    "ContactId",
                ]
            }
        };
        if object == Object::Opportunity && !m.blocker.field.is_empty() {
            fields.push(&m.blocker.field);
        }
        fields.extend(["Id", "CreatedDate", "SystemModstamp"]);
        let mut unique: Vec<&str> = Vec::new();
        for field in fields {
            if !unique.iter().any(|known| known.eq_ignore_ascii_case(field)) {
                unique.push(field);
            }
        }
        unique
    }

    /// Reads the org's schema and plans the SELECT of each object.
    async fn plan(&self) -> Result<Plan, ConnectorError> {
        let mut selects = Vec::new();
        let mut multi_currency = false;
        for object in Object::ALL.into_iter().filter(|o| self.enabled(*o)) {
            let describe = self.client.describe(object.name()).await?;
            let has = |name: &str| describe.fields.iter().any(|f| f.name.eq_ignore_ascii_case(name));
            let mut fields: Vec<String> = Vec::new();
            for field in self.fields(object) {
                if !has(field) {
                    return Err(ConnectorError::permanent(
                        format!("/sobjects/{}/describe", object.name()),
                        format!(
                            "INVALID_FIELD: {} has no field `{field}` in this org; create it or change the mapping \
                             (a custom field must end in __c)",
                            object.name()
                        ),
                    ));
                }
                fields.push(field.to_owned());
            }
            if has("CurrencyIsoCode") {
                multi_currency = true;
                fields.push("CurrencyIsoCode".into());
            }
            match object {
                Object::Account => fields.extend(["Owner.Name".into(), "Owner.Email".into()]),
                Object::Case => fields.extend(["Contact.Name".into(), "Contact.Email".into()]),
                _ => {}
            }
            selects.push((object, fields.join(", ")));
        }
        let shape = OrgShape { multi_currency, blockers: !self.mapping.blocker.field.is_empty() };
        let instance_url = self.client.instance_url().await?.as_str().trim_end_matches('/').to_owned();
        Ok(Plan { mapper: Mapper { mapping: self.mapping.clone(), shape, instance_url }, selects })
    }

    fn soql(plan: &Plan, stream: Stream, predicate: Option<&str>) -> String {
        let (object, select, deleted) = match stream {
            Stream::Live(object) => (object, plan.select(object), false),
            Stream::Deleted(object) => (object, "Id, IsDeleted, SystemModstamp", true),
        };
        let mut conditions: Vec<String> = Vec::new();
        if deleted {
            conditions.push("IsDeleted = true".into());
        }
        conditions.extend(predicate.map(str::to_owned));
        let filter = if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
        format!("SELECT {select} FROM {}{filter} ORDER BY SystemModstamp ASC, Id ASC", object.name())
    }

    async fn next_page(&self, state: &mut RunState) -> Result<Option<Page<SalesforceCursor>>, ConnectorError> {
        if state.plan.is_none() {
            state.plan = Some(self.plan().await?);
        }
        let Some(plan) = state.plan.as_ref() else { return Ok(None) };
        loop {
            let reading = match &mut state.reading {
                Some(reading) => reading,
                None => match state.streams.pop_front() {
                    Some(stream) => {
                        // A query a failed run left unfinished resumes exactly after its
                        // last committed record; any other starts the overlap back.
                        let first = match state.resume.as_ref().filter(|open| open.stream == stream) {
                            Some(open) => resume_predicate(Some(&open.at)),
                            None => overlap_predicate(state.cursor.position(stream), self.overlap),
                        };
                        state.reading.insert(Reading { stream, next: None, first, last: None, expired: 0 })
                    }
                    None => return self.reconcile_page(&mut state.reconcile, &mut state.cursor, &plan.mapper).await,
                },
            };
            let stream = reading.stream;
            let page: QueryPage = match reading.next.take() {
                None => {
                    let all = matches!(stream, Stream::Deleted(_));
                    let predicate = match &reading.last {
                        Some(last) => resume_predicate(Some(last)),
                        None => reading.first.clone(),
                    };
                    self.client.query(&Self::soql(plan, stream, predicate.as_deref()), all).await?
                }
                Some(next) => match self.client.more(&next).await {
                    Ok(page) => page,
                    Err(Locator::Expired) if reading.expired < LOCATOR_RETRIES => {
                        // Ask again after the last record read: nothing read is lost.
                        reading.expired += 1;
                        continue;
                    }
                    Err(Locator::Expired) => return Err(ConnectorError::transient(
                        "/services/data/query",
                        "query locators kept expiring (INVALID_QUERY_LOCATOR); the next run resumes at the last page",
                    )),
                    Err(Locator::Failed(error)) => return Err(error),
                },
            };
            match page.next_records_url.clone().filter(|_| !page.done) {
                Some(next) => {
                    if !state.locators.insert(next.clone()) {
                        return Err(ConnectorError::permanent(
                            "/services/data/query",
                            "salesforce served a nextRecordsUrl this run already followed; the run stops instead of \
                             reading the same page forever",
                        ));
                    }
                    reading.next = Some(next);
                }
                None => reading.next = None,
            }
            let (object, deleted) = match stream {
                Stream::Live(object) => (object, false),
                Stream::Deleted(object) => (object, true),
            };
            let mut records = Vec::with_capacity(page.records.len());
            let mut unmapped = Vec::new();
            for record in &page.records {
                let mapped =
                    if deleted { plan.mapper.deleted(object, record) } else { plan.mapper.map(object, record) };
                match mapped {
                    Ok(mapped) => records.extend(mapped),
                    Err(skipped) => unmapped.push(skipped),
                }
                if let (Some(reconciling), false) = (&mut state.reconcile, deleted) {
                    reconciling.seen.extend(text(record, "Id").map(|id| reconcile::key(object, &id)));
                }
                if let Some(at) = position(record) {
                    reading.last = Some(at.clone());
                    state.cursor.advance(stream, at);
                }
            }
            let unfinished = reading.next.is_some();
            state.cursor.open = match (&reading.last, unfinished) {
                (Some(at), true) => Some(OpenQuery { stream, at: at.clone() }),
                _ => None,
            };
            if !unfinished {
                state.reading = None;
            }
            if page.records.is_empty() {
                continue;
            }
            return Ok(Some(Page::new(records, state.cursor.clone()).with_unmapped(unmapped)));
        }
    }
}

impl SalesforceConnector {
    /// The next batch of the purged-record check, if one is due and left; the page of
    /// the last batch carries the finished check.
    async fn reconcile_page(
        &self,
        due: &mut Option<Reconciling>,
        cursor: &mut SalesforceCursor,
        mapper: &Mapper,
    ) -> Result<Option<Page<SalesforceCursor>>, ConnectorError> {
        let Some(reconciling) = due else { return Ok(None) };
        let check = match &mut reconciling.check {
            Some(check) => check,
            None => {
                let after = cursor.reconcile.after.as_deref();
                let plan = Check::plan(&self.credentials, |o| self.enabled(o), &reconciling.seen, after).await?;
                reconciling.check.insert(plan)
            }
        };
        let progress = &mut cursor.reconcile;
        let Some((records, last)) = check.next_batch(&self.client, mapper).await? else {
            // Nothing to ask (every known id was just read): an empty page records the
            // finished check, else every later run would ask for all of them.
            *progress = progress.finished(chrono::Utc::now());
            *due = None;
            return Ok(Some(Page::new(Vec::new(), cursor.clone())));
        };
        if check.is_done() {
            *progress = progress.finished(chrono::Utc::now());
            *due = None;
        } else {
            progress.after = Some(last).max(progress.after.take());
        }
        Ok(Some(Page::new(records, cursor.clone())))
    }
}

impl Connector for SalesforceConnector {
    const KIND: &'static str = "salesforce";
    const SOURCE: Source = Source::Salesforce;

    type Config = SalesforceConfig;
    type Cursor = SalesforceCursor;

    fn validate(config: &SalesforceConfig, allow_insecure_endpoints: bool) -> Result<(), ConnectorError> {
        config.validate(allow_insecure_endpoints)
    }

    fn build(config: SalesforceConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let login = parse_endpoint("login_url", &config.login_url, ctx.allow_insecure_endpoints)?;
        let auth = config.auth.provider(&login, &ctx)?;
        let http = ctx.http.clone().with_auth(auth.clone());
        let client = SalesforceClient::new(
            http,
            auth,
            ctx.allow_insecure_endpoints,
            config.api_version,
            config.page_size,
            config.limits,
        );
        let overlap = chrono::Duration::seconds(i64::from(config.overlap_seconds));
        Ok(Self {
            client,
            mapping: config.mapping,
            objects: config.objects,
            overlap,
            reconcile: config.reconcile,
            credentials: ctx.credentials.clone(),
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        Box::pin(self.client.check())
    }

    fn pages(
        &self,
        from: Option<SalesforceCursor>,
        mode: SyncMode,
    ) -> BoxStream<'_, Result<Page<SalesforceCursor>, ConnectorError>> {
        self.client.forget_usage();
        let objects: Vec<Object> = Object::ALL.into_iter().filter(|o| self.enabled(*o)).collect();
        let streams =
            objects.iter().map(|o| Stream::Live(*o)).chain(objects.iter().map(|o| Stream::Deleted(*o))).collect();
        let cursor = from.unwrap_or_default();
        let due = cursor.reconcile.due(mode == SyncMode::Full, self.reconcile.every_hours, chrono::Utc::now());
        let state = RunState {
            reconcile: due.then(Reconciling::default),
            resume: cursor.open.clone(),
            cursor,
            streams,
            reading: None,
            plan: None,
            locators: HashSet::new(),
            done: false,
        };
        stream::unfold(state, move |mut state| async move {
            if state.done {
                return None;
            }
            match self.next_page(&mut state).await {
                Ok(Some(page)) => Some((Ok(page), state)),
                Ok(None) => None,
                Err(error) => {
                    state.done = true;
                    Some((Err(error), state))
                }
            }
        })
        .boxed()
    }
}

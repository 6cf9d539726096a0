//! One sync run as a stream of pages: search pages, then (when due) reconciliation.
//!
//! The search phase pages through `(jql) [AND updated >= bound] ORDER BY updated ASC,
//! key ASC` with `nextPageToken`; each page's cursor is the greatest `updated` seen so
//! far, never below the cursor the run started from. The reconciliation phase checks
//! known issue ids in batches of at most 100: a bulk fetch tells which still exist
//! (a JQL `id in (...)` naming a deleted issue is refused with 400), then
//! `(jql) AND id in (<existing>)` which are still in scope; it emits
//! `Record::Deleted` for the rest, never for an issue Jira reported it could not read.
//! Each batch's page records how far the reconciliation got (`reconcile_after`), so a
//! run stopped mid-way (rate limit, failed page) is continued by the next run. Every
//! `recheck_every`-th reconciliation also re-checks ids tombstoned lately, and yields
//! those Jira shows in scope again as items (the store revives them).
//! Invariants: a page is only yielded complete (comments fetched, issues mapped); an
//! issue that cannot be mapped does not fail its page but rides along with it as
//! `Unmapped`, so the run's history counts and names it; every
//! yielded cursor is ≥ the one before it; after the first error the stream ends.

use std::collections::HashSet;

use chorus_core::{EntityKind, Record};
use chorus_sync::{ConnectorError, Page, PageRun, RepeatGuard, SyncMode, Unmapped};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::client::{BulkFetchRequest, SearchRequest, BULK_FETCH_MAX};
use crate::cursor::{lower_bound, reconcile_jql, run_jql, JiraCursor};
use crate::mapping::{comment_page_counts, issue_id, issue_updated};
use crate::{JiraConnector, Session};

/// Where a run is.
enum Phase {
    Search { jql: String, token: Option<String> },
    Reconcile { batches: Option<Vec<Vec<Candidate>>> },
    Done,
}

/// One id reconciliation checks: a live item (tombstoned if gone), or with a
/// re-check an item tombstoned lately (revived if Jira shows it again).
#[derive(Debug, Clone)]
struct Candidate {
    id: String,
    tombstoned: bool,
}

/// The state carried from page to page.
pub(crate) struct Run<'a> {
    connector: &'a JiraConnector,
    session: Option<&'a Session>,
    /// The user's zone, read when the run starts (`None`: unknown, bounds widened).
    zone: Option<Tz>,
    from: Option<JiraCursor>,
    mode: SyncMode,
    cursor: JiraCursor,
    phase: Option<Phase>,
    reconcile_due: bool,
    /// Whether this run reads everything the JQL matches (so unseen known ids are candidates).
    full_scan: bool,
    seen: HashSet<String>,
    /// Every `nextPageToken` the search phase was handed in this run: Jira never hands
    /// out the same one twice, so a repeat (A→B→A as well as A→A) means it goes round
    /// in circles, and the run fails instead of reading the same pages forever.
    search_tokens: RepeatGuard,
}

impl<'a> Run<'a> {
    pub(crate) fn new(connector: &'a JiraConnector, from: Option<JiraCursor>, mode: SyncMode) -> Self {
        Self {
            connector,
            session: None,
            zone: None,
            cursor: from.clone().unwrap_or_default(),
            from,
            mode,
            phase: None,
            reconcile_due: false,
            full_scan: false,
            seen: HashSet::new(),
            search_tokens: RepeatGuard::new(crate::client::SEARCH_PATH, "nextPageToken"),
        }
    }
}

impl PageRun<JiraCursor> for Run<'_> {
    /// The next page, `None` when the run is over (`page_stream` ends it at an error).
    async fn next_page(&mut self) -> Result<Option<Page<JiraCursor>>, ConnectorError> {
        let session = match self.session {
            Some(session) => session,
            None => {
                let session = self.connector.session().await?;
                self.zone = self.connector.zone(session).await?;
                self.session = Some(session);
                session
            }
        };
        let phase = match self.phase.take() {
            Some(phase) => phase,
            None => self.start(),
        };
        match phase {
            Phase::Done => {
                self.phase = Some(Phase::Done);
                Ok(None)
            }
            Phase::Search { jql, token } => self.search_page(session, jql, token).await.map(Some),
            Phase::Reconcile { batches } => self.reconcile_page(session, batches).await.map(Some),
        }
    }
}

impl<'a> Run<'a> {
    /// Decides the window and whether deletions are reconciled in this run.
    fn start(&mut self) -> Phase {
        let config = &self.connector.config;
        let start_updated = self.from.as_ref().and_then(|c| c.updated);
        self.full_scan = self.mode == SyncMode::Full || start_updated.is_none();
        let bound = match (self.full_scan, start_updated) {
            (false, Some(updated)) => {
                Some(lower_bound(updated, Duration::minutes(i64::from(config.overlap_minutes)), self.zone))
            }
            _ => None,
        };
        let schedule = &config.reconcile;
        let now = Utc::now();
        let by_runs = schedule.every_runs > 0 && self.cursor.runs_since_reconcile + 1 >= schedule.every_runs;
        let by_age = schedule.every_hours > 0
            && self.cursor.reconciled_at.is_none_or(|at| now - at >= Duration::hours(i64::from(schedule.every_hours)));
        // A reconciliation a previous run left half done goes on in this one.
        let unfinished = self.cursor.reconcile_after.is_some();
        self.reconcile_due = self.full_scan || by_runs || by_age || unfinished;
        let jql = run_jql(&config.jql, bound);
        tracing::debug!(connector = %self.connector.ctx.id, %jql, reconcile = self.reconcile_due, "jira run starts");
        Phase::Search { jql, token: None }
    }

    async fn search_page(
        &mut self,
        session: &Session,
        jql: String,
        token: Option<String>,
    ) -> Result<Page<JiraCursor>, ConnectorError> {
        let connector = self.connector;
        let request = SearchRequest {
            jql: jql.clone(),
            fields: connector.mapper.search_fields(),
            max_results: connector.config.page_size,
            next_page_token: token,
        };
        let page = session.api.search(&request).await?;
        let next = page.continuation().map(str::to_owned);
        if let Some(next) = &next {
            // Checked before the page is mapped: its records are not committed, and the
            // stored cursor stays at the last page before the repeat.
            self.search_tokens.check(next)?;
        }
        let mut records = Vec::with_capacity(page.issues.len());
        let mut unmapped = Vec::new();
        let mut max_updated: Option<DateTime<Utc>> = None;
        for issue in &page.issues {
            max_updated = max_updated.max(issue_updated(issue));
            let comments = self.complete_comments(session, issue).await?;
            match connector.mapper.item(issue, comments.as_deref()) {
                Ok(item) => {
                    if self.full_scan {
                        self.seen.insert(item.external_id.clone());
                    }
                    records.push(Record::Item(item));
                }
                // The cursor moves past it: the engine counts and names it in the run.
                Err(error) => unmapped.push(error.unmapped()),
            }
        }
        self.cursor = self.cursor.advanced_to(max_updated);
        self.phase = Some(match next {
            Some(token) => Phase::Search { jql, token: Some(token) },
            None if self.reconcile_due => Phase::Reconcile { batches: None },
            None => {
                self.cursor.runs_since_reconcile = self.cursor.runs_since_reconcile.saturating_add(1);
                Phase::Done
            }
        });
        Ok(Page::new(records, self.cursor.clone()).with_unmapped(unmapped))
    }

    /// The full comment list when the embedded page was truncated (total > returned).
    async fn complete_comments(&self, session: &Session, issue: &Value) -> Result<Option<Vec<Value>>, ConnectorError> {
        let Some((total, returned)) = comment_page_counts(issue) else {
            return Ok(None);
        };
        if total <= returned {
            return Ok(None);
        }
        let Some(id) = issue_id(issue) else {
            return Ok(None);
        };
        match session.api.all_comments(&id).await {
            Ok(comments) => Ok(Some(comments)),
            // The issue went away between search and fetch: keep what search gave.
            Err(ConnectorError::Permanent { endpoint, reason }) => {
                tracing::warn!(issue = %id, %endpoint, %reason, "jira comments not fetched; using the embedded page");
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    async fn reconcile_page(
        &mut self,
        session: &Session,
        batches: Option<Vec<Vec<Candidate>>>,
    ) -> Result<Page<JiraCursor>, ConnectorError> {
        let mut batches = match batches {
            Some(batches) => batches,
            None => self.plan_batches().await?,
        };
        let (records, unmapped) = match batches.pop() {
            Some(batch) => {
                let checked = self.check(session, &batch).await?;
                self.cursor.reconcile_after =
                    batch.last().map(|c| c.id.clone()).max(self.cursor.reconcile_after.take());
                checked
            }
            None => (Vec::new(), Vec::new()),
        };
        if batches.is_empty() {
            // Strictly later than the last one, even if this host's clock is behind:
            // the schedule, like the rest of the cursor, never moves backwards.
            let now = Utc::now();
            let after_last = self.cursor.reconciled_at.map(|at| at + Duration::milliseconds(1));
            self.cursor.reconciled_at = Some(after_last.map_or(now, |later| later.max(now)));
            self.cursor.runs_since_reconcile = 0;
            self.cursor.reconcile_after = None;
            self.cursor.reconciles_since_recheck = match self.recheck_due() {
                true => 0,
                false => self.cursor.reconciles_since_recheck.saturating_add(1),
            };
            self.phase = Some(Phase::Done);
        } else {
            self.phase = Some(Phase::Reconcile { batches: Some(batches) });
        }
        Ok(Page::new(records, self.cursor.clone()).with_unmapped(unmapped))
    }

    /// Whether this reconciliation re-checks recent tombstones (every `recheck_every`-th).
    fn recheck_due(&self) -> bool {
        let every = self.connector.config.reconcile.recheck_every;
        every > 0 && self.cursor.reconciles_since_recheck.saturating_add(1) >= every
    }

    /// The ids to check, in batches popped from the back: known live ids (less those
    /// a full scan just saw) and, when a re-check is due, ids tombstoned lately, in
    /// one id order, after the position a stopped reconciliation left in the cursor.
    async fn plan_batches(&mut self) -> Result<Vec<Vec<Candidate>>, ConnectorError> {
        let credentials = &self.connector.ctx.credentials;
        let after = self.cursor.reconcile_after.clone();
        let pending = |id: &String| after.as_ref().is_none_or(|after| id > after);
        let mut candidates: Vec<Candidate> = credentials
            .known_item_ids()
            .await?
            .into_iter()
            .filter(|id| !(self.full_scan && self.seen.contains(id)) && pending(id))
            .map(|id| Candidate { id, tombstoned: false })
            .collect();
        if self.recheck_due() {
            let days = i64::from(self.connector.config.reconcile.recheck_days);
            let since = Utc::now() - Duration::days(days);
            let tombstoned = credentials.deleted_item_ids_since(since).await?;
            candidates.extend(tombstoned.into_iter().filter(pending).map(|id| Candidate { id, tombstoned: true }));
        }
        candidates.sort_by(|a, b| a.id.cmp(&b.id));
        candidates.dedup_by(|a, b| a.id == b.id);
        let size = self.connector.config.reconcile.batch_size.max(1) as usize;
        let mut batches: Vec<Vec<Candidate>> = candidates.chunks(size).map(<[Candidate]>::to_vec).collect();
        batches.reverse();
        Ok(batches)
    }

    /// Checks one batch against the site: tombstones for the live ids gone from the
    /// configured scope, and items for the tombstoned ids back in it.
    ///
    /// A JQL naming a deleted issue is refused (400), so existence is asked with a bulk
    /// fetch, which leaves missing issues out: an id it neither returns nor lists in
    /// `issueErrors` is deleted (or no longer visible to the user). Ids in `issueErrors`
    /// could not be read this time and are left alone. The live ids that still exist
    /// then go through `(<jql>) AND id in (…)`, and those it does not match have left
    /// the scope (moved to another project, filtered out) and are tombstoned too. The
    /// tombstoned ids that exist go through the same query with every field: those it
    /// returns are in scope again (access restored, moved back) and are yielded as
    /// items, which the store revives.
    async fn check(
        &self,
        session: &Session,
        batch: &[Candidate],
    ) -> Result<(Vec<Record>, Vec<Unmapped>), ConnectorError> {
        debug_assert!(batch.len() <= BULK_FETCH_MAX, "reconcile.batch_size is validated to 1..=100");
        // Ids that are not numeric cannot be Jira issue ids: leave them alone.
        let ids: Vec<&Candidate> = batch
            .iter()
            .filter(|c| !c.id.is_empty() && c.id.bytes().all(|b| b.is_ascii_digit()))
            .take(BULK_FETCH_MAX)
            .collect();
        if ids.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let request = BulkFetchRequest {
            issue_ids_or_keys: ids.iter().map(|c| c.id.clone()).collect(),
            fields: vec!["project".to_owned()],
            fields_by_keys: false,
        };
        let fetched = session.api.bulk_fetch(&request).await?;
        let existing: HashSet<String> = fetched.issues.iter().filter_map(issue_id).collect();
        let unreadable: HashSet<&str> = fetched.issue_errors.iter().filter_map(|e| e.id.as_deref()).collect();
        if let Some(error) = fetched.issue_errors.first() {
            tracing::warn!(
                connector = %self.connector.ctx.id,
                count = fetched.issue_errors.len(),
                first = error.error_message.as_deref().unwrap_or_default(),
                "jira could not read some issues; they are checked again at the next reconciliation"
            );
        }
        let (live, tombstoned): (Vec<&Candidate>, Vec<&Candidate>) = ids.iter().partition(|c| !c.tombstoned);
        let surviving: Vec<&str> = live.iter().map(|c| c.id.as_str()).filter(|id| existing.contains(*id)).collect();
        let in_scope: HashSet<String> =
            self.scope_search(session, &surviving, vec!["id".to_owned()]).await?.iter().filter_map(issue_id).collect();
        let mut records: Vec<Record> = live
            .iter()
            .map(|c| c.id.as_str())
            .filter(|id| !unreadable.contains(*id) && !in_scope.contains(*id))
            .map(|id| Record::Deleted { entity: EntityKind::Item, external_id: id.to_owned() })
            .collect();
        if !records.is_empty() {
            let out_of_scope = surviving.len().saturating_sub(in_scope.len());
            tracing::info!(
                connector = %self.connector.ctx.id,
                count = records.len(),
                out_of_scope,
                "jira issues gone from the site or the jql"
            );
        }
        let back: Vec<&str> = tombstoned.iter().map(|c| c.id.as_str()).filter(|id| existing.contains(*id)).collect();
        let mut unmapped = Vec::new();
        let returned = self.scope_search(session, &back, self.connector.mapper.search_fields()).await?;
        if !returned.is_empty() {
            tracing::info!(connector = %self.connector.ctx.id, count = returned.len(), "jira issues visible again");
        }
        for issue in &returned {
            let comments = self.complete_comments(session, issue).await?;
            match self.connector.mapper.item(issue, comments.as_deref()) {
                Ok(item) => records.push(Record::Item(item)),
                Err(error) => unmapped.push(error.unmapped()),
            }
        }
        Ok((records, unmapped))
    }

    /// The issues among `existing` (issues that exist) that the configured JQL
    /// matches, with `fields`. An issue deleted between the bulk fetch and this query
    /// makes Jira refuse it (400): the run fails, and the next run goes on with this
    /// batch. So does a `nextPageToken` Jira already handed out for this query: the
    /// answer would be incomplete, and the caller tombstones whatever is missing from
    /// it, so an incomplete answer is an error, never a partial set.
    async fn scope_search(
        &self,
        session: &Session,
        existing: &[&str],
        fields: Vec<String>,
    ) -> Result<Vec<Value>, ConnectorError> {
        if existing.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = SearchRequest {
            jql: reconcile_jql(&self.connector.config.jql, existing),
            fields,
            max_results: 100,
            next_page_token: None,
        };
        let mut issues = Vec::new();
        let mut tokens = RepeatGuard::new(crate::client::SEARCH_PATH, "nextPageToken");
        loop {
            let page = session.api.search(&request).await?;
            let next = page.continuation().map(str::to_owned);
            issues.extend(page.issues);
            let Some(token) = next else {
                return Ok(issues);
            };
            if tokens.check(&token).is_err() {
                return Err(ConnectorError::permanent(
                    crate::client::SEARCH_PATH,
                    "jira repeated a nextPageToken while reconciling; the scope of this batch is unknown, so no \
                     issue is tombstoned and the next reconciliation checks it again",
                ));
            }
            request.next_page_token = Some(token);
        }
    }
}

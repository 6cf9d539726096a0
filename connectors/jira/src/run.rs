//! One sync run as a stream of pages: search pages, then (when due) reconciliation.
//!
//! The search phase pages through `(jql) [AND updated >= bound] ORDER BY updated ASC,
//! key ASC` with `nextPageToken`; each page's cursor is the greatest `updated` seen so
//! far, never below the cursor the run started from. The reconciliation phase checks
//! known issue ids in batches of at most 100: a bulk fetch tells which still exist
//! (a JQL `id in (...)` naming a deleted issue is refused with 400), then
//! `(jql) AND id in (<existing>)` which are still in scope; it emits
//! `Record::Deleted` for the rest, never for an issue Jira reported it could not read.
//! Invariants: a page is only yielded complete (comments fetched, issues mapped); an
//! issue that cannot be mapped does not fail its page but rides along with it as
//! `Unmapped`, so the run's history counts and names it; every
//! yielded cursor is ≥ the one before it; after the first error the stream ends.

use std::collections::HashSet;

use chorus_core::{EntityKind, Record};
use chorus_sync::{ConnectorError, Page, SyncMode};
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
    Reconcile { batches: Option<Vec<Vec<String>>> },
    Done,
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
    search_tokens: HashSet<String>,
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
            search_tokens: HashSet::new(),
        }
    }

    /// The next page, `None` when the run is over. After an error the run is over.
    pub(crate) async fn next_page(&mut self) -> Option<Result<Page<JiraCursor>, ConnectorError>> {
        match self.step().await {
            Ok(Some(page)) => Some(Ok(page)),
            Ok(None) => None,
            Err(error) => {
                self.phase = Some(Phase::Done);
                Some(Err(error))
            }
        }
    }

    async fn step(&mut self) -> Result<Option<Page<JiraCursor>>, ConnectorError> {
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
        self.reconcile_due = self.full_scan || by_runs || by_age;
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
            if !self.search_tokens.insert(next.clone()) {
                return Err(ConnectorError::permanent(
                    crate::client::SEARCH_PATH,
                    "jira repeated a nextPageToken it already handed out in this run; the search goes round in \
                     circles, so the run stops instead of reading the same pages forever",
                ));
            }
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
        batches: Option<Vec<Vec<String>>>,
    ) -> Result<Page<JiraCursor>, ConnectorError> {
        let mut batches = match batches {
            Some(batches) => batches,
            None => self.plan_batches().await?,
        };
        let records = match batches.pop() {
            Some(batch) => self.missing(session, &batch).await?,
            None => Vec::new(),
        };
        if batches.is_empty() {
            // Strictly later than the last one, even if this host's clock is behind:
            // the schedule, like the rest of the cursor, never moves backwards.
            let now = Utc::now();
            let after_last = self.cursor.reconciled_at.map(|at| at + Duration::milliseconds(1));
            self.cursor.reconciled_at = Some(after_last.map_or(now, |later| later.max(now)));
            self.cursor.runs_since_reconcile = 0;
            self.phase = Some(Phase::Done);
        } else {
            self.phase = Some(Phase::Reconcile { batches: Some(batches) });
        }
        Ok(Page::new(records, self.cursor.clone()))
    }

    /// Known ids to check, in batches (popped from the back).
    async fn plan_batches(&mut self) -> Result<Vec<Vec<String>>, ConnectorError> {
        let known = self.connector.ctx.credentials.known_item_ids().await?;
        let mut candidates: Vec<String> =
            known.into_iter().filter(|id| !(self.full_scan && self.seen.contains(id))).collect();
        candidates.sort();
        candidates.dedup();
        let size = self.connector.config.reconcile.batch_size.max(1) as usize;
        let mut batches: Vec<Vec<String>> = candidates.chunks(size).map(<[String]>::to_vec).collect();
        batches.reverse();
        Ok(batches)
    }

    /// Tombstones for the ids of `batch` that are gone from the configured scope.
    ///
    /// A JQL naming a deleted issue is refused (400), so existence is asked with a bulk
    /// fetch, which leaves missing issues out: an id it neither returns nor lists in
    /// `issueErrors` is deleted (or no longer visible to the user). Ids in `issueErrors`
    /// could not be read this time and are left alone. The ids that still exist then go
    /// through `(<jql>) AND id in (…)`, and those it does not match have left the scope
    /// (moved to another project, filtered out) and are tombstoned too.
    async fn missing(&self, session: &Session, batch: &[String]) -> Result<Vec<Record>, ConnectorError> {
        debug_assert!(batch.len() <= BULK_FETCH_MAX, "reconcile.batch_size is validated to 1..=100");
        // Ids that are not numeric cannot be Jira issue ids: leave them alone.
        let ids: Vec<&str> = batch
            .iter()
            .map(String::as_str)
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .take(BULK_FETCH_MAX)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let request = BulkFetchRequest {
            issue_ids_or_keys: ids.iter().map(|id| (*id).to_owned()).collect(),
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
        let surviving: Vec<&str> = ids.iter().copied().filter(|id| existing.contains(*id)).collect();
        let in_scope = self.in_scope(session, &surviving).await?;
        let deleted: Vec<Record> = ids
            .iter()
            .filter(|id| !unreadable.contains(**id) && !in_scope.contains(**id))
            .map(|id| Record::Deleted { entity: EntityKind::Item, external_id: (*id).to_owned() })
            .collect();
        if !deleted.is_empty() {
            let out_of_scope = surviving.len().saturating_sub(in_scope.len());
            tracing::info!(
                connector = %self.connector.ctx.id,
                count = deleted.len(),
                out_of_scope,
                "jira issues gone from the site or the jql"
            );
        }
        Ok(deleted)
    }

    /// The ids among `existing` (issues that exist) that the configured JQL matches.
    /// An issue deleted between the bulk fetch and this query makes Jira refuse it
    /// (400): the run fails, and the next reconciliation checks the batch again. So does
    /// a `nextPageToken` Jira already handed out for this query: the answer would be
    /// incomplete, and the caller tombstones whatever is missing from it, so an
    /// incomplete answer is an error, never a partial set.
    async fn in_scope(&self, session: &Session, existing: &[&str]) -> Result<HashSet<String>, ConnectorError> {
        if existing.is_empty() {
            return Ok(HashSet::new());
        }
        let mut request = SearchRequest {
            jql: reconcile_jql(&self.connector.config.jql, existing),
            fields: vec!["id".to_owned()],
            max_results: 100,
            next_page_token: None,
        };
        let mut present = HashSet::new();
        let mut tokens = HashSet::new();
        loop {
            let page = session.api.search(&request).await?;
            present.extend(page.issues.iter().filter_map(issue_id));
            let Some(token) = page.continuation() else {
                return Ok(present);
            };
            if !tokens.insert(token.to_owned()) {
                return Err(ConnectorError::permanent(
                    crate::client::SEARCH_PATH,
                    "jira repeated a nextPageToken while reconciling; the scope of this batch is unknown, so no \
                     issue is tombstoned and the next reconciliation checks it again",
                ));
            }
            request.next_page_token = Some(token.to_owned());
        }
    }
}

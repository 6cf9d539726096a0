//! One sync run as a stream of pages: search pages, then (when due) reconciliation.
//!
//! The search phase pages through `(jql) [AND updated >= bound] ORDER BY updated ASC,
//! key ASC` with `nextPageToken`; each page's cursor is the greatest `updated` seen so
//! far, never below the cursor the run started from. The reconciliation phase checks
//! known issue ids in `id in (...)` batches (fields `id` only) and emits
//! `Record::Deleted` for those the site no longer returns. Invariants: a page is only
//! yielded complete (comments fetched, issues mapped); an issue that cannot be mapped
//! is logged and skipped without failing its page; every yielded cursor is ≥ the one
//! before it; after the first error the stream ends.

use std::collections::HashSet;

use chorus_core::{EntityKind, Record};
use chorus_sync::{ConnectorError, Page, SyncMode};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::client::SearchRequest;
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
    from: Option<JiraCursor>,
    mode: SyncMode,
    cursor: JiraCursor,
    phase: Option<Phase>,
    reconcile_due: bool,
    /// Whether this run reads everything the JQL matches (so unseen known ids are candidates).
    full_scan: bool,
    seen: HashSet<String>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(connector: &'a JiraConnector, from: Option<JiraCursor>, mode: SyncMode) -> Self {
        Self {
            connector,
            session: None,
            cursor: from.clone().unwrap_or_default(),
            from,
            mode,
            phase: None,
            reconcile_due: false,
            full_scan: false,
            seen: HashSet::new(),
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
                self.session = Some(session);
                session
            }
        };
        let phase = match self.phase.take() {
            Some(phase) => phase,
            None => self.start(session),
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
    fn start(&mut self, session: &Session) -> Phase {
        let config = &self.connector.config;
        let start_updated = self.from.as_ref().and_then(|c| c.updated);
        self.full_scan = self.mode == SyncMode::Full || start_updated.is_none();
        let bound = match (self.full_scan, start_updated) {
            (false, Some(updated)) => {
                Some(lower_bound(updated, Duration::minutes(i64::from(config.overlap_minutes)), session.zone))
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
            next_page_token: token.clone(),
        };
        let page = session.api.search(&request).await?;
        let mut records = Vec::with_capacity(page.issues.len());
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
                Err(error) => tracing::warn!(connector = %connector.ctx.id, %error, "jira issue skipped"),
            }
        }
        self.cursor = self.cursor.advanced_to(max_updated);
        let next = page.continuation().map(str::to_owned);
        if next.is_some() && next == token {
            return Err(ConnectorError::malformed(crate::client::SEARCH_PATH, "nextPageToken did not advance"));
        }
        self.phase = Some(match next {
            Some(token) => Phase::Search { jql, token: Some(token) },
            None if self.reconcile_due => Phase::Reconcile { batches: None },
            None => {
                self.cursor.runs_since_reconcile = self.cursor.runs_since_reconcile.saturating_add(1);
                Phase::Done
            }
        });
        Ok(Page { records, next_cursor: self.cursor.clone() })
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
        Ok(Page { records, next_cursor: self.cursor.clone() })
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

    /// Tombstones for the ids of `batch` that the site no longer returns.
    async fn missing(&self, session: &Session, batch: &[String]) -> Result<Vec<Record>, ConnectorError> {
        // Ids that are not numeric cannot be Jira issue ids: leave them alone.
        let ids: Vec<&str> = batch
            .iter()
            .map(String::as_str)
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = SearchRequest {
            jql: reconcile_jql(&self.connector.config.jql, &ids),
            fields: vec!["id".to_owned()],
            max_results: 100,
            next_page_token: None,
        };
        let mut present = HashSet::new();
        loop {
            let page = session.api.search(&request).await?;
            present.extend(page.issues.iter().filter_map(issue_id));
            match page.continuation() {
                Some(token) if request.next_page_token.as_deref() != Some(token) => {
                    request.next_page_token = Some(token.to_owned());
                }
                _ => break,
            }
        }
        let deleted: Vec<Record> = ids
            .iter()
            .filter(|id| !present.contains(**id))
            .map(|id| Record::Deleted { entity: EntityKind::Item, external_id: (*id).to_owned() })
            .collect();
        if !deleted.is_empty() {
            tracing::info!(connector = %self.connector.ctx.id, count = deleted.len(), "jira issues gone from the site");
        }
        Ok(deleted)
    }
}

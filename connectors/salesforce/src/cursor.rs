//! Where a run resumes: per object, the `(SystemModstamp, Id)` of the last record read,
//! for the live query and for the recycle bin (`queryAll`, `IsDeleted = true`).
//!
//! `SystemModstamp` is not unique (a bulk update stamps many records with one second),
//! so the position holds both, and the next query asks for
//! `SystemModstamp > t OR (SystemModstamp = t AND Id > id)`: a record that shares the
//! timestamp of a page's last one, on the next page, is never skipped.
//!
//! A run's first query of each stream reaches back `overlap` before the stored
//! position (`SystemModstamp >= t - overlap`) for records committed late with an older
//! stamp. The positions stay the greatest `(SystemModstamp, Id)` read; `open` names the
//! query a committed page left unfinished and the last record it read (inside the
//! overlap that is below the position), so a failed run is resumed exactly where it
//! stopped. Invariant: the order of cursors is that of their positions, declared in the
//! order a run reads them: it never goes down within a run, and only grows from run to
//! run.

use std::cmp::Ordering;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The last record read of one query: its `SystemModstamp` and `Id`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub modstamp: DateTime<Utc>,
    pub id: String,
}

/// One position per object and query, in the order a run reads them, and the query
/// left unfinished.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SalesforceCursor {
    pub accounts: Option<Position>,
    pub contacts: Option<Position>,
    pub opportunities: Option<Position>,
    pub cases: Option<Position>,
    pub deleted_accounts: Option<Position>,
    pub deleted_contacts: Option<Position>,
    pub deleted_opportunities: Option<Position>,
    pub deleted_cases: Option<Position>,
    /// The query a committed page left unfinished, and the last record it read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<OpenQuery>,
    /// The check of known ids for records purged from the recycle bin (absent in
    /// cursors stored before it existed: such a cursor has never checked).
    #[serde(default)]
    pub reconcile: ReconcilePosition,
}

/// When known ids were last checked against the org, and, while a check is under
/// way, how far it got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcilePosition {
    /// When the last check finished (this host's clock; never moves back).
    #[serde(default)]
    pub reconciled_at: Option<DateTime<Utc>>,
    /// While a check is under way: the greatest key (`Object/Id`, in string order)
    /// whose batch is committed; the next run goes on after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl ReconcilePosition {
    /// `after` goes up batch by batch and back to `None` only together with a later
    /// `reconciled_at`, so the key never goes down.
    fn key(&self) -> (Option<DateTime<Utc>>, Option<&str>) {
        (self.reconciled_at, self.after.as_deref())
    }

    /// Whether a check is due: a full run, one left unfinished, or the last check
    /// older than `every_hours` (0 turns the schedule off).
    pub fn due(&self, full: bool, every_hours: u32, now: DateTime<Utc>) -> bool {
        let by_age =
            every_hours > 0 && self.reconciled_at.is_none_or(|at| now - at >= Duration::hours(i64::from(every_hours)));
        full || self.after.is_some() || by_age
    }

    /// The position after a check finished at `now`: strictly later than the last
    /// one even if this host's clock went back.
    pub fn finished(&self, now: DateTime<Utc>) -> Self {
        let after_last = self.reconciled_at.map(|at| at + Duration::milliseconds(1));
        Self { reconciled_at: Some(after_last.map_or(now, |later| later.max(now))), after: None }
    }
}

/// A query a run was still reading when it committed a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenQuery {
    pub stream: Stream,
    pub at: Position,
}

impl PartialOrd for SalesforceCursor {
    /// By the positions, then the deletion check's progress: `open` is where a read
    /// stands, which goes back to the start of the overlap each run while no position
    /// does.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        let positions = |c: &Self| {
            [
                c.accounts.clone(),
                c.contacts.clone(),
                c.opportunities.clone(),
                c.cases.clone(),
                c.deleted_accounts.clone(),
                c.deleted_contacts.clone(),
                c.deleted_opportunities.clone(),
                c.deleted_cases.clone(),
            ]
        };
        Some(positions(self).cmp(&positions(other)).then_with(|| self.reconcile.key().cmp(&other.reconcile.key())))
    }
}

/// The queries of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stream {
    Live(Object),
    Deleted(Object),
}

/// The objects read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Object {
    Account,
    Contact,
    Opportunity,
    Case,
}

impl Object {
    pub const ALL: [Object; 4] = [Object::Account, Object::Contact, Object::Opportunity, Object::Case];

    pub fn name(self) -> &'static str {
        match self {
            Object::Account => "Account",
            Object::Contact => "Contact",
            Object::Opportunity => "Opportunity",
            Object::Case => "Case",
        }
    }
}

impl SalesforceCursor {
    pub fn position(&self, stream: Stream) -> Option<&Position> {
        self.slot(stream).as_ref()
    }

    /// Moves a stream's position forward (never back).
    pub fn advance(&mut self, stream: Stream, to: Position) {
        let slot = self.slot_mut(stream);
        if slot.as_ref().is_none_or(|at| *at < to) {
            *slot = Some(to);
        }
    }

    fn slot(&self, stream: Stream) -> &Option<Position> {
        match stream {
            Stream::Live(Object::Account) => &self.accounts,
            Stream::Live(Object::Contact) => &self.contacts,
            Stream::Live(Object::Opportunity) => &self.opportunities,
            Stream::Live(Object::Case) => &self.cases,
            Stream::Deleted(Object::Account) => &self.deleted_accounts,
            Stream::Deleted(Object::Contact) => &self.deleted_contacts,
            Stream::Deleted(Object::Opportunity) => &self.deleted_opportunities,
            Stream::Deleted(Object::Case) => &self.deleted_cases,
        }
    }

    fn slot_mut(&mut self, stream: Stream) -> &mut Option<Position> {
        match stream {
            Stream::Live(Object::Account) => &mut self.accounts,
            Stream::Live(Object::Contact) => &mut self.contacts,
            Stream::Live(Object::Opportunity) => &mut self.opportunities,
            Stream::Live(Object::Case) => &mut self.cases,
            Stream::Deleted(Object::Account) => &mut self.deleted_accounts,
            Stream::Deleted(Object::Contact) => &mut self.deleted_contacts,
            Stream::Deleted(Object::Opportunity) => &mut self.deleted_opportunities,
            Stream::Deleted(Object::Case) => &mut self.deleted_cases,
        }
    }
}

/// SOQL's datetime literal: `2024-01-01T00:00:00.000Z`, unquoted.
pub fn soql_datetime(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The resume predicate for `position` (`None`: everything), as SOQL.
pub fn resume_predicate(position: Option<&Position>) -> Option<String> {
    let position = position?;
    let at = soql_datetime(position.modstamp);
    let id = position.id.replace('\\', "\\\\").replace('\'', "\\'");
    Some(format!("(SystemModstamp > {at} OR (SystemModstamp = {at} AND Id > '{id}'))"))
}

/// The predicate of a run's first query of a stream stored at `position`: from
/// `overlap` before it, inclusive (`None`: everything). A zero overlap is the exact
/// resume predicate.
pub fn overlap_predicate(position: Option<&Position>, overlap: Duration) -> Option<String> {
    if overlap <= Duration::zero() {
        return resume_predicate(position);
    }
    let from = position?.modstamp - overlap;
    Some(format!("SystemModstamp >= {}", soql_datetime(from)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_only_move_forward_and_read_as_the_resume_predicate() {
        let at = DateTime::parse_from_rfc3339("2024-01-01T10:00:00Z").expect("time").to_utc();
        let mut cursor = SalesforceCursor::default();
        let before = cursor.clone();
        cursor.advance(Stream::Live(Object::Case), Position { modstamp: at, id: "500B".into() });
        cursor.advance(Stream::Live(Object::Case), Position { modstamp: at, id: "500A".into() });
        assert_eq!(cursor.cases.as_ref().map(|p| p.id.as_str()), Some("500B"));
        assert!(cursor > before);
        assert_eq!(
            resume_predicate(cursor.position(Stream::Live(Object::Case))).as_deref(),
            Some(
                "(SystemModstamp > 2024-01-01T10:00:00.000Z OR (SystemModstamp = 2024-01-01T10:00:00.000Z AND Id > '500B'))"
            )
        );
        assert_eq!(resume_predicate(None), None);
    }

    #[test]
    fn the_first_query_reaches_back_by_the_overlap_and_zero_is_exact() {
        let at = DateTime::parse_from_rfc3339("2024-01-01T10:00:00Z").expect("time").to_utc();
        let position = Position { modstamp: at, id: "500B".into() };
        assert_eq!(
            overlap_predicate(Some(&position), Duration::seconds(300)).as_deref(),
            Some("SystemModstamp >= 2024-01-01T09:55:00.000Z")
        );
        assert_eq!(overlap_predicate(Some(&position), Duration::zero()), resume_predicate(Some(&position)));
        assert_eq!(overlap_predicate(None, Duration::seconds(300)), None);
    }

    #[test]
    fn an_open_query_reading_below_the_positions_is_not_a_step_back() {
        let at = DateTime::parse_from_rfc3339("2024-01-01T10:00:00Z").expect("time").to_utc();
        let mut stored = SalesforceCursor::default();
        stored.advance(Stream::Live(Object::Case), Position { modstamp: at, id: "500B".into() });
        let mut reading = stored.clone();
        let earlier = Position { modstamp: at - Duration::seconds(60), id: "500A".into() };
        reading.open = Some(OpenQuery { stream: Stream::Live(Object::Case), at: earlier.clone() });
        assert_eq!(reading.partial_cmp(&stored), Some(Ordering::Equal));
        reading.advance(Stream::Live(Object::Case), earlier);
        assert_eq!(reading.cases, stored.cases, "the position never goes back");
        let text = serde_json::to_string(&stored).expect("json");
        assert!(!text.contains("open"), "{text}");
    }

    #[test]
    fn the_deletion_check_only_moves_forward_and_is_due_by_rule() {
        let at = DateTime::parse_from_rfc3339("2024-01-01T10:00:00Z").expect("time").to_utc();
        let old: SalesforceCursor = serde_json::from_value(serde_json::json!({"cases": null})).expect("old cursor");
        assert_eq!(old.reconcile, ReconcilePosition::default(), "a cursor stored before the check still loads");
        let base = SalesforceCursor {
            reconcile: ReconcilePosition { reconciled_at: Some(at), after: None },
            ..SalesforceCursor::default()
        };
        let mut mid = base.clone();
        mid.reconcile.after = Some("Case/500A".into());
        assert_eq!(mid.partial_cmp(&base), Some(Ordering::Greater));
        let done = SalesforceCursor { reconcile: mid.reconcile.finished(at - Duration::hours(1)), ..mid.clone() };
        assert_eq!(done.partial_cmp(&mid), Some(Ordering::Greater), "a clock gone back still moves it on");
        assert!(done.reconcile.after.is_none());

        let fresh = &base.reconcile;
        assert!(!fresh.due(false, 24, at + Duration::hours(23)));
        assert!(fresh.due(false, 24, at + Duration::hours(24)));
        assert!(fresh.due(true, 0, at), "full runs always check");
        assert!(mid.reconcile.due(false, 0, at), "an unfinished check goes on");
        assert!(ReconcilePosition::default().due(false, 24, at), "never checked");
        assert!(!ReconcilePosition::default().due(false, 0, at), "the schedule off");
    }
}

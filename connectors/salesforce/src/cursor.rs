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
}

/// A query a run was still reading when it committed a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenQuery {
    pub stream: Stream,
    pub at: Position,
}

impl PartialOrd for SalesforceCursor {
    /// By the positions alone: `open` is where a read stands, which goes back to the
    /// start of the overlap each run while no position does.
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
        Some(positions(self).cmp(&positions(other)))
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
}

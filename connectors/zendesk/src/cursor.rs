//! The Zendesk cursor: where each of the three exports (organizations, users, tickets)
//! stands, and where the ticket-events export (comments) does (`ticket_events`, a
//! time-based position; absent in cursors stored before it existed, which still load:
//! such a run reads comments per ticket once, see `events`), plus the schedule of the
//! deleted-organization check (`reconcile`, likewise optional).
//!
//! Organizations use the time-based export (`start_time`, the previous page's
//! `end_time`); users and tickets use the cursor-based exports (`start_time` on the
//! first request, then Zendesk's opaque `after_cursor`). Every stream also counts the
//! pages it has consumed (`seq`), which is what orders positions: Zendesk's cursor
//! strings are opaque and cannot be compared. Invariant: `partial_cmp` is a sound
//! partial order — componentwise over the streams and the check's schedule, `None` when one stream moved
//! forward and another backwards, and `None` when two positions claim the same `seq`
//! but differ (they cannot both be right).

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One export's position.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StreamPosition {
    /// Pages consumed so far; grows by one with every page.
    pub seq: u64,
    /// Unix time to start from when there is no `after_cursor` (first run), or the next
    /// `start_time` of a time-based export.
    pub start_time: i64,
    /// Zendesk's `after_cursor` of the last page consumed (cursor-based exports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_cursor: Option<String>,
}

impl StreamPosition {
    /// A position before the first page, starting at `start_time`.
    pub fn start(start_time: i64) -> Self {
        Self { seq: 0, start_time, after_cursor: None }
    }

    /// The position after one more page of a cursor-based export.
    pub fn after_cursor_page(&self, after_cursor: Option<String>) -> Self {
        Self {
            seq: self.seq + 1,
            start_time: self.start_time,
            // A page without a cursor (nothing exported yet) keeps the old one.
            after_cursor: after_cursor.filter(|c| !c.is_empty()).or_else(|| self.after_cursor.clone()),
        }
    }

    /// The position after one more page of a time-based export. Zendesk's `end_time`
    /// is the page's last second, and a page never splits a second (it runs past
    /// `per_page` to the end of it), so the next page starts at `end_time` and repeats
    /// that second (duplicates are absorbed by the upsert key) — except when the whole
    /// page was that one second (`end_time == start_time`, more records in one second
    /// than a page): it was read whole, so the next page starts one second later. A
    /// missing `end_time` keeps the position; it never moves backwards.
    pub fn after_time_page(&self, end_time: Option<i64>, had_records: bool) -> Self {
        let start_time = match end_time {
            Some(end) if end <= self.start_time && had_records => self.start_time.saturating_add(1),
            Some(end) => end.max(self.start_time),
            None => self.start_time,
        };
        Self { seq: self.seq + 1, start_time, after_cursor: None }
    }
}

impl PartialOrd for StreamPosition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.seq.cmp(&other.seq) {
            Ordering::Equal if self == other => Some(Ordering::Equal),
            Ordering::Equal => None,
            ordering => Some(ordering),
        }
    }
}

/// The stored position of a Zendesk connector: one per export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZendeskCursor {
    pub organizations: StreamPosition,
    pub users: StreamPosition,
    pub tickets: StreamPosition,
    /// Every comment event older than its `start_time` is in the store (see `events`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_events: Option<StreamPosition>,
    /// The deleted-organization check's schedule and progress (absent in cursors
    /// stored before it existed: such a cursor has never checked).
    #[serde(default)]
    pub reconcile: ReconcilePosition,
}

/// When known organizations were last checked for deletions, and, while a check is
/// under way, how far it got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcilePosition {
    /// When the last check finished (this host's clock; never moves back).
    #[serde(default)]
    pub reconciled_at: Option<DateTime<Utc>>,
    /// Runs that committed a page without checking since `reconciled_at`.
    #[serde(default)]
    pub runs_since: u32,
    /// While a check is under way: the greatest external id (in string order) whose
    /// batch is committed; the next run goes on after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl ReconcilePosition {
    /// The schedule as one ordered key: `after` goes up batch by batch and back to
    /// `None` only together with a later `reconciled_at`, so the key never goes down.
    fn key(&self) -> (Option<DateTime<Utc>>, u32, Option<&str>) {
        (self.reconciled_at, self.runs_since, self.after.as_deref())
    }

    /// Whether a check is due: a full run, one left unfinished, or by the schedule
    /// (`every_runs` counts this run; 0 turns a rule off).
    pub fn due(&self, full: bool, every_runs: u32, every_hours: u32, now: DateTime<Utc>) -> bool {
        let by_runs = every_runs > 0 && self.runs_since.saturating_add(1) >= every_runs;
        let by_age = every_hours > 0
            && self.reconciled_at.is_none_or(|at| now - at >= chrono::Duration::hours(i64::from(every_hours)));
        full || self.after.is_some() || by_runs || by_age
    }

    /// The position after a finished check at `now`: strictly later than the last
    /// one even if this host's clock went back.
    pub fn finished(&self, now: DateTime<Utc>) -> Self {
        let after_last = self.reconciled_at.map(|at| at + chrono::Duration::milliseconds(1));
        Self { reconciled_at: Some(after_last.map_or(now, |later| later.max(now))), runs_since: 0, after: None }
    }
}

impl ZendeskCursor {
    /// Where a first run starts.
    pub fn start(start_time: i64) -> Self {
        Self {
            organizations: StreamPosition::start(start_time),
            users: StreamPosition::start(start_time),
            tickets: StreamPosition::start(start_time),
            ticket_events: Some(StreamPosition::start(start_time)),
            reconcile: ReconcilePosition::default(),
        }
    }
}

impl PartialOrd for ZendeskCursor {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        let parts = [
            self.organizations.partial_cmp(&other.organizations)?,
            self.users.partial_cmp(&other.users)?,
            self.tickets.partial_cmp(&other.tickets)?,
            self.ticket_events.partial_cmp(&other.ticket_events)?,
            self.reconcile.key().cmp(&other.reconcile.key()),
        ];
        let any_less = parts.contains(&Ordering::Less);
        let any_greater = parts.contains(&Ordering::Greater);
        match (any_less, any_greater) {
            (false, false) => Some(Ordering::Equal),
            (true, false) => Some(Ordering::Less),
            (false, true) => Some(Ordering::Greater),
            (true, true) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_move_the_cursor_forward() {
        let start = ZendeskCursor::start(0);
        let mut next = start.clone();
        next.tickets = next.tickets.after_cursor_page(Some("abc".into()));
        assert_eq!(next.partial_cmp(&start), Some(Ordering::Greater));
        assert_eq!(start.partial_cmp(&next), Some(Ordering::Less));
        assert_eq!(next.partial_cmp(&next.clone()), Some(Ordering::Equal));
        // A repeated `after_cursor` (end of stream twice) still advances.
        let mut again = next.clone();
        again.tickets = again.tickets.after_cursor_page(Some("abc".into()));
        assert_eq!(again.partial_cmp(&next), Some(Ordering::Greater));
    }

    #[test]
    fn mixed_or_conflicting_positions_are_incomparable() {
        let mut a = ZendeskCursor::start(0);
        let mut b = ZendeskCursor::start(0);
        a.users = a.users.after_cursor_page(Some("u".into()));
        b.tickets = b.tickets.after_cursor_page(Some("t".into()));
        assert_eq!(a.partial_cmp(&b), None);
        let mut c = ZendeskCursor::start(0);
        c.users = c.users.after_cursor_page(Some("other".into()));
        assert_eq!(a.partial_cmp(&c), None, "same seq, different cursor");
    }

    #[test]
    fn time_pages_never_move_start_time_back_and_cursor_round_trips() -> Result<(), serde_json::Error> {
        let position = StreamPosition::start(100).after_time_page(Some(50), false);
        assert_eq!(position.start_time, 100);
        assert_eq!(StreamPosition::start(100).after_time_page(Some(140), true).start_time, 140, "repeats 140");
        let whole_second = StreamPosition::start(100).after_time_page(Some(100), true);
        assert_eq!(whole_second.start_time, 101, "a page all of one second moves past it");
        let cursor = ZendeskCursor { organizations: position, ..ZendeskCursor::start(7) };
        let json = serde_json::to_value(&cursor)?;
        assert_eq!(serde_json::from_value::<ZendeskCursor>(json)?, cursor);
        let before_events = serde_json::json!({
            "organizations": {"seq": 1, "start_time": 5}, "users": {"seq": 1, "start_time": 5},
            "tickets": {"seq": 2, "start_time": 5, "after_cursor": "abc"}
        });
        let old = serde_json::from_value::<ZendeskCursor>(before_events)?;
        assert_eq!(old.ticket_events, None, "a cursor stored before the events position still loads");
        let mut moved = old.clone();
        moved.ticket_events = Some(StreamPosition::start(5).after_time_page(Some(9), true));
        assert_eq!(moved.partial_cmp(&old), Some(Ordering::Greater));
        assert_eq!(old.reconcile, ReconcilePosition::default(), "a cursor stored before the check still loads");
        Ok(())
    }

    #[test]
    fn the_check_schedule_only_moves_forward_and_is_due_by_rule() {
        let t1 = DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z").map(|t| t.to_utc()).ok();
        let base = ZendeskCursor {
            reconcile: ReconcilePosition { reconciled_at: t1, runs_since: 2, after: None },
            ..ZendeskCursor::start(0)
        };
        let mut mid = base.clone();
        mid.reconcile.after = Some("300".into());
        assert_eq!(mid.partial_cmp(&base), Some(Ordering::Greater));
        let mut further = mid.clone();
        further.reconcile.after = Some("400".into());
        assert_eq!(further.partial_cmp(&mid), Some(Ordering::Greater));
        let earlier_clock = t1.map(|t| t - chrono::Duration::hours(1)).unwrap_or_default();
        let done = ZendeskCursor { reconcile: further.reconcile.finished(earlier_clock), ..further.clone() };
        assert_eq!(done.partial_cmp(&further), Some(Ordering::Greater), "a clock gone back still moves it on");
        let mut streams_ahead = further.clone();
        streams_ahead.users = streams_ahead.users.after_cursor_page(Some("u".into()));
        assert_eq!(done.partial_cmp(&streams_ahead), None, "the schedule ahead, a stream behind");

        let now = t1.unwrap_or_default();
        let fresh = ReconcilePosition { reconciled_at: t1, runs_since: 0, after: None };
        assert!(!fresh.due(false, 0, 24, now + chrono::Duration::hours(23)));
        assert!(fresh.due(false, 0, 24, now + chrono::Duration::hours(24)));
        assert!(fresh.due(true, 0, 0, now), "full runs always check");
        assert!(ReconcilePosition::default().due(false, 0, 24, now), "never checked");
        assert!(!ReconcilePosition::default().due(false, 0, 0, now), "both rules off");
        let counted = ReconcilePosition { runs_since: 2, ..fresh.clone() };
        assert!(counted.due(false, 3, 0, now) && !counted.due(false, 4, 0, now));
        assert!(ReconcilePosition { after: Some("1".into()), ..fresh }.due(false, 0, 0, now), "unfinished goes on");
    }
}

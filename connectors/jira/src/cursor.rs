//! The Jira cursor and the JQL window it turns into.
//!
//! The cursor holds the greatest `updated` (UTC, full precision) among the issues of
//! committed pages, plus the reconciliation schedule and, while one is under way,
//! how far the reconciliation got. JQL can only say
//! `updated >= "yyyy-MM-dd HH:mm"`, read in the *calling user's* time zone, so the
//! next run's lower bound is: cursor − overlap, converted to that zone, floored to
//! the minute, and stepped back past a DST fold when the local time is ambiguous.
//! Invariant: the instant Jira reads from the bound is never later than
//! cursor − overlap, whichever way it resolves a fold, so no issue updated at or
//! after the cursor can be missed; re-read issues are absorbed by the upsert.

use std::cmp::Ordering;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How far a run can trust the cursor, and when deletions were last reconciled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraCursor {
    /// Greatest `updated` seen among committed pages (`None`: nothing read yet).
    #[serde(default)]
    pub updated: Option<DateTime<Utc>>,
    /// When known ids were last checked against the site.
    #[serde(default)]
    pub reconciled_at: Option<DateTime<Utc>>,
    /// Incremental runs finished since `reconciled_at`.
    #[serde(default)]
    pub runs_since_reconcile: u32,
    /// While a reconciliation is under way: the greatest id (in string order) whose
    /// batch is committed. A run that stops mid-reconciliation leaves it here, and
    /// the next run goes on after it instead of starting over (or forgetting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_after: Option<String>,
    /// Reconciliations completed since tombstoned ids were last re-checked.
    #[serde(default)]
    pub reconciles_since_recheck: u32,
}

impl JiraCursor {
    /// The reconciliation schedule as one ordered key.
    /// `reconcile_after` goes up batch by batch and back to `None` only together with
    /// a later `reconciled_at`, so the key never goes down.
    fn schedule(&self) -> (Option<DateTime<Utc>>, u32, Option<&str>) {
        (self.reconciled_at, self.runs_since_reconcile, self.reconcile_after.as_deref())
    }

    /// This cursor with `updated` raised to at least `seen`.
    pub fn advanced_to(&self, seen: Option<DateTime<Utc>>) -> Self {
        Self { updated: self.updated.max(seen), ..self.clone() }
    }
}

/// A product order: a cursor is ahead of another when both its `updated` and its
/// reconciliation schedule are; cursors that disagree are incomparable (and refused).
impl PartialOrd for JiraCursor {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        let by_updated = self.updated.cmp(&other.updated);
        let by_schedule = self.schedule().cmp(&other.schedule());
        match (by_updated, by_schedule) {
            (a, b) if a == b => Some(a),
            (Ordering::Equal, b) => Some(b),
            (a, Ordering::Equal) => Some(a),
            _ => None,
        }
    }
}

/// The local `yyyy-MM-dd HH:mm` Jira should read for `cursor − overlap` in `zone`.
///
/// `zone = None` (an unknown zone name) widens the window by 14 hours, the largest
/// UTC offset there is, so the bound is safe whatever zone Jira actually uses.
pub fn lower_bound(cursor: DateTime<Utc>, overlap: Duration, zone: Option<Tz>) -> NaiveDateTime {
    let target = cursor - overlap;
    let Some(zone) = zone else {
        return floor_minute((target - Duration::hours(14)).naive_utc());
    };
    let floored = floor_minute(target.with_timezone(&zone).naive_local());
    match zone.from_local_datetime(&floored) {
        LocalResult::Single(_) => floored,
        LocalResult::Ambiguous(earliest, latest) => {
            if latest.with_timezone(&Utc) <= target {
                floored
            } else {
                // Jira may read the later occurrence: step back by the fold's width.
                floored - (latest.with_timezone(&Utc) - earliest.with_timezone(&Utc))
            }
        }
        // A gap cannot come out of a real instant; be safe anyway.
        LocalResult::None => floored - Duration::hours(1),
    }
}

fn floor_minute(local: NaiveDateTime) -> NaiveDateTime {
    local.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(local)
}

/// The JQL of one run: the configured query, bounded below when a cursor exists,
/// in the one order that makes `max(updated)` a safe cursor.
pub fn run_jql(configured: &str, bound: Option<NaiveDateTime>) -> String {
    match bound {
        Some(bound) => format!(
            "({}) AND updated >= \"{}\" ORDER BY updated ASC, key ASC",
            configured.trim(),
            bound.format("%Y-%m-%d %H:%M")
        ),
        None => format!("({}) ORDER BY updated ASC, key ASC", configured.trim()),
    }
}

/// The scope query for a batch of issue ids that exist (digits only; others are
/// dropped). Jira refuses it with 400 if any id names a deleted issue.
pub fn reconcile_jql(configured: &str, ids: &[&str]) -> String {
    let list: Vec<&str> =
        ids.iter().copied().filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).collect();
    format!("({}) AND id in ({})", configured.trim(), list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).expect("valid test time")
    }

    fn fmt(t: NaiveDateTime) -> String {
        t.format("%Y-%m-%d %H:%M").to_string()
    }

    /// Every instant Jira could read the bound as (both sides of a fold).
    fn readings(bound: NaiveDateTime, zone: Tz) -> Vec<DateTime<Utc>> {
        match zone.from_local_datetime(&bound) {
            LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
            LocalResult::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
            LocalResult::None => vec![],
        }
    }

    #[test]
    fn converts_to_the_users_zone_and_floors_to_the_minute() {
        let la: Tz = "America/Los_Angeles".parse().expect("zone");
        let bound = lower_bound(utc("2024-06-01T17:05:42.123Z"), Duration::minutes(1), Some(la));
        assert_eq!(fmt(bound), "2024-06-01 10:04");
        let sydney: Tz = "Australia/Sydney".parse().expect("zone");
        let bound = lower_bound(utc("2024-06-01T17:05:00Z"), Duration::minutes(1), Some(sydney));
        assert_eq!(fmt(bound), "2024-06-02 03:04");
        let bound = lower_bound(utc("2024-06-01T17:05:00Z"), Duration::zero(), Some(Tz::UTC));
        assert_eq!(fmt(bound), "2024-06-01 17:05");
    }

    #[test]
    fn dst_fold_never_reads_later_than_the_cursor() {
        let la: Tz = "America/Los_Angeles".parse().expect("zone");
        // 2024-11-03: 01:00–02:00 local happens twice (PDT, then PST).
        for cursor in ["2024-11-03T08:30:10Z", "2024-11-03T09:30:10Z", "2024-11-03T08:59:59Z", "2024-11-03T10:00:30Z"] {
            let cursor = utc(cursor);
            let bound = lower_bound(cursor, Duration::minutes(1), Some(la));
            let readings = readings(bound, la);
            assert!(!readings.is_empty());
            for reading in readings {
                assert!(reading <= cursor - Duration::minutes(1), "{cursor}: {} reads {reading}", fmt(bound));
                assert!(cursor - reading <= Duration::minutes(62), "{cursor}: window too wide ({reading})");
            }
        }
        // First occurrence of 01:30: Jira reading the second one would skip an hour.
        assert_eq!(fmt(lower_bound(utc("2024-11-03T08:30:10Z"), Duration::minutes(1), Some(la))), "2024-11-03 00:29");
        // Second occurrence: either reading is safe, keep the tight bound.
        assert_eq!(fmt(lower_bound(utc("2024-11-03T09:30:10Z"), Duration::minutes(1), Some(la))), "2024-11-03 01:29");
    }

    #[test]
    fn dst_gap_and_southern_hemisphere() {
        let la: Tz = "America/Los_Angeles".parse().expect("zone");
        // 2024-03-10 02:00 PST jumps to 03:00 PDT.
        let cursor = utc("2024-03-10T10:00:30Z"); // 03:00:30 PDT
        let bound = lower_bound(cursor, Duration::minutes(1), Some(la));
        assert_eq!(fmt(bound), "2024-03-10 01:59");
        let sydney: Tz = "Australia/Sydney".parse().expect("zone");
        // 2024-04-07 03:00 AEDT falls back to 02:00 AEST.
        for cursor in ["2024-04-06T15:30:00Z", "2024-04-06T16:30:00Z"] {
            let cursor = utc(cursor);
            let bound = lower_bound(cursor, Duration::minutes(1), Some(sydney));
            for reading in readings(bound, sydney) {
                assert!(reading <= cursor - Duration::minutes(1), "{cursor}: {reading}");
            }
        }
    }

    #[test]
    fn unknown_zone_widens_the_window() {
        let cursor = utc("2024-06-01T17:05:00Z");
        let bound = lower_bound(cursor, Duration::minutes(1), None);
        for zone in ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC", "Asia/Kolkata"] {
            let zone: Tz = zone.parse().expect("zone");
            for reading in readings(bound, zone) {
                assert!(reading <= cursor, "{zone}: {reading}");
            }
        }
    }

    #[test]
    fn jql_shapes() {
        let bound = NaiveDateTime::parse_from_str("2024-06-01 10:04", "%Y-%m-%d %H:%M").expect("time");
        assert_eq!(
            run_jql("project = PROD ", Some(bound)),
            "(project = PROD) AND updated >= \"2024-06-01 10:04\" ORDER BY updated ASC, key ASC"
        );
        assert_eq!(run_jql("project = PROD", None), "(project = PROD) ORDER BY updated ASC, key ASC");
        assert_eq!(
            reconcile_jql("project = PROD", &["10001", "x) OR (1=1", "10002"]),
            "(project = PROD) AND id in (10001, 10002)"
        );
    }

    #[test]
    fn cursor_order_is_a_product_order() {
        let t1 = Some(utc("2024-06-01T00:00:00Z"));
        let t2 = Some(utc("2024-06-02T00:00:00Z"));
        let base = JiraCursor { updated: t1, reconciled_at: t1, runs_since_reconcile: 3, ..JiraCursor::default() };
        let later = base.advanced_to(t2);
        assert!(later > base);
        assert_eq!(base.advanced_to(None), base);
        let reconciled = JiraCursor { reconciled_at: t2, runs_since_reconcile: 0, ..later.clone() };
        assert!(reconciled > later);
        let one_more_run = JiraCursor { runs_since_reconcile: 4, ..base.clone() };
        assert!(one_more_run > base);
        let backwards = JiraCursor { updated: None, runs_since_reconcile: 9, ..base.clone() };
        assert_eq!(backwards.partial_cmp(&base), None);
        // Mid-reconciliation, the position only goes up; finishing resets it with a later time.
        let mid = JiraCursor { reconcile_after: Some("10050".into()), ..base.clone() };
        let further = JiraCursor { reconcile_after: Some("10099".into()), ..base.clone() };
        assert!(mid > base && further > mid);
        let done = JiraCursor { reconciled_at: t2, runs_since_reconcile: 0, reconcile_after: None, ..further.clone() };
        assert!(done > further);
        assert!(JiraCursor { reconcile_after: None, ..further.clone() } < further, "forgetting is going back");
    }
}

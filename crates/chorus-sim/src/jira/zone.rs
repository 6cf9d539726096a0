//! The simulated Jira user's time zone, with hand-written DST rules.
//!
//! Jira reads JQL dates (`"yyyy-MM-dd HH:mm"`) in the calling user's zone and renders
//! timestamps with that zone's offset. The simulator implements the zones it offers
//! by their current rules (US Pacific since 2007, New South Wales since 2008) instead
//! of sharing a time-zone library with the connector, so the two cannot agree by
//! accident. Invariant: when a local time is ambiguous (a DST fold) it is read as the
//! LATER instant, the harsher of the two for a client computing a lower bound; a
//! local time inside a gap is read as if standard time still applied (as Java does).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc, Weekday};

/// A zone the simulated user can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimZone {
    LosAngeles,
    Sydney,
    Utc,
}

impl SimZone {
    /// The IANA name `/myself` reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::LosAngeles => "America/Los_Angeles",
            Self::Sydney => "Australia/Sydney",
            Self::Utc => "UTC",
        }
    }

    fn standard_offset(self) -> i64 {
        match self {
            Self::LosAngeles => -8 * 3600,
            Self::Sydney => 10 * 3600,
            Self::Utc => 0,
        }
    }

    /// The UTC offset in seconds in force at `at`.
    pub fn offset_at(self, at: DateTime<Utc>) -> i64 {
        let year = at.year();
        let std = self.standard_offset();
        let dst = std + 3600;
        match self {
            Self::Utc => 0,
            Self::LosAngeles => {
                // 02:00 PST on the second Sunday of March → 02:00 PDT on the first Sunday of November.
                let start = utc_of(nth_sunday(year, 3, 2), 2, std);
                let end = utc_of(nth_sunday(year, 11, 1), 2, dst);
                if at >= start && at < end {
                    dst
                } else {
                    std
                }
            }
            Self::Sydney => {
                // 03:00 AEDT on the first Sunday of April → 02:00 AEST on the first Sunday of October.
                let end = utc_of(nth_sunday(year, 4, 1), 3, dst);
                let start = utc_of(nth_sunday(year, 10, 1), 2, std);
                if at < end || at >= start {
                    dst
                } else {
                    std
                }
            }
        }
    }

    /// Wall-clock time at `at`.
    pub fn to_local(self, at: DateTime<Utc>) -> NaiveDateTime {
        at.naive_utc() + Duration::seconds(self.offset_at(at))
    }

    /// The instant a wall-clock time names (later one in a fold; standard offset in a gap).
    pub fn from_local(self, local: NaiveDateTime) -> DateTime<Utc> {
        let std = self.standard_offset();
        let candidates = [std, std + 3600];
        let mut valid: Vec<DateTime<Utc>> = candidates
            .iter()
            .map(|offset| (local - Duration::seconds(*offset)).and_utc())
            .filter(|instant| self.to_local(*instant) == local)
            .collect();
        valid.sort();
        valid.pop().unwrap_or_else(|| (local - Duration::seconds(std)).and_utc())
    }

    /// Jira's timestamp format in this zone: `2024-05-01T09:00:00.000-0700`.
    pub fn render(self, at: DateTime<Utc>) -> String {
        let offset = self.offset_at(at);
        let sign = if offset < 0 { '-' } else { '+' };
        let minutes = offset.abs() / 60;
        format!("{}{sign}{:02}{:02}", self.to_local(at).format("%Y-%m-%dT%H:%M:%S%.3f"), minutes / 60, minutes % 60)
    }
}

fn nth_sunday(year: i32, month: u32, n: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n as u8).unwrap_or_default()
}

fn utc_of(day: NaiveDate, hour: u32, offset: i64) -> DateTime<Utc> {
    let local = day.and_hms_opt(hour, 0, 0).unwrap_or_default();
    (local - Duration::seconds(offset)).and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.to_utc()).unwrap_or_default()
    }

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap_or_default()
    }

    #[test]
    fn pacific_rules() {
        let la = SimZone::LosAngeles;
        assert_eq!(la.render(utc("2024-06-01T17:05:42.123Z")), "2024-06-01T10:05:42.123-0700");
        assert_eq!(la.render(utc("2024-01-01T00:00:00Z")), "2023-12-31T16:00:00.000-0800");
        // Fold on 2024-11-03: 01:30 happens at 08:30Z and 09:30Z; the later one wins.
        assert_eq!(la.from_local(local("2024-11-03 01:30")), utc("2024-11-03T09:30:00Z"));
        // Gap on 2024-03-10: 02:30 does not exist; read with the standard offset.
        assert_eq!(la.from_local(local("2024-03-10 02:30")), utc("2024-03-10T10:30:00Z"));
        assert_eq!(la.from_local(local("2024-06-01 10:04")), utc("2024-06-01T17:04:00Z"));
    }

    #[test]
    fn sydney_rules() {
        let syd = SimZone::Sydney;
        assert_eq!(syd.render(utc("2024-06-01T00:00:00Z")), "2024-06-01T10:00:00.000+1000");
        assert_eq!(syd.render(utc("2024-12-01T00:00:00Z")), "2024-12-01T11:00:00.000+1100");
        // 2024-04-07 03:00 AEDT → 02:00 AEST: 02:30 happens twice.
        assert_eq!(syd.from_local(local("2024-04-07 02:30")), utc("2024-04-06T16:30:00Z"));
    }
}

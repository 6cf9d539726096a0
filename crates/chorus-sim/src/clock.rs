//! `SimClock`: the simulators' notion of "now", at second granularity.
//!
//! Source APIs stamp records with whole seconds, so many records share one second;
//! the clock truncates to the second to reproduce that. Tests inject a fixed clock to
//! place an edit exactly on a cursor boundary. Invariant: `now()` never has a
//! sub-second part, and a fixed clock only moves when the test moves it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// A shareable clock: the system clock, or a fixed time that tests move by hand.
#[derive(Debug, Clone, Default)]
pub struct SimClock {
    fixed: Arc<Mutex<Option<DateTime<Utc>>>>,
}

impl SimClock {
    /// Follows the system clock (truncated to the second).
    pub fn system() -> Self {
        Self::default()
    }

    /// Stands still at `at` (truncated to the second) until `set` or `advance`.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        let clock = Self::default();
        clock.set(at);
        clock
    }

    /// The current time, whole seconds.
    pub fn now(&self) -> DateTime<Utc> {
        let fixed = *self.fixed.lock().unwrap_or_else(PoisonError::into_inner);
        truncate(fixed.unwrap_or_else(Utc::now))
    }

    /// Fixes the clock at `at` (truncated to the second).
    pub fn set(&self, at: DateTime<Utc>) {
        *self.fixed.lock().unwrap_or_else(PoisonError::into_inner) = Some(truncate(at));
    }

    /// Moves a fixed clock forward (fixes a system clock at now + `by`).
    pub fn advance(&self, by: Duration) {
        let delta = TimeDelta::from_std(by).unwrap_or(TimeDelta::zero());
        let next = self.now() + delta;
        self.set(next);
    }
}

/// Drops the sub-second part.
pub fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::seconds(1)).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_truncates_and_advances() {
        let at = DateTime::parse_from_rfc3339("2025-03-01T10:00:00.750Z").map(|t| t.to_utc());
        let clock = SimClock::fixed(at.expect("valid literal"));
        assert_eq!(clock.now().to_rfc3339(), "2025-03-01T10:00:00+00:00");
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now().to_rfc3339(), "2025-03-01T10:00:02+00:00");
    }
}

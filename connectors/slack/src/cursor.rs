//! Where a Slack run resumes: per channel, the newest top-level message read in full.
//!
//! `Ts` is Slack's message timestamp (`"1512085950.000216"`), kept exact as seconds
//! and microseconds, never a float (a float loses the last digits, and with them the
//! message's identity). `SlackCursor` maps channel ids to the `ts` of the newest
//! top-level message a completed scan of that channel read, with its thread. Invariant:
//! a channel's entry moves only when a scan of the channel's whole window is done
//! (history is served newest first, so an interrupted scan has read the newest
//! messages but not older ones in its window); the order of cursors is "every channel
//! at least as far", so the engine's refusal of a cursor moving backwards applies to
//! each channel.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Slack's message timestamp: also a message's id within its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts {
    pub secs: i64,
    pub micros: u32,
}

impl Ts {
    /// Parses `"1512085950.000216"` (or whole seconds).
    pub fn parse(text: &str) -> Option<Self> {
        let (secs, micros) = text.trim().split_once('.').unwrap_or((text.trim(), "0"));
        let secs = secs.parse::<i64>().ok().filter(|s| *s >= 0)?;
        if micros.is_empty() || micros.len() > 6 || !micros.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let scale = 10_u32.pow(6 - u32::try_from(micros.len()).ok()?);
        Some(Self { secs, micros: micros.parse::<u32>().ok()? * scale })
    }

    /// This `ts` minus whole days (for the look-back window), never below zero.
    pub fn minus_days(self, days: u32) -> Self {
        Self { secs: (self.secs - i64::from(days) * 86_400).max(0), micros: self.micros }
    }

    pub fn to_datetime(self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(self.secs, self.micros * 1_000).unwrap_or_default()
    }

    /// The permalink form: `p` followed by the digits without the dot.
    pub fn permalink_id(self) -> String {
        format!("p{}{:06}", self.secs, self.micros)
    }
}

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.secs, self.micros)
    }
}

impl Serialize for Ts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ts::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a slack ts")))
    }
}

/// Per channel id, the newest top-level message a completed scan read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlackCursor {
    pub channels: BTreeMap<String, Ts>,
}

impl PartialOrd for SlackCursor {
    /// `Greater` when every channel of `other` is here and no earlier; `None` when each
    /// is ahead somewhere (never produced by a run, refused by the engine).
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        let covers = |a: &Self, b: &Self| b.channels.iter().all(|(id, ts)| a.channels.get(id).is_some_and(|t| t >= ts));
        match (covers(self, other), covers(other, self)) {
            (true, true) => Some(Ordering::Equal),
            (true, false) => Some(Ordering::Greater),
            (false, true) => Some(Ordering::Less),
            (false, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_is_exact_and_ordered() {
        let a = Ts::parse("1512085950.000216").expect("ts");
        let b = Ts::parse("1512085950.000217").expect("ts");
        assert!(a < b, "a float would make these equal");
        assert_eq!(a.to_string(), "1512085950.000216");
        assert_eq!(a.permalink_id(), "p1512085950000216");
        assert_eq!(Ts::parse("15.5").map(|t| t.micros), Some(500_000));
        for bad in ["", "abc", "1.", "-1.0", "1.1234567"] {
            assert_eq!(Ts::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_cursor_is_ahead_only_when_every_channel_is() {
        let ts = |t: &str| Ts::parse(t).expect("ts");
        let one = SlackCursor { channels: BTreeMap::from([("C1".into(), ts("10.0"))]) };
        let both = SlackCursor { channels: BTreeMap::from([("C1".into(), ts("10.0")), ("C2".into(), ts("5.0"))]) };
        let back = SlackCursor { channels: BTreeMap::from([("C1".into(), ts("9.0")), ("C2".into(), ts("6.0"))]) };
        assert_eq!(both.partial_cmp(&one), Some(Ordering::Greater), "a new channel moves forward");
        assert_eq!(one.partial_cmp(&one.clone()), Some(Ordering::Equal));
        assert_eq!(back.partial_cmp(&both), None, "one channel went backwards");
        assert_eq!(SlackCursor::default().partial_cmp(&one), Some(Ordering::Less));
    }
}

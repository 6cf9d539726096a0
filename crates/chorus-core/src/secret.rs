//! `Secret`: a string that never prints.
//!
//! Tokens, passwords and client secrets live in this type from the moment they are
//! parsed. `Debug` and `Display` print `[redacted]`, and serializing writes
//! `[redacted]` too, so a secret cannot reach a log, an error or a response by
//! accident; code that must send it calls `expose()` at the last moment.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret value whose `Debug`, `Display` and `Serialize` print `[redacted]`.
#[derive(Clone, PartialEq, Eq, JsonSchema)]
#[schemars(transparent)]
pub struct Secret(String);

impl Secret {
    pub const REDACTED: &'static str = "[redacted]";

    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(Self::REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// A serde error message with the offending value cut out.
///
/// serde writes the value it could not use into its message (``invalid type: string
/// "hunter2", expected u32``); when a secret sits in the wrong place that would print
/// it. This keeps what was expected and drops what was found.
pub fn scrub_serde_message(message: &str) -> String {
    let mut out = message.to_owned();
    for marker in ["invalid type: ", "invalid value: ", "invalid length "] {
        while let Some(start) = out.find(marker) {
            let value_start = start + marker.len();
            let end = out[value_start..].find(", expected").map_or(out.len(), |at| value_start + at);
            let label = marker.trim_end_matches([':', ' ']);
            out.replace_range(start..end, &format!("{label} [value hidden]"));
            if !out[start..].contains(marker) {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_lose_the_offending_value() {
        let message = "auth: invalid type: string \"tok-123\", expected a table at line 3";
        assert_eq!(scrub_serde_message(message), "auth: invalid type [value hidden], expected a table at line 3");
        let message = "invalid value: integer `360012345678`, expected u32";
        assert_eq!(scrub_serde_message(message), "invalid value [value hidden], expected u32");
        assert_eq!(scrub_serde_message("missing field `id`"), "missing field `id`");
    }

    #[test]
    fn never_prints_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
        assert_eq!(serde_json::to_string(&secret).unwrap_or_default(), "\"[redacted]\"");
        assert_eq!(secret.expose(), "hunter2");
    }
}

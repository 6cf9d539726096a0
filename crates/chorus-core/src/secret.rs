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

/// The serde messages that carry a value the input supplied, with the label each keeps.
///
/// serde's `de::Error` writes `invalid type: {found}, expected {exp}`, `invalid value:
/// {found}, expected {exp}`, `invalid length {len}, expected {exp}` and `unknown variant
/// `{found}`, expected {one of …}` (or `…, there are no variants`). Field names
/// (`unknown field`, `missing field`, `duplicate field`) are keys of the document, not
/// values, and stay: they are what the reader needs to fix the file.
const VALUE_MARKERS: [(&str, &str); 4] = [
    ("invalid type: ", "invalid type "),
    ("invalid value: ", "invalid value "),
    ("invalid length ", "invalid length "),
    ("unknown variant ", "unknown variant "),
];

/// Where the hidden value ends: serde follows it with what it expected.
const VALUE_ENDS: [&str; 2] = [", expected", ", there are no variants"];

/// A serde error message with the offending value cut out.
///
/// serde writes the value it could not use into its message (``invalid type: string
/// "hunter2", expected u32``); when a secret sits in the wrong place that would print
/// it. This keeps what was expected and drops what was found, writing
/// [`Secret::REDACTED`] in its place. One pass over the message: the output is never
/// searched again, so a label that repeats its marker cannot loop, and the time is
/// linear in the message length.
pub fn scrub_serde_message(message: &str) -> String {
    let bytes = message.as_bytes();
    let mut out = String::with_capacity(message.len());
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        let Some((marker, label)) = VALUE_MARKERS.iter().find(|(marker, _)| bytes[at..].starts_with(marker.as_bytes()))
        else {
            at += 1;
            continue;
        };
        // Markers are ASCII, so `at` and `value_start` fall on char boundaries.
        let value_start = at + marker.len();
        let value = &message[value_start..];
        let value_len = value_len(value);
        out.push_str(&message[copied..at]);
        out.push_str(label);
        out.push_str(Secret::REDACTED);
        at = value_start + value_len;
        copied = at;
    }
    out.push_str(&message[copied..]);
    out
}

/// The length of the value at the start of `rest`: up to the first of `VALUE_ENDS`, or
/// all of it. Reads `rest` once, only as far as that end.
fn value_len(rest: &str) -> usize {
    rest.match_indices(", ")
        .map(|(at, _)| at)
        .find(|&at| VALUE_ENDS.iter().any(|end| rest[at..].starts_with(end)))
        .unwrap_or(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde::de::{Error as _, Unexpected};

    /// Every message serde's `de::Error` can build, made by serde itself.
    fn serde_message(make: impl FnOnce() -> serde_json::Error) -> String {
        make().to_string()
    }

    #[test]
    fn serde_messages_lose_the_offending_value() {
        let message = "auth: invalid type: string \"tok-123\", expected a table at line 3";
        assert_eq!(scrub_serde_message(message), "auth: invalid type [redacted], expected a table at line 3");
        let message = "invalid value: integer `360012345678`, expected u32";
        assert_eq!(scrub_serde_message(message), "invalid value [redacted], expected u32");
        assert_eq!(scrub_serde_message("missing field `id`"), "missing field `id`");
    }

    #[test]
    fn every_serde_marker_terminates_and_hides_what_was_found() {
        let secret = "tok-123";
        let cases = [
            (
                serde_message(|| serde_json::Error::invalid_type(Unexpected::Str(secret), &"a table")),
                "invalid type [redacted], expected a table",
            ),
            (
                serde_message(|| serde_json::Error::invalid_value(Unexpected::Str(secret), &"a url")),
                "invalid value [redacted], expected a url",
            ),
            (
                serde_message(|| serde_json::Error::invalid_length(0, &"a table")),
                "invalid length [redacted], expected a table",
            ),
            (
                serde_message(|| serde_json::Error::unknown_variant(secret, &["basic", "bearer"])),
                "unknown variant [redacted], expected `basic` or `bearer`",
            ),
            (
                serde_message(|| serde_json::Error::unknown_variant(secret, &[])),
                "unknown variant [redacted], there are no variants",
            ),
            (
                serde_message(|| serde_json::Error::unknown_field("tokn", &["token"])),
                "unknown field `tokn`, expected `token`",
            ),
            (
                serde_message(|| serde_json::Error::unknown_field("tokn", &[])),
                "unknown field `tokn`, there are no fields",
            ),
            (serde_message(|| serde_json::Error::missing_field("token")), "missing field `token`"),
            (serde_message(|| serde_json::Error::duplicate_field("token")), "duplicate field `token`"),
        ];
        for (message, scrubbed) in cases {
            assert_eq!(scrub_serde_message(&message), scrubbed, "from {message:?}");
            assert_eq!(scrub_serde_message(scrubbed), scrubbed, "scrubbing twice changes nothing");
        }
    }

    #[test]
    fn a_value_without_an_expectation_is_hidden_to_the_end() {
        assert_eq!(scrub_serde_message("invalid length 3"), "invalid length [redacted]");
        assert_eq!(scrub_serde_message("x: invalid type: string \"héllo\""), "x: invalid type [redacted]");
    }

    #[test]
    fn many_markers_scrub_in_linear_time() {
        let message = "invalid length 0, expected a table; ".repeat(50_000);
        let started = std::time::Instant::now();
        let scrubbed = scrub_serde_message(&message);
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "took {:?}", started.elapsed());
        assert_eq!(scrubbed.matches("invalid length [redacted], expected a table; ").count(), 50_000);
    }

    #[test]
    fn never_prints_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
        assert_eq!(serde_json::to_string(&secret).unwrap_or_default(), "\"[redacted]\"");
        assert_eq!(secret.expose(), "hunter2");
    }
}

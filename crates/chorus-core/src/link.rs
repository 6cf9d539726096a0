//! Provenance of links: why an item is attached to an account or a request.
//!
//! The invariant kept by the store: a `Manual` link always wins, and no automatic
//! resolution (a sync, a re-resolution) ever overwrites it.

crate::string_enum! {
    /// Why an item is linked to an account or a request.
    pub enum LinkProvenance ("link provenance") {
        /// A person linked it by hand. Never overwritten by a sync.
        Manual => "manual",
        /// The source named the account explicitly (an organization id, a custom field).
        SourceField => "source_field",
        /// The author's email belongs to a known contact of the account.
        ContactEmail => "contact_email",
        /// The author's email domain is one of the account's domains (free-mail never matches).
        EmailDomain => "email_domain",
        /// The item's text mentions an issue key (`PROD-123`) that anchors a request.
        KeyMention => "key_mention",
        /// A person accepted a suggested link.
        Suggestion => "suggestion",
    }
}

impl LinkProvenance {
    /// Whether an automatic resolution may replace a link of this provenance.
    pub fn is_automatic(self) -> bool {
        !matches!(self, Self::Manual | Self::Suggestion)
    }
}

/// A string that names none of an enum's values; the message lists the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{got}`; expected one of: {known}")]
pub struct ParseEnumError {
    pub what: &'static str,
    pub got: String,
    pub known: String,
}

impl ParseEnumError {
    pub fn new<const N: usize>(what: &'static str, got: &str, known: [&str; N]) -> Self {
        Self { what, got: got.to_owned(), known: known.join(", ") }
    }
}

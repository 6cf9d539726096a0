//! Word lists the simulators draw people and feedback from. Where two simulators
//! spell a list differently (display names with accents, or lowercase ASCII for email
//! local parts), both spellings are kept, so each simulator's data stays as it was.

/// First names as people write them (Zendesk display names).
pub(crate) const FIRST_NAMES: &[&str] =
    &["Ana", "Ben", "Chloé", "Dev", "Emma", "Farid", "Grace", "Hiro", "Inès", "Jonas", "Kemi", "Liam"];
/// Last names as people write them (Zendesk display names).
pub(crate) const LAST_NAMES: &[&str] =
    &["Alvarez", "Brown", "Chen", "Dubois", "Eze", "Fischer", "García", "Haddad", "Ito", "Jensen"];
/// The first names in lowercase ASCII (feed email local parts).
pub(crate) const FIRST_NAMES_ASCII: &[&str] =
    &["ana", "ben", "chloe", "dev", "emma", "farid", "grace", "hiro", "ines", "jonas", "kemi", "liam"];
/// The last names in lowercase ASCII (feed email local parts).
pub(crate) const LAST_NAMES_ASCII: &[&str] =
    &["alvarez", "brown", "chen", "dubois", "eze", "fischer", "garcia", "haddad", "ito", "jensen"];

/// Free-mail domains: people on them belong to no organization.
pub(crate) const FREE_MAIL: &[&str] = &["gmail.com", "outlook.com", "yahoo.com"];

/// Features tickets ask about (Zendesk).
pub(crate) const TICKET_FEATURES: &[&str] = &[
    "CSV export",
    "SSO with Okta",
    "dark mode",
    "bulk edit",
    "audit log",
    "Slack integration",
    "webhook retries",
    "custom fields",
    "offline mode",
    "usage reports",
];
/// Features feedback records ask about (feed).
pub(crate) const FEED_FEATURES: &[&str] = &[
    "CSV export",
    "SSO with Okta",
    "dark mode",
    "bulk edit",
    "audit log",
    "Slack integration",
    "webhook retries",
    "custom fields",
    "offline mode on mobile",
    "usage-based billing reports",
];

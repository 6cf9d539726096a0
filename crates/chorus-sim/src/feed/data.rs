//! The seeded generator of realistic feed records.
//!
//! Records look like what a feedback feed carries: four kinds, statuses per kind,
//! authors at customer domains (some on free-mail with no account), tags, and
//! occasional issue-key mentions. Timestamps are whole seconds and cluster: many
//! records share one second, as bulk imports and automation produce. Invariant: the
//! same seed and clock give the same records.

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::FeedRecord;
use crate::vocab::{FEED_FEATURES as FEATURES, FIRST_NAMES_ASCII as FIRST, FREE_MAIL, LAST_NAMES_ASCII as LAST};

const ACCOUNTS: &[(&str, &str)] = &[
    ("ACME-1", "acme.example"),
    ("GLOBEX-2", "globex.example"),
    ("INITECH-3", "initech.example"),
    ("UMBRELLA-4", "umbrella.example"),
    ("HOOLI-5", "hooli.example"),
    ("STARK-6", "stark.example"),
    ("WAYNE-7", "wayne.example"),
    ("WONKA-8", "wonka.example"),
];

const TAGS: &[&str] = &["enterprise", "onboarding", "billing", "ui", "api", "performance", "security", "mobile"];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from.choose(rng).copied().unwrap_or_default()
}

/// One generated record with id `FB-<number>`, last updated at `updated_at`.
pub(super) fn record(rng: &mut StdRng, number: u64, updated_at: DateTime<Utc>) -> FeedRecord {
    let feature = pick(rng, FEATURES);
    let (kind, title, status) = match rng.gen_range(0..10) {
        0..=2 => {
            let title = match rng.gen_range(0..3) {
                0 => format!("{feature} fails with an error 500"),
                1 => format!("{feature} is very slow on large workspaces"),
                _ => format!("Crash when using {feature}"),
            };
            ("bug", title, pick(rng, &["open", "in_progress", "resolved", "closed"]))
        }
        3..=5 => {
            let title = match rng.gen_range(0..3) {
                0 => format!("Please add {feature}"),
                1 => format!("Support for {feature}"),
                _ => format!("{feature}: allow configuring it per team"),
            };
            ("feature_request", title, pick(rng, &["open", "planned", "shipped", "declined"]))
        }
        6..=8 => {
            let title = match rng.gen_range(0..3) {
                0 => format!("How do I set up {feature}?"),
                1 => format!("Question about {feature} and billing"),
                _ => format!("Cannot find the {feature} settings"),
            };
            ("support_ticket", title, pick(rng, &["new", "open", "pending", "solved"]))
        }
        _ => {
            let title = match rng.gen_range(0..2) {
                0 => format!("Deal blocked: needs {feature}"),
                _ => format!("Prospect requires {feature} before signing"),
            };
            ("sales_blocker", title, pick(rng, &["open", "won", "lost"]))
        }
    };
    let first = pick(rng, FIRST);
    let last = pick(rng, LAST);
    let (account_id, domain) = match ACCOUNTS.choose(rng) {
        Some(&(id, domain)) if rng.gen_bool(0.85) => (rng.gen_bool(0.85).then(|| id.to_owned()), domain.to_owned()),
        _ => (None, pick(rng, FREE_MAIL).to_owned()),
    };
    let mut body = format!(
        "{} here. We rely on {feature} every day and this matters to our team. {}",
        capitalize(first),
        match rng.gen_range(0..4) {
            0 => "It worked last week.",
            1 => "Several colleagues asked about it too.",
            2 => "This is blocking our renewal discussion.",
            _ => "Happy to jump on a call.",
        }
    );
    if rng.gen_bool(0.15) {
        body.push_str(&format!(" Possibly related to PROD-{}.", rng.gen_range(100..140)));
    }
    let tag_count = rng.gen_range(0..=3);
    let mut tags: Vec<String> = TAGS.choose_multiple(rng, tag_count).map(|t| (*t).to_owned()).collect();
    tags.sort();
    let age = TimeDelta::seconds(rng.gen_range(0..30 * 24 * 3600));
    let id = format!("FB-{number}");
    FeedRecord {
        url: format!("https://feed.example/items/{id}"),
        id,
        kind: kind.to_owned(),
        title,
        body,
        status: status.to_owned(),
        author_email: format!("{first}.{last}@{domain}"),
        author_name: format!("{} {}", capitalize(first), capitalize(last)),
        account_id,
        tags,
        created_at: updated_at - age,
        updated_at,
        deleted: false,
    }
}

/// `n` records spread over the 90 days before `end`, many sharing a second.
pub(super) fn records(rng: &mut StdRng, n: u64, end: DateTime<Utc>) -> Vec<FeedRecord> {
    let span = 90 * 24 * 3600_i64;
    let step = (span / i64::try_from(n.max(1)).unwrap_or(i64::MAX)).max(1);
    let mut at = end - TimeDelta::seconds(span);
    (1..=n)
        .map(|number| {
            if !rng.gen_bool(0.35) {
                at += TimeDelta::seconds(rng.gen_range(1..=2 * step));
            }
            at = at.min(end);
            record(rng, number, at)
        })
        .collect()
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

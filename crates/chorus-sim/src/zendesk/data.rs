//! The seeded generator of a realistic Zendesk account: organizations with domains and
//! revenue fields, end users at those domains (and some on free mail, with no
//! organization), agents, and tickets of every kind with HTML bodies, public replies,
//! internal notes and satisfaction ratings.
//!
//! Timestamps are whole seconds and cluster (groups of tickets share one second, as
//! bulk imports and triggers produce), and a few tickets are already deleted.
//! Invariant: the same seed and clock give the same account.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::json;

use super::{SimComment, SimOrganization, SimTicket, SimUser};
use crate::vocab::{FIRST_NAMES as FIRST, FREE_MAIL, LAST_NAMES as LAST, TICKET_FEATURES as FEATURES};

const COMPANIES: &[(&str, &str, &str)] = &[
    ("Acme Corporation", "acme.example", "enterprise"),
    ("Globex", "globex.example", "enterprise"),
    ("Initech", "initech.example", "mid-market"),
    ("Umbrella Health", "umbrella.example", "enterprise"),
    ("Hooli", "hooli.example", "mid-market"),
    ("Stark Logistics", "stark.example", "smb"),
    ("Wayne Foods", "wayne.example", "smb"),
    ("Wonka Retail", "wonka.example", "mid-market"),
    ("Soylent Labs", "soylent.example", "smb"),
    ("Tyrell Systems", "tyrell.example", "enterprise"),
];

const TAGS: &[&str] = &["enterprise", "onboarding", "billing", "ui", "api", "performance", "mobile"];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from.choose(rng).copied().unwrap_or_default()
}

/// The organization's `external_id`: the first two name the Salesforce simulator's
/// Acme Corp and Globex accounts (18- and 15-character forms), so a sync of both merges
/// them by id although their domains differ; the rest hold a legacy CRM number.
fn crm_id(index: usize) -> String {
    match index {
        0 => crate::salesforce::customer_account_id(0),
        1 => crate::salesforce::customer_account_id(1)[..15].to_owned(),
        _ => format!("SF-{:05}", 1000 + index),
    }
}

/// Organizations with ids from `first_id`, updated at or before `until`.
pub(super) fn organizations(rng: &mut StdRng, count: usize, first_id: u64, until: i64) -> Vec<SimOrganization> {
    (0..count)
        .map(|i| {
            let (name, domain, segment) = COMPANIES[i % COMPANIES.len()];
            let round = i / COMPANIES.len();
            let (name, domain) = if round == 0 {
                (name.to_owned(), domain.to_owned())
            } else {
                (
                    format!("{name} {}", round + 1),
                    format!("{}{}.example", domain.trim_end_matches(".example"), round + 1),
                )
            };
            let arr: i64 = match segment {
                "enterprise" => rng.gen_range(150..900) * 1000,
                "mid-market" => rng.gen_range(40..150) * 1000,
                _ => rng.gen_range(5..40) * 1000,
            };
            let created = until - rng.gen_range(200..400) * 86_400;
            SimOrganization {
                id: first_id + i as u64,
                name,
                domain_names: vec![domain],
                external_id: Some(crm_id(i)),
                tags: vec![segment.replace('-', "_")],
                organization_fields: json!({"arr": arr, "segment": segment, "renewal_date": "2026-09-30"}),
                created_at: created,
                updated_at: until - rng.gen_range(3_600..30 * 86_400),
                deleted_at: None,
            }
        })
        .collect()
}

/// End users (most at an organization's domain) and a few agents, ids from `first_id`.
pub(super) fn users(
    rng: &mut StdRng,
    count: usize,
    first_id: u64,
    orgs: &[SimOrganization],
    until: i64,
) -> Vec<SimUser> {
    (0..count)
        .map(|i| {
            let first = pick(rng, FIRST);
            let last = pick(rng, LAST);
            let local = format!("{}.{}{}", ascii(first), ascii(last), i);
            let agent = i % 10 == 0;
            let (email, org) = if agent {
                (format!("{local}@support.chorus-sim.example"), None)
            } else if i % 7 == 3 || orgs.is_empty() {
                (format!("{local}@{}", pick(rng, FREE_MAIL)), None)
            } else {
                let org = &orgs[rng.gen_range(0..orgs.len())];
                let domain = org.domain_names.first().cloned().unwrap_or_else(|| "example.com".into());
                (format!("{local}@{domain}"), Some(org.id))
            };
            SimUser {
                id: first_id + i as u64,
                name: format!("{first} {last}"),
                email: Some(email),
                role: if agent { "agent".into() } else { "end-user".into() },
                organization_id: org,
                active: true,
                created_at: until - rng.gen_range(100..300) * 86_400,
                updated_at: until - rng.gen_range(3_600..20 * 86_400),
            }
        })
        .collect()
}

fn ascii(name: &str) -> String {
    name.to_lowercase().replace(['é', 'è'], "e").replace('í', "i")
}

/// Tickets with ids from `first_id`; groups of three share one updated second.
pub(super) fn tickets(rng: &mut StdRng, count: usize, first_id: u64, users: &[SimUser], until: i64) -> Vec<SimTicket> {
    let customers: Vec<&SimUser> = users.iter().filter(|u| u.role == "end-user").collect();
    let agents: Vec<&SimUser> = users.iter().filter(|u| u.role != "end-user").collect();
    let mut next_comment = first_id * 1000;
    let span = 14 * 86_400;
    (0..count)
        .map(|i| {
            let id = first_id + i as u64;
            let requester = customers.get(rng.gen_range(0..customers.len().max(1))).copied();
            let agent_id = agents.get(rng.gen_range(0..agents.len().max(1))).map(|a| a.id);
            let updated = until - span + (i as i64 / 3) * (span / count.max(1) as i64 * 3);
            let created = updated - rng.gen_range(600..5 * 86_400);
            let feature = pick(rng, FEATURES);
            let (subject, html, ticket_type, mut tags) = match rng.gen_range(0..10) {
                0..=2 => (
                    format!("{feature} fails with error 500"),
                    format!("<p>Since this morning <strong>{feature}</strong> fails for our team.</p><ol><li>Open the page</li><li>Click &quot;Run&quot;</li></ol><p>See <a href=\"https://status.chorus-sim.example/incidents/{id}\">the status page</a> &amp; logs.</p>"),
                    Some(if rng.gen_bool(0.5) { "problem" } else { "incident" }),
                    vec![],
                ),
                3..=5 => (
                    format!("Feature request: {feature}"),
                    format!("<p>We would love <em>{feature}</em>.</p><ul><li>It saves hours each week</li><li>Our admins asked twice</li></ul>"),
                    Some("task"),
                    vec!["feature_request".to_owned()],
                ),
                6 => (
                    format!("Blocking our renewal: {feature}"),
                    format!("<p>Procurement will not sign until {feature} is available.</p><p>Thanks,<br>the buying team</p>"),
                    Some("question"),
                    vec!["sales_blocker".to_owned()],
                ),
                _ => (
                    format!("How do I set up {feature}?"),
                    format!("Hi team,\n\nhow do I enable **{feature}**? The [guide](https://help.chorus-sim.example/{id}) is unclear.\n\n- step 1 works\n- step 2 fails"),
                    Some("question"),
                    vec![],
                ),
            };
            tags.push(pick(rng, TAGS).to_owned());
            let status = *["new", "open", "open", "pending", "hold", "solved", "solved", "closed"].choose(rng).unwrap_or(&"open");
            let author = requester.map_or(0, |r| r.id);
            let mut comments = vec![SimComment { id: next_comment, author_id: author, html_body: html.clone(), public: true, created_at: created }];
            next_comment += 1;
            for n in 0..rng.gen_range(0..4) {
                let public = rng.gen_bool(0.6);
                let body = if public {
                    format!("<p>Thanks for the report &mdash; we are looking into {feature}.</p>")
                } else {
                    format!("<p>Internal: linked to <a href=\"https://jira.chorus-sim.example/browse/PROD-{}\">PROD-{}</a></p>", 100 + i, 100 + i)
                };
                let at = created + 60 * (n + 1);
                comments.push(SimComment { id: next_comment, author_id: agent_id.unwrap_or(author), html_body: body, public, created_at: at.min(updated) });
                next_comment += 1;
            }
            let satisfaction = matches!(status, "solved" | "closed").then(|| {
                let score = *["good", "good", "bad", "offered"].choose(rng).unwrap_or(&"offered");
                (id * 10, score.to_owned())
            });
            SimTicket {
                id,
                subject,
                description: super::plain_text(&html),
                ticket_type: ticket_type.map(str::to_owned),
                priority: Some(pick(rng, &["low", "normal", "high", "urgent"]).to_owned()),
                status: if i % 29 == 7 { "deleted".to_owned() } else { status.to_owned() },
                tags,
                requester_id: requester.map(|r| r.id),
                assignee_id: agent_id,
                organization_id: requester.and_then(|r| r.organization_id),
                created_at: created,
                updated_at: updated,
                satisfaction,
                comments,
            }
        })
        .collect()
}

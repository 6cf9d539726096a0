//! Seeded, realistic Jira data: projects, issue types, statuses, customers, comments.
//!
//! Descriptions and comments are real ADF trees with the constructs a converter must
//! handle (headings, bullet and numbered lists, code blocks, mentions, links, emoji,
//! tables, panels). About a third of the issues share one "bulk edit" minute, so
//! pages cut through a single minute. Invariant: the same seed and base time give
//! the same data.

use chrono::{DateTime, Duration, DurationRound, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use super::{SimComment, SimIssue, SimOrg, SimUser};

/// `(key, name, issue types)` of the seeded projects.
pub const PROJECTS: &[(&str, &str, &[&str])] = &[
    ("PROD", "Product", &["Bug", "Story", "Improvement", "Task"]),
    ("SUP", "Customer Support", &["Support", "Bug", "Feature Request"]),
    ("IDEA", "Ideas", &["Idea", "New Feature"]),
];

const STATUSES: &[(&str, &str)] =
    &[("To Do", "new"), ("In Progress", "indeterminate"), ("Waiting for customer", "indeterminate"), ("Done", "done")];
const PRIORITIES: &[&str] = &["Highest", "High", "Medium", "Low"];
const LABELS: &[&str] = &["enterprise", "export", "sso", "billing", "performance", "mobile", "api", "onboarding"];

/// The seeded customer organizations (JSM "Organizations" field).
pub fn organizations() -> Vec<SimOrg> {
    [(1, "Acme Corp"), (2, "Globex"), (3, "Initech"), (4, "Umbrella"), (5, "Hooli")]
        .into_iter()
        .map(|(id, name)| SimOrg { id, name: name.to_owned() })
        .collect()
}

/// Reporters: `(user, organization id)`; one hides their email, one uses free mail.
pub fn customers() -> Vec<(SimUser, Option<u64>)> {
    let user = |id: &str, name: &str, email: Option<&str>| SimUser {
        account_id: id.to_owned(),
        display_name: name.to_owned(),
        email: email.map(str::to_owned),
    };
    vec![
        (user("5b10a2844c20165700ede21a", "Dana Whitfield", Some("dana@acme-corp.com")), Some(1)),
        (user("5b10a2844c20165700ede21b", "Raj Patel", Some("raj.patel@globex.io")), Some(2)),
        (user("5b10a2844c20165700ede21c", "Mei Chen", Some("mei@initech.com")), Some(3)),
        (user("5b10a2844c20165700ede21d", "Lars Olsen", Some("lars@umbrella.co")), Some(4)),
        (user("5b10a2844c20165700ede21e", "Ana Souza", Some("ana.souza@hooli.com")), Some(5)),
        (user("5b10a2844c20165700ede21f", "Sam Jones", Some("sam.jones@gmail.com")), None),
        (user("5b10a2844c20165700ede220", "Private Person", None), Some(1)),
    ]
}

/// The support agents who comment (and the API user).
pub fn agents() -> Vec<SimUser> {
    vec![
        SimUser {
            account_id: "5fc9e78d2730d800760becc4".into(),
            display_name: "Priya Nair".into(),
            email: Some("priya@chorus-demo.example".into()),
        },
        SimUser {
            account_id: "5fc9e78d2730d800760becc5".into(),
            display_name: "Tom Berg".into(),
            email: Some("tom@chorus-demo.example".into()),
        },
    ]
}

const SUMMARIES: &[&str] = &[
    "CSV export times out for large workspaces",
    "SSO login loops on Safari",
    "Add bulk edit for tags",
    "Webhook retries flood our endpoint",
    "Dashboard loads slowly with 10k items",
    "Allow custom fields in the API",
    "Invoices show the wrong currency",
    "Dark mode for the mobile app",
    "Search ignores accented characters",
    "Export audit log to S3",
    "Onboarding checklist skips step 3",
    "Rate limit errors during nightly sync",
];

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

fn paragraph(content: Vec<Value>) -> Value {
    json!({"type": "paragraph", "content": content})
}

fn list_item(t: &str) -> Value {
    json!({"type": "listItem", "content": [paragraph(vec![text(t)])]})
}

/// An ADF description using the constructs picked by `rng`.
pub fn description(rng: &mut StdRng, summary: &str, mention: &SimUser) -> Value {
    let mut content = vec![paragraph(vec![
        text("Reported by "),
        json!({"type": "mention", "attrs": {"id": mention.account_id, "text": format!("@{}", mention.display_name), "accessLevel": ""}}),
        text(&format!(": {summary}. ")),
        json!({"type": "emoji", "attrs": {"shortName": ":warning:", "id": "26a0", "text": "⚠️"}}),
    ])];
    if rng.gen_bool(0.6) {
        content.push(json!({"type": "heading", "attrs": {"level": 3}, "content": [text("Steps to reproduce")]}));
        content.push(json!({"type": "orderedList", "attrs": {"order": 1}, "content": [
            list_item("Open the workspace settings"),
            list_item("Start an export of all items"),
            list_item("Wait two minutes"),
        ]}));
    }
    if rng.gen_bool(0.5) {
        content.push(json!({"type": "bulletList", "content": [
            list_item("Affects the Enterprise plan"),
            list_item("Seen in Chrome and Safari"),
        ]}));
    }
    if rng.gen_bool(0.4) {
        content.push(json!({"type": "codeBlock", "attrs": {"language": "json"}, "content": [
            text("{\"error\": \"timeout\",\n \"after_ms\": 120000}")
        ]}));
    }
    if rng.gen_bool(0.4) {
        content.push(paragraph(vec![
            text("See "),
            json!({"type": "text", "text": "the runbook", "marks": [{"type": "link", "attrs": {"href": "https://docs.example.com/runbook"}}]}),
            text(" for details."),
        ]));
    }
    if rng.gen_bool(0.2) {
        content.push(json!({"type": "panel", "attrs": {"panelType": "info"}, "content": [paragraph(vec![text("Workaround: export per project.")])]}));
    }
    if rng.gen_bool(0.15) {
        content.push(
            json!({"type": "table", "attrs": {"isNumberColumnEnabled": false, "layout": "default"}, "content": [
                {"type": "tableRow", "content": [
                    {"type": "tableHeader", "attrs": {}, "content": [paragraph(vec![text("Plan")])]},
                    {"type": "tableHeader", "attrs": {}, "content": [paragraph(vec![text("Seats")])]}
                ]},
                {"type": "tableRow", "content": [
                    {"type": "tableCell", "attrs": {}, "content": [paragraph(vec![text("Enterprise")])]},
                    {"type": "tableCell", "attrs": {}, "content": [paragraph(vec![text("250")])]}
                ]}
            ]}),
        );
    }
    json!({"type": "doc", "version": 1, "content": content})
}

/// A comment body in ADF.
pub fn comment_body(rng: &mut StdRng) -> Value {
    let lines = [
        "Thanks, we can reproduce this.",
        "Any update? This blocks our renewal.",
        "Internal: linked to the export rewrite.",
        "Customer confirmed the workaround helps.",
        "Same here, +1 from our team.",
    ];
    let line = lines.choose(rng).copied().unwrap_or(lines[0]);
    json!({"type": "doc", "version": 1, "content": [paragraph(vec![text(line)])]})
}

/// One issue of `project` numbered `number`, created and updated by `updated`.
pub fn issue(rng: &mut StdRng, id: u64, project: &str, number: u64, updated: DateTime<Utc>) -> SimIssue {
    let types = PROJECTS.iter().find(|(key, _, _)| *key == project).map(|(_, _, t)| *t).unwrap_or(&["Task"]);
    let customers = customers();
    let orgs = organizations();
    let (reporter, org) = customers.choose(rng).cloned().unwrap_or_else(|| customers[0].clone());
    let (status, category) = *STATUSES.choose(rng).unwrap_or(&STATUSES[0]);
    let summary = (*SUMMARIES.choose(rng).unwrap_or(&SUMMARIES[0])).to_owned();
    let label_count = rng.gen_range(0..=3);
    let mut labels: Vec<String> = LABELS.choose_multiple(rng, label_count).map(|l| (*l).to_owned()).collect();
    labels.sort();
    let agents = agents();
    let created = updated - Duration::minutes(rng.gen_range(0..60 * 24 * 20));
    let comment_count = if rng.gen_bool(0.15) { rng.gen_range(6..=12) } else { rng.gen_range(0..=3) };
    let comments = (0..comment_count)
        .map(|n| {
            let author = if n % 2 == 0 { agents[n % agents.len()].clone() } else { reporter.clone() };
            let at = created + (updated - created) * (n as i32 + 1) / (comment_count as i32 + 1);
            SimComment {
                id: id * 100 + n as u64,
                author,
                body: comment_body(rng),
                public: !rng.gen_bool(0.2),
                created: at,
                updated: at,
            }
        })
        .collect();
    SimIssue {
        id,
        project: project.to_owned(),
        number,
        issue_type: (*types.choose(rng).unwrap_or(&"Task")).to_owned(),
        status: status.to_owned(),
        status_category: category.to_owned(),
        priority: (*PRIORITIES.choose(rng).unwrap_or(&"Medium")).to_owned(),
        labels,
        description: description(rng, &summary, &agents[0]),
        summary,
        organizations: org.and_then(|o| orgs.iter().find(|x| x.id == o).cloned()).into_iter().collect(),
        reporter,
        comments,
        created,
        updated,
    }
}

/// `n` issues across the projects, all updated within the 60 days before `base`;
/// about a third share one minute (a bulk edit two days before `base`).
pub fn issues(rng: &mut StdRng, n: u64, base: DateTime<Utc>) -> Vec<SimIssue> {
    let bulk_minute = (base - Duration::days(2)).duration_trunc(Duration::minutes(1)).unwrap_or(base);
    let mut numbers = std::collections::HashMap::new();
    (0..n)
        .map(|i| {
            let (project, _, _) = PROJECTS[(i as usize) % PROJECTS.len()];
            let number = numbers.entry(project).or_insert(0u64);
            *number += 1;
            let updated = if rng.gen_bool(0.33) {
                bulk_minute + Duration::milliseconds(rng.gen_range(0..60_000))
            } else {
                base - Duration::seconds(rng.gen_range(0..60 * 24 * 3600))
            };
            issue(rng, 10_000 + i, project, *number, updated)
        })
        .collect()
}

//! The seeded org: its schema (objects, fields, what can be filtered) and its records.
//!
//! The customers are the demo's (names and domains shared with the other simulators,
//! so accounts merge across sources); websites are written the five ways people write
//! them; ARR comes in two currencies; Wayne Enterprises has a child account; some
//! opportunities carry a blocker in the long-text field `Product_Gap__c`, some are
//! closed, two are in the recycle bin; several cases share ONE `SystemModstamp`; accounts
//! carry a plan and a renewal date in custom fields (`Plan__c`, `Renewal_Date__c`).
//! Invariant: every record carries `Id`, `IsDeleted`, `CreatedDate`,
//! `LastModifiedDate` and `SystemModstamp` in the API's datetime form.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Map, Value};

use super::soql::format_datetime;
use crate::vocab::{FIRST_NAMES_ASCII, LAST_NAMES_ASCII, TICKET_FEATURES};

/// One field as `describe` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub name: &'static str,
    /// `id`, `string`, `textarea`, `datetime`, `date`, `currency`, `percent`,
    /// `boolean`, `reference`, `picklist`, `email`, `url`.
    pub kind: &'static str,
    /// Long text areas cannot be filtered (or sorted) in SOQL.
    pub filterable: bool,
}

const fn field(name: &'static str, kind: &'static str) -> FieldSpec {
    FieldSpec { name, kind, filterable: true }
}

const fn long_text(name: &'static str) -> FieldSpec {
    FieldSpec { name, kind: "textarea", filterable: false }
}

const SYSTEM: &[FieldSpec] = &[
    field("Id", "id"),
    field("IsDeleted", "boolean"),
    field("CreatedDate", "datetime"),
    field("LastModifiedDate", "datetime"),
    field("SystemModstamp", "datetime"),
];

/// The objects the org has, each with its own fields (after the system ones).
pub fn schema(object: &str, multi_currency: bool) -> Option<Vec<FieldSpec>> {
    let own: &[FieldSpec] = match object {
        "Account" => &[
            field("Name", "string"),
            field("Website", "url"),
            field("AnnualRevenue", "currency"),
            field("Type", "picklist"),
            field("Industry", "picklist"),
            field("OwnerId", "reference"),
            field("ParentId", "reference"),
            field("Plan__c", "picklist"),
            field("Renewal_Date__c", "date"),
        ],
        "Contact" => &[
            field("FirstName", "string"),
            field("LastName", "string"),
            field("Name", "string"),
            field("Email", "email"),
            field("AccountId", "reference"),
            field("OwnerId", "reference"),
        ],
        "Opportunity" => &[
            field("Name", "string"),
            field("AccountId", "reference"),
            field("Amount", "currency"),
            field("StageName", "picklist"),
            field("Probability", "percent"),
            field("CloseDate", "date"),
            field("IsClosed", "boolean"),
            field("IsWon", "boolean"),
            field("OwnerId", "reference"),
            long_text("Product_Gap__c"),
        ],
        "Case" => &[
            field("CaseNumber", "string"),
            field("Subject", "string"),
            long_text("Description"),
            field("Type", "picklist"),
            field("Status", "picklist"),
            field("Priority", "picklist"),
            field("Origin", "picklist"),
            field("IsClosed", "boolean"),
            field("AccountId", "reference"),
            field("ContactId", "reference"),
            field("SuppliedEmail", "email"),
            field("OwnerId", "reference"),
        ],
        "User" => &[field("Name", "string"), field("Email", "email")],
        _ => return None,
    };
    let mut fields: Vec<FieldSpec> = SYSTEM.iter().chain(own).cloned().collect();
    if multi_currency && object != "User" {
        fields.push(field("CurrencyIsoCode", "picklist"));
    }
    Some(fields)
}

/// The relationship a dotted field goes through: `Owner.Email` reads the `User` that
/// `OwnerId` names.
pub fn relationship(object: &str, name: &str) -> Option<(&'static str, &'static str)> {
    match (object, name.to_ascii_lowercase().as_str()) {
        (_, "owner") => Some(("OwnerId", "User")),
        ("Account", "parent") => Some(("ParentId", "Account")),
        ("Contact" | "Opportunity" | "Case", "account") => Some(("AccountId", "Account")),
        ("Case", "contact") => Some(("ContactId", "Contact")),
        _ => None,
    }
}

/// Salesforce's 18-character id: a 3-character key prefix, then a counter, then the
/// case-checksum suffix Salesforce computes (so the 15-character form maps back).
pub fn make_id(prefix: &str, n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut tail = [b'0'; 10];
    let mut rest = n;
    for slot in tail.iter_mut().rev() {
        *slot = DIGITS[(rest % 62) as usize];
        rest /= 62;
    }
    let base = format!("{prefix}Dn{}", String::from_utf8_lossy(&tail));
    chorus_core::source_id::salesforce_id18(&base).unwrap_or(base)
}

/// The counter of the first seeded account: two users are seeded before it.
const FIRST_ACCOUNT: u64 = 1_003;

/// The id `seed` gives the `index`th customer account, for the other simulators' records
/// that name it (a Zendesk organization's `external_id`).
pub fn customer_account_id(index: usize) -> String {
    make_id(prefix("Account"), FIRST_ACCOUNT + index as u64)
}

/// Key prefixes of the objects.
pub fn prefix(object: &str) -> &'static str {
    match object {
        "Account" => "001",
        "Contact" => "003",
        "Opportunity" => "006",
        "Case" => "500",
        "User" => "005",
        _ => "a00",
    }
}

/// One record as stored: its object, and its fields by API name.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRecord {
    pub object: &'static str,
    pub fields: Map<String, Value>,
}

impl SimRecord {
    pub fn id(&self) -> &str {
        self.fields.get("Id").and_then(Value::as_str).unwrap_or("")
    }

    pub fn deleted(&self) -> bool {
        self.fields.get("IsDeleted").and_then(Value::as_bool).unwrap_or(false)
    }

    /// A field by name, case-insensitive as SOQL is (`Value::Null` when unset).
    pub fn get(&self, name: &str) -> Value {
        if let Some(value) = self.fields.get(name) {
            return value.clone();
        }
        self.fields.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map_or(Value::Null, |(_, v)| v.clone())
    }
}

fn record(object: &'static str, id: String, at: DateTime<Utc>, fields: Value) -> SimRecord {
    let stamp = Value::from(format_datetime(at));
    let mut map = Map::new();
    map.insert("Id".into(), Value::from(id));
    map.insert("IsDeleted".into(), Value::Bool(false));
    map.insert("CreatedDate".into(), stamp.clone());
    map.insert("LastModifiedDate".into(), stamp.clone());
    map.insert("SystemModstamp".into(), stamp);
    if let Value::Object(own) = fields {
        map.extend(own);
    }
    SimRecord { object, fields: map }
}

/// A seeded customer.
struct Customer {
    name: &'static str,
    website: &'static str,
    /// Where its people's email addresses are.
    domain: &'static str,
    arr: Option<f64>,
    currency: &'static str,
    kind: &'static str,
    industry: &'static str,
    /// `Plan__c`, a custom picklist (`None` for a prospect).
    plan: Option<&'static str>,
    /// `Renewal_Date__c`, a custom date field.
    renewal: Option<&'static str>,
}

const CUSTOMERS: &[Customer] = &[
    Customer {
        name: "Acme Corp",
        website: "acme-corp.com",
        domain: "acme-corp.com",
        arr: Some(1_250_000.0),
        currency: "USD",
        kind: "Customer - Direct",
        industry: "Manufacturing",
        plan: Some("Enterprise"),
        renewal: Some("2027-03-31"),
    },
    Customer {
        name: "Globex",
        website: "www.globex.io",
        domain: "globex.io",
        arr: Some(440_000.0),
        currency: "EUR",
        kind: "Customer - Direct",
        industry: "Energy",
        plan: Some("Enterprise"),
        renewal: Some("2026-12-31"),
    },
    Customer {
        name: "Initech",
        website: "https://www.initech.com/",
        domain: "initech.com",
        arr: Some(96_000.0),
        currency: "USD",
        kind: "Customer - Channel",
        industry: "Technology",
        plan: Some("Team"),
        renewal: Some("2027-01-15"),
    },
    Customer {
        name: "Umbrella",
        website: "http://umbrella.co/about",
        domain: "umbrella.co",
        arr: Some(655_000.5),
        currency: "EUR",
        kind: "Customer - Direct",
        industry: "Biotechnology",
        plan: Some("Enterprise"),
        renewal: Some("2027-06-30"),
    },
    Customer {
        name: "Hooli",
        website: " HOOLI.COM ",
        domain: "hooli.com",
        arr: Some(54_000.0),
        currency: "USD",
        kind: "Customer - Channel",
        industry: "Technology",
        plan: Some("Team"),
        renewal: Some("2026-12-20"),
    },
    Customer {
        name: "Stark Industries",
        website: "https://stark.example",
        domain: "stark.example",
        arr: Some(2_100_000.0),
        currency: "USD",
        kind: "Customer - Direct",
        industry: "Engineering",
        plan: Some("Enterprise"),
        renewal: Some("2027-09-30"),
    },
    Customer {
        name: "Wayne Enterprises",
        website: "wayne.example",
        domain: "wayne.example",
        arr: Some(1_600_000.0),
        currency: "USD",
        kind: "Customer - Direct",
        industry: "Finance",
        plan: Some("Enterprise"),
        renewal: Some("2027-02-28"),
    },
    Customer {
        name: "Wonka",
        website: "wonka.example",
        domain: "wonka.example",
        arr: None,
        currency: "USD",
        kind: "Prospect",
        industry: "Food & Beverage",
        plan: None,
        renewal: None,
    },
];

const STAGES: &[(&str, f64, bool, bool)] = &[
    ("Prospecting", 10.0, false, false),
    ("Qualification", 20.0, false, false),
    ("Proposal/Price Quote", 75.0, false, false),
    ("Negotiation/Review", 90.0, false, false),
    ("Closed Won", 100.0, true, true),
    ("Closed Lost", 0.0, true, false),
];

/// Every seeded record, in creation order, and the next counter for new ids.
pub struct Seeded {
    pub records: Vec<SimRecord>,
    pub next_id: u64,
}

/// Seeds the org: users, accounts (the child after its parent), contacts,
/// opportunities and `cases` cases, all stamped before `until`.
pub fn seed(rng: &mut StdRng, cases: usize, until: DateTime<Utc>) -> Seeded {
    let mut n = 1_000_u64;
    let mut next = |object: &str| {
        n += 1;
        make_id(prefix(object), n)
    };
    let start = until - Duration::days(60);
    let mut stamp = start;
    let mut tick = |rng: &mut StdRng| {
        stamp += Duration::seconds(rng.gen_range(60..7_200));
        stamp.min(until)
    };
    let mut records = Vec::new();
    let users =
        [("Dana Whitfield", "dana.whitfield@chorus-sim.example"), ("Omar Reyes", "omar.reyes@chorus-sim.example")];
    let mut user_ids = Vec::new();
    for (name, email) in users {
        let id = next("User");
        records.push(record("User", id.clone(), start, json!({ "Name": name, "Email": email })));
        user_ids.push(id);
    }
    let mut accounts = Vec::new();
    for (index, customer) in CUSTOMERS.iter().enumerate() {
        let id = next("Account");
        let at = tick(rng);
        records.push(record(
            "Account",
            id.clone(),
            at,
            json!({
                "Name": customer.name,
                "Website": customer.website,
                "AnnualRevenue": customer.arr,
                "Type": customer.kind,
                "Industry": customer.industry,
                "OwnerId": user_ids[index % user_ids.len()],
                "ParentId": null,
                "Plan__c": customer.plan,
                "Renewal_Date__c": customer.renewal,
                "CurrencyIsoCode": customer.currency,
            }),
        ));
        accounts.push((id, customer));
    }
    let wayne = accounts.iter().find(|(_, c)| c.name == "Wayne Enterprises").map(|(id, _)| id.clone());
    let child = next("Account");
    let at = tick(rng);
    records.push(record(
        "Account",
        child,
        at,
        json!({
            "Name": "Wayne Enterprises - Gotham Labs",
            "Website": "https://labs.wayne.example/",
            "AnnualRevenue": 150_000.0,
            "Type": "Customer - Direct",
            "Industry": "Finance",
            "OwnerId": user_ids[0],
            "ParentId": wayne,
            "Plan__c": "Team",
            "Renewal_Date__c": "2027-02-28",
            "CurrencyIsoCode": "USD",
        }),
    ));
    let mut contacts: Vec<(String, String, String)> = Vec::new();
    for (account_id, customer) in &accounts {
        for _ in 0..3 {
            let first = FIRST_NAMES_ASCII[rng.gen_range(0..FIRST_NAMES_ASCII.len())];
            let last = LAST_NAMES_ASCII[rng.gen_range(0..LAST_NAMES_ASCII.len())];
            let email = format!("{first}.{last}@{}", customer.domain);
            if contacts.iter().any(|(_, _, known)| *known == email) {
                continue;
            }
            let id = next("Contact");
            let (first_cap, last_cap) = (capitalize(first), capitalize(last));
            records.push(record(
                "Contact",
                id.clone(),
                tick(rng),
                json!({
                    "FirstName": first_cap,
                    "LastName": last_cap,
                    "Name": format!("{first_cap} {last_cap}"),
                    "Email": email,
                    "AccountId": account_id,
                    "OwnerId": user_ids[0],
                    "CurrencyIsoCode": customer.currency,
                }),
            ));
            contacts.push((id, account_id.clone(), email));
        }
    }
    let mut opportunity_count = 0;
    for (index, (account_id, customer)) in accounts.iter().enumerate() {
        for deal in 0..2 {
            let (stage, probability, closed, won) = STAGES[(index + deal * 3) % STAGES.len()];
            let feature = TICKET_FEATURES[(index + deal) % TICKET_FEATURES.len()];
            let gap = (!closed && deal == 0).then(|| {
                format!("Blocker: the customer will not sign without {feature}.\nRaised by their security review.")
            });
            let amount = (customer.arr.unwrap_or(50_000.0) * 0.2 * (deal as f64 + 1.0)).round() + 0.25;
            let id = next("Opportunity");
            let at = tick(rng);
            let mut opportunity = record(
                "Opportunity",
                id,
                at,
                json!({
                    "Name": format!("{} - {feature}", customer.name),
                    "AccountId": account_id,
                    "Amount": amount,
                    "StageName": stage,
                    "Probability": probability,
                    "CloseDate": (until + Duration::days(30 * (deal as i64 + 1))).format("%Y-%m-%d").to_string(),
                    "IsClosed": closed,
                    "IsWon": won,
                    "OwnerId": user_ids[index % user_ids.len()],
                    "Product_Gap__c": gap,
                    "CurrencyIsoCode": customer.currency,
                }),
            );
            opportunity_count += 1;
            // Two deals sit in the recycle bin: only queryAll still sees them.
            if opportunity_count % 7 == 0 {
                opportunity.fields.insert("IsDeleted".into(), Value::Bool(true));
            }
            records.push(opportunity);
        }
    }
    // Several cases written by one bulk update share one SystemModstamp.
    let shared = tick(rng);
    for index in 0..cases {
        let (contact_id, account_id, email) = contacts[index % contacts.len()].clone();
        let feature = TICKET_FEATURES[rng.gen_range(0..TICKET_FEATURES.len())];
        let (kind, subject) = match index % 3 {
            0 => ("Feature Request", format!("Please add {feature}")),
            1 => ("Problem", format!("{feature} fails with an error")),
            _ => ("Question", format!("How do I set up {feature}?")),
        };
        let status = ["New", "Working", "Escalated", "Closed"][rng.gen_range(0..4)];
        let priority = ["Low", "Medium", "High"][rng.gen_range(0..3)];
        let origin = ["Email", "Web", "Phone"][rng.gen_range(0..3)];
        let at = if index % 6 == 0 { shared } else { tick(rng) };
        let id = next("Case");
        records.push(record(
            "Case",
            id,
            at,
            json!({
                "CaseNumber": format!("{:08}", 1_001 + index),
                "Subject": subject,
                "Description": format!("{subject}.\n\nWe need this for our rollout. {email}"),
                "Type": kind,
                "Status": status,
                "Priority": priority,
                "Origin": origin,
                "IsClosed": status == "Closed",
                "AccountId": account_id,
                "ContactId": contact_id,
                "SuppliedEmail": email,
                "OwnerId": user_ids[1],
                "CurrencyIsoCode": "USD",
            }),
        ));
    }
    Seeded { records, next_id: n + 1 }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn customer_account_ids_are_the_seeded_ones_with_valid_suffixes() {
        let mut rng = StdRng::seed_from_u64(7);
        let seeded = seed(&mut rng, 0, Utc::now());
        let accounts: Vec<&str> =
            seeded.records.iter().filter(|r| r.object == "Account").map(SimRecord::id).take(CUSTOMERS.len()).collect();
        for (index, id) in accounts.iter().enumerate() {
            assert_eq!(*id, customer_account_id(index));
            let key = chorus_core::source_id::salesforce_id_key(id).expect("a valid 18-character id");
            assert_eq!(key, id[..15], "the suffix spells the case of the first 15");
        }
    }
}

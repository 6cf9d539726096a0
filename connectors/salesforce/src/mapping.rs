//! Query records → `Record`s: Account → account, Contact → contact, Opportunity →
//! opportunity (and its `sales_blocker` item), Case → item.
//!
//! Traps handled: a website written any way people write it (` ACME.COM `,
//! `https://www.acme.com/`, `http://acme.com/about`) becomes one domain; amounts are
//! JSON floats in major units and become integer minor units of their currency (JPY
//! has none, KWD three); `CurrencyIsoCode` exists only with multi-currency on, else
//! the configured default currency applies; datetimes come as
//! `2024-01-01T00:00:00.000+0000`. Invariant: a record that cannot be mapped (no Id,
//! no usable timestamp, a contact without email) is reported as `Unmapped`, never
//! dropped in silence and never a failed page.

use chorus_core::money::Currency;
use chorus_core::{
    account::normalize_domain, AccountRecord, ContactRecord, ItemRecord, Kind, OpportunityRecord, Person, Record,
};
use chorus_sync::Unmapped;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::config::MappingConfig;
use crate::cursor::{Object, Position};

/// What the org's schema says about the mapping (read once a run with `describe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgShape {
    /// Multi-currency on: `CurrencyIsoCode` exists.
    pub multi_currency: bool,
    /// The blocker field exists on Opportunity (else no blockers are read).
    pub blockers: bool,
}

/// Maps records of one org.
#[derive(Debug, Clone)]
pub struct Mapper {
    pub mapping: MappingConfig,
    pub shape: OrgShape,
    /// Where links to records point (the instance).
    pub instance_url: String,
}

/// A text field, trimmed; `None` when missing, null or blank.
pub fn text(record: &Value, field: &str) -> Option<String> {
    let value = record.get(field)?.as_str()?.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// A field of a relationship (`Owner.Email` is `{"Owner": {"Email": …}}`).
fn related(record: &Value, relation: &str, field: &str) -> Option<String> {
    text(record.get(relation)?, field)
}

/// Salesforce's datetime (`2024-01-01T00:00:00.000+0000`, or RFC 3339).
pub fn datetime(record: &Value, field: &str) -> Option<DateTime<Utc>> {
    let raw = record.get(field)?.as_str()?;
    DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(raw))
        .ok()
        .map(|at| at.to_utc())
}

/// A date field (`2026-03-31`), or the day of a datetime one.
fn date(value: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").ok().or_else(|| {
        let at =
            DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z").or_else(|_| DateTime::parse_from_rfc3339(value));
        at.ok().map(|at| at.to_utc().date_naive())
    })
}

/// A record's `(SystemModstamp, Id)`, what the cursor holds.
pub fn position(record: &Value) -> Option<Position> {
    Some(Position { modstamp: datetime(record, "SystemModstamp")?, id: text(record, "Id")? })
}

/// Decimal places of a currency's minor unit, from the ISO 4217 table behind
/// `chorus_core::money::Currency` (0 for a code without one, such as XAU; 2 for a code
/// the table does not know, so its amount is still kept).
pub fn minor_digits(currency: &str) -> u32 {
    match currency.parse::<Currency>() {
        Ok(known) => known.exponent().unwrap_or(0),
        Err(_) => 2,
    }
}

/// An amount in major units (a JSON float, or numeric text) as integer minor units;
/// `None` when missing, not finite, or beyond what an i64 holds.
pub fn minor_units(value: Option<&Value>, currency: &str) -> Option<i64> {
    let major = match value? {
        Value::Number(number) => number.as_f64()?,
        Value::String(text) => text.trim().parse().ok()?,
        _ => return None,
    };
    let scaled = (major * 10f64.powi(i32::try_from(minor_digits(currency)).unwrap_or(2))).round();
    // i64::MAX as f64 rounds up to 2^63, which is itself out of range.
    #[allow(clippy::cast_possible_truncation)]
    (scaled.is_finite() && scaled.abs() < 9.2e18).then_some(scaled as i64)
}

/// The domain in a website as people write it: any case and spacing, with or without
/// scheme, `www.`, port, path, query or trailing dot.
pub fn website_domain(website: &str) -> Option<String> {
    let mut rest = website.trim();
    if let Some((scheme, after)) = rest.split_once("://") {
        if scheme.chars().all(|c| c.is_ascii_alphabetic()) {
            rest = after;
        }
    }
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let host = host.split(':').next()?.trim_end_matches('.');
    normalize_domain(host)
}

/// An unmappable record, by id.
fn unmapped(record: &Value, object: Object, reason: &str) -> Unmapped {
    let id = text(record, "Id").unwrap_or_else(|| "(no Id)".into());
    Unmapped { external_id: id, reason: format!("{} {reason}", object.name()) }
}

impl Mapper {
    fn currency(&self, record: &Value) -> String {
        if self.shape.multi_currency {
            if let Some(code) = text(record, "CurrencyIsoCode") {
                return code.to_ascii_uppercase();
            }
        }
        self.mapping.default_currency.clone()
    }

    fn link(&self, id: &str) -> String {
        format!("{}/{id}", self.instance_url.trim_end_matches('/'))
    }

    /// Maps one live record of `object`.
    pub fn map(&self, object: Object, record: &Value) -> Result<Vec<Record>, Unmapped> {
        if position(record).is_none() {
            return Err(unmapped(record, object, "has no Id or SystemModstamp"));
        }
        match object {
            Object::Account => Ok(vec![self.account(record)]),
            Object::Contact => self.contact(record).map(|contact| vec![contact]),
            Object::Opportunity => Ok(self.opportunity(record)),
            Object::Case => self.case(record).map(|case| vec![case]),
        }
    }

    fn account(&self, record: &Value) -> Record {
        let currency = self.currency(record);
        let domains = text(record, "Website").and_then(|site| website_domain(&site)).into_iter().collect();
        let named = |field: &Option<String>| field.as_deref().and_then(|field| text(record, field));
        let arr_minor = minor_units(record.get(&self.mapping.arr_field), &currency);
        let stage = named(&self.mapping.lifecycle_stage_field);
        Record::Account(AccountRecord {
            external_id: text(record, "Id").unwrap_or_default(),
            name: text(record, "Name").unwrap_or_else(|| "(unnamed account)".into()),
            domains,
            arr_minor,
            currency: Some(currency),
            segment: named(&self.mapping.segment_field),
            lifecycle_stage: self.mapping.lifecycle.stage(stage.as_deref(), arr_minor),
            csm_owner: related(record, "Owner", "Email").or_else(|| related(record, "Owner", "Name")),
            renewal_date: named(&self.mapping.renewal_date_field).and_then(|value| date(&value)),
            parent_external_id: text(record, "ParentId"),
            plan: named(&self.mapping.plan_field),
            same_as: Vec::new(),
            raw: record.clone(),
        })
    }

    fn contact(&self, record: &Value) -> Result<Record, Unmapped> {
        let Some(email) = text(record, "Email").filter(|email| email.contains('@')) else {
            return Err(unmapped(record, Object::Contact, "has no email address"));
        };
        Ok(Record::Contact(ContactRecord {
            external_id: text(record, "Id").unwrap_or_default(),
            email,
            name: text(record, "Name"),
            account_external_id: text(record, "AccountId"),
        }))
    }

    /// The opportunity, and its blocker as a `sales_blocker` item (or the blocker's
    /// tombstone once the field is emptied).
    fn opportunity(&self, record: &Value) -> Vec<Record> {
        let id = text(record, "Id").unwrap_or_default();
        let currency = self.currency(record);
        let amount_minor = minor_units(record.get("Amount"), &currency);
        let probability = record.get("Probability").and_then(Value::as_f64);
        let closed = record.get("IsClosed").and_then(Value::as_bool).unwrap_or(false);
        let stage = text(record, "StageName").unwrap_or_default();
        let name = text(record, "Name").unwrap_or_else(|| "(unnamed opportunity)".into());
        let updated_at = datetime(record, "SystemModstamp").unwrap_or_default();
        let blocker_id = format!("{id}:blocker");
        let blocker_text = if self.shape.blockers { text(record, &self.mapping.blocker.field) } else { None };
        let mut records = Vec::with_capacity(2);
        let blocker = match &blocker_text {
            Some(body) => {
                let first_line = body.lines().next().unwrap_or(body).trim();
                let title: String = first_line.chars().take(200).collect();
                let amount = match (amount_minor, probability) {
                    (Some(minor), Some(p)) => {
                        format!("\n\nOpportunity {name}: {} {currency} at {p}%", major(minor, &currency))
                    }
                    (Some(minor), None) => format!("\n\nOpportunity {name}: {} {currency}", major(minor, &currency)),
                    _ => format!("\n\nOpportunity {name}"),
                };
                Record::Item(ItemRecord {
                    external_id: blocker_id.clone(),
                    key: None,
                    kind: Kind::SalesBlocker,
                    title,
                    body: format!("{body}{amount}"),
                    comments: Vec::new(),
                    url: Some(self.link(&id)),
                    status: if closed { format!("closed: {stage}") } else { stage.clone() },
                    priority: None,
                    tags: vec!["opportunity".into()],
                    author: Person::default(),
                    account_external_id: text(record, "AccountId"),
                    account_name: None,
                    csat: None,
                    created_at: datetime(record, "CreatedDate").unwrap_or(updated_at),
                    updated_at,
                    raw: record.clone(),
                })
            }
            None => Record::Deleted { entity: chorus_core::EntityKind::Item, external_id: blocker_id.clone() },
        };
        records.push(Record::Opportunity(OpportunityRecord {
            external_id: id,
            name,
            account_external_id: text(record, "AccountId"),
            amount_minor,
            currency: Some(currency),
            stage,
            probability,
            close_date: text(record, "CloseDate").and_then(|d| date(&d)),
            closed,
            won: record.get("IsWon").and_then(Value::as_bool).unwrap_or(false),
            blocker_external_id: blocker_text.is_some().then_some(blocker_id),
            updated_at,
        }));
        records.push(blocker);
        records
    }

    fn case(&self, record: &Value) -> Result<Record, Unmapped> {
        let id = text(record, "Id").unwrap_or_default();
        let number = text(record, "CaseNumber");
        let rule = &self.mapping.case_kind;
        let value = text(record, &rule.field).unwrap_or_default();
        let is = |values: &[String]| values.iter().any(|v| v.eq_ignore_ascii_case(&value));
        let kind = if is(&rule.feature_request) {
            Kind::FeatureRequest
        } else if is(&rule.bug) {
            Kind::Bug
        } else {
            rule.default_kind
        };
        let title = text(record, "Subject")
            .or_else(|| number.as_ref().map(|n| format!("Case {n}")))
            .unwrap_or_else(|| format!("Case {id}"));
        let email = text(record, "SuppliedEmail").or_else(|| related(record, "Contact", "Email"));
        let updated_at = datetime(record, "SystemModstamp").unwrap_or_default();
        Ok(Record::Item(ItemRecord {
            external_id: id.clone(),
            key: number,
            kind,
            title,
            body: text(record, "Description").unwrap_or_default(),
            comments: Vec::new(),
            url: Some(self.link(&id)),
            status: text(record, "Status").unwrap_or_else(|| "unknown".into()),
            priority: text(record, "Priority"),
            tags: text(record, &rule.field).into_iter().collect(),
            author: Person { email, name: related(record, "Contact", "Name") },
            account_external_id: text(record, "AccountId"),
            account_name: None,
            csat: None,
            created_at: datetime(record, "CreatedDate").unwrap_or(updated_at),
            updated_at,
            raw: record.clone(),
        }))
    }

    /// The records a recycle-bin entry removes.
    pub fn deleted(&self, object: Object, record: &Value) -> Result<Vec<Record>, Unmapped> {
        use chorus_core::EntityKind;
        let Some(id) = text(record, "Id") else { return Err(unmapped(record, object, "has no Id")) };
        let gone = |entity, external_id: String| Record::Deleted { entity, external_id };
        Ok(match object {
            Object::Account => vec![gone(EntityKind::Account, id)],
            Object::Contact => vec![gone(EntityKind::Contact, id)],
            Object::Opportunity => {
                vec![gone(EntityKind::Item, format!("{id}:blocker")), gone(EntityKind::Opportunity, id)]
            }
            Object::Case => vec![gone(EntityKind::Item, id)],
        })
    }
}

/// Minor units written back in major units (`12345` USD → `123.45`).
fn major(minor: i64, currency: &str) -> String {
    let digits = minor_digits(currency);
    if digits == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(digits);
    let sign = if minor < 0 { "-" } else { "" };
    let width = usize::try_from(digits).unwrap_or(2);
    format!("{sign}{}.{:0width$}", (minor / scale).abs(), (minor % scale).abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn websites_written_five_ways_are_one_domain() {
        for site in ["acme.com", "www.acme.com", "https://www.acme.com/", "http://acme.com/about", " ACME.COM "] {
            assert_eq!(website_domain(site).as_deref(), Some("acme.com"), "{site}");
        }
        assert_eq!(website_domain("https://acme.com:8443/x?y#z").as_deref(), Some("acme.com"));
        assert_eq!(website_domain("n/a"), None);
        assert_eq!(website_domain(""), None);
    }

    #[test]
    fn the_segment_is_read_only_from_a_named_field() {
        let account = json!({
            "attributes": {"type": "Account"}, "Id": "001A", "Name": "Acme", "Type": "Customer - Direct",
            "Segment__c": "enterprise", "SystemModstamp": "2026-01-01T00:00:00.000+0000"
        });
        let segment = |segment_field: Option<&str>| {
            let mapping = MappingConfig { segment_field: segment_field.map(str::to_owned), ..MappingConfig::default() };
            let shape = OrgShape { multi_currency: false, blockers: false };
            let mapper = Mapper { mapping, shape, instance_url: "https://acme.my.salesforce.com".into() };
            match mapper.map(Object::Account, &account).expect("maps").as_slice() {
                [Record::Account(account)] => account.segment.clone(),
                other => panic!("one account expected, got {other:?}"),
            }
        };
        assert_eq!(segment(None), None, "`Type` is a relationship, not a segment");
        assert_eq!(segment(Some("Segment__c")).as_deref(), Some("enterprise"));
    }

    #[test]
    fn plan_stage_and_renewal_come_from_named_fields_and_the_stage_rule() {
        use chorus_core::{ArrStages, LifecycleRule, LifecycleStage};
        let account = |kind: &str, arr: Option<f64>| {
            json!({
                "attributes": {"type": "Account"}, "Id": "001A", "Name": "Acme", "Type": kind,
                "AnnualRevenue": arr, "Plan__c": "Enterprise", "Renewal_Date__c": "2026-11-30",
                "SystemModstamp": "2026-01-01T00:00:00.000+0000"
            })
        };
        let lifecycle = LifecycleRule {
            values: [("Customer - Direct".to_owned(), LifecycleStage::Retention)].into_iter().collect(),
            by_arr: Some(ArrStages { paying: LifecycleStage::Retention, not_paying: LifecycleStage::Acquisition }),
        };
        let mapping = MappingConfig {
            plan_field: Some("Plan__c".into()),
            renewal_date_field: Some("Renewal_Date__c".into()),
            lifecycle_stage_field: Some("Type".into()),
            lifecycle,
            ..MappingConfig::default()
        };
        let shape = OrgShape { multi_currency: false, blockers: false };
        let mapper = Mapper { mapping, shape, instance_url: "https://acme.my.salesforce.com".into() };
        let mapped = |record: &Value| match mapper.map(Object::Account, record).expect("maps").as_slice() {
            [Record::Account(account)] => account.clone(),
            other => panic!("one account expected, got {other:?}"),
        };
        let direct = mapped(&account("Customer - Direct", Some(0.0)));
        assert_eq!(direct.plan.as_deref(), Some("Enterprise"));
        assert_eq!(direct.renewal_date.map(|d| d.to_string()).as_deref(), Some("2026-11-30"));
        assert_eq!(direct.lifecycle_stage, Some(LifecycleStage::Retention), "the value map beats the ARR rule");
        assert_eq!(mapped(&account("Advocacy", None)).lifecycle_stage, Some(LifecycleStage::Advocacy));
        assert_eq!(mapped(&account("Other", Some(5_000.0))).lifecycle_stage, Some(LifecycleStage::Retention));
        assert_eq!(mapped(&account("Other", None)).lifecycle_stage, Some(LifecycleStage::Acquisition));
    }

    #[test]
    fn float_amounts_become_minor_units_of_their_currency() {
        assert_eq!(minor_units(Some(&json!(1_250_000.0)), "USD"), Some(125_000_000));
        assert_eq!(minor_units(Some(&json!(655_000.5)), "EUR"), Some(65_500_050));
        assert_eq!(minor_units(Some(&json!(0.29)), "USD"), Some(29), "0.29 * 100 is 28.999…");
        assert_eq!(minor_units(Some(&json!(1.39e8)), "JPY"), Some(139_000_000));
        assert_eq!(minor_units(Some(&json!(1.5)), "KWD"), Some(1_500));
        assert_eq!(minor_units(Some(&json!("96000")), "USD"), Some(9_600_000));
        assert_eq!(minor_units(Some(&json!(1e300)), "USD"), None);
        assert_eq!(minor_units(Some(&Value::Null), "USD"), None);
        assert_eq!(major(65_500_050, "EUR"), "655000.50");
        assert_eq!(major(-5, "USD"), "-0.05");
    }

    #[test]
    fn minor_digits_follow_the_iso_table_not_a_local_list() {
        // CLF (4 digits) and UYW (4) were never on a hand-written list.
        assert_eq!((minor_digits("CLF"), minor_digits("UYW")), (4, 4));
        assert_eq!((minor_digits("JPY"), minor_digits("KWD"), minor_digits("EUR")), (0, 3, 2));
        assert_eq!(minor_digits("XAU"), 0, "no minor unit");
        assert_eq!(minor_digits("ZZZ"), 2, "an unknown code keeps its amount at 2 digits");
        assert_eq!(minor_units(Some(&json!(1.2345)), "CLF"), Some(12_345));
    }
}

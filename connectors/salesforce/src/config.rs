//! The `[connectors.settings]` table of a `kind = "salesforce"` connector.
//!
//! Every key has a documented default except `login_url` and `auth`; unknown keys are
//! refused (`deny_unknown_fields`). `validate` checks everything that can be checked
//! without I/O: endpoints, the API version's form, field names, the private key, the
//! overlap's bound and the quota shares.

use chorus_core::{Kind, LifecycleRule};

pub use crate::auth::AuthConfig;
use chorus_sync::endpoint::parse_endpoint;
use chorus_sync::ConnectorError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Settings of one Salesforce org connection.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesforceConfig {
    /// Where tokens come from: `https://login.salesforce.com`, `https://test.salesforce.com`
    /// (sandboxes) or the org's My Domain (`https://acme.my.salesforce.com`). Data calls
    /// go to the `instance_url` the token answer names, never here.
    pub login_url: String,
    /// The REST API version, `vNN.N` (default `v62.0`).
    #[serde(default = "default_api_version")]
    pub api_version: String,
    pub auth: AuthConfig,
    /// Records per query page asked for (`Sforce-Query-Options: batchSize`, 200–2000;
    /// Salesforce may serve fewer).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// How far (seconds, 0..=86400, default 300) a run's first query of each object
    /// reaches back before the stored position, for records a long transaction
    /// committed late with an older `SystemModstamp`; 0 turns it off. The repeats it
    /// reads are counted unchanged.
    #[serde(default = "default_overlap_seconds")]
    pub overlap_seconds: u32,
    #[serde(default)]
    pub objects: ObjectsConfig,
    #[serde(default)]
    pub mapping: MappingConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub reconcile: ReconcileConfig,
}

/// When known ids are checked against the org for records purged from the recycle
/// bin (emptied after 15 days, hard-deleted, `emptyRecycleBin`): `queryAll` never
/// reports those. Full runs always check; an incremental run checks when the last
/// check is older than `every_hours`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// Check when the last check is older than this many hours (default 24; 0: only
    /// full runs check).
    pub every_hours: u32,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self { every_hours: 24 }
    }
}

/// Which objects are read.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectsConfig {
    pub accounts: bool,
    pub contacts: bool,
    pub opportunities: bool,
    pub cases: bool,
}

impl Default for ObjectsConfig {
    fn default() -> Self {
        Self { accounts: true, contacts: true, opportunities: true, cases: true }
    }
}

/// Which fields carry what.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MappingConfig {
    /// The Account field holding ARR in major units (default `AnnualRevenue`).
    pub arr_field: String,
    /// The Account field read as segment (`enterprise`, `mid-market`, ...), e.g. a
    /// custom `Segment__c`. None by default: the standard `Type` picklist holds the
    /// relationship (`Customer - Direct`, `Prospect`), not a segment, and a segment
    /// another source gave is kept when this reads nothing.
    pub segment_field: Option<String>,
    /// The Account field read as the plan the account is on (upsell signals compare
    /// it), e.g. a custom `Plan__c`. None by default.
    pub plan_field: Option<String>,
    /// The Account date field read as the renewal date, e.g. a custom
    /// `Renewal_Date__c`. None by default.
    pub renewal_date_field: Option<String>,
    /// The Account field read as the lifecycle stage, e.g. `Type`: its value is the
    /// stage when it names one (any case), else it goes through `lifecycle.values`.
    /// None by default.
    pub lifecycle_stage_field: Option<String>,
    /// What the stage field's other values mean, and the optional stage from ARR when the
    /// record gives no usable value (`docs/accounts.md`).
    pub lifecycle: LifecycleRule,
    /// The currency of every amount when the org has multi-currency off (no
    /// `CurrencyIsoCode` field); with it on, each record's own currency is used.
    pub default_currency: String,
    pub case_kind: CaseKindRule,
    pub blocker: BlockerConfig,
}

impl Default for MappingConfig {
    fn default() -> Self {
        Self {
            arr_field: "AnnualRevenue".into(),
            segment_field: None,
            plan_field: None,
            renewal_date_field: None,
            lifecycle_stage_field: None,
            lifecycle: LifecycleRule::default(),
            default_currency: "USD".into(),
            case_kind: CaseKindRule::default(),
            blocker: BlockerConfig::default(),
        }
    }
}

/// How a Case's field picks the item kind: `feature_request` or `bug` when the field
/// holds one of their values (case-insensitive), else `default_kind`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CaseKindRule {
    pub field: String,
    pub feature_request: Vec<String>,
    pub bug: Vec<String>,
    pub default_kind: Kind,
}

impl Default for CaseKindRule {
    fn default() -> Self {
        Self {
            field: "Type".into(),
            feature_request: vec!["Feature Request".into()],
            bug: Vec::new(),
            default_kind: Kind::SupportTicket,
        }
    }
}

/// Where sales blockers are written: a (long) text field on an object. Only
/// `Opportunity` is supported as the object: a blocker carries its opportunity's
/// amount and probability.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BlockerConfig {
    pub object: String,
    /// Empty: no blockers are read.
    pub field: String,
}

impl Default for BlockerConfig {
    fn default() -> Self {
        Self { object: "Opportunity".into(), field: "Product_Gap__c".into() }
    }
}

/// The daily API quota (`Sforce-Limit-Info: api-usage=N/M`) is shared with every other
/// integration of the org: past `slow_down_at` of it the connector paces itself to
/// `slow_requests_per_minute`; past `stop_at` it ends the run as rate-limited (the next
/// run resumes from the last committed page).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub slow_down_at: f64,
    pub stop_at: f64,
    pub slow_requests_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self { slow_down_at: 0.8, stop_at: 0.95, slow_requests_per_minute: 30 }
    }
}

fn default_api_version() -> String {
    "v62.0".into()
}

fn default_page_size() -> u32 {
    2000
}

/// The longest overlap accepted: a day re-read per run is already a full sync for many orgs.
const MAX_OVERLAP_SECONDS: u32 = 86_400;

fn default_overlap_seconds() -> u32 {
    300
}

/// A SOQL field name: letters, digits and `_`, starting with a letter.
fn check_field(key: &str, name: &str) -> Result<(), ConnectorError> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ConnectorError::Config(format!("{key}: `{name}` is not a Salesforce field name")))
    }
}

impl SalesforceConfig {
    /// Checks the settings without I/O.
    pub fn validate(&self, allow_insecure: bool) -> Result<(), ConnectorError> {
        parse_endpoint("login_url", &self.login_url, allow_insecure)?;
        let version_ok =
            self.api_version.strip_prefix('v').and_then(|v| v.split_once('.')).is_some_and(|(major, minor)| {
                major.parse::<u32>().is_ok_and(|m| m >= 31) && minor.parse::<u32>().is_ok()
            });
        if !version_ok {
            return Err(ConnectorError::Config(format!(
                "api_version: `{}` is not of the form vNN.N (v31.0 or later)",
                self.api_version
            )));
        }
        self.auth.validate(allow_insecure)?;
        if !(200..=2000).contains(&self.page_size) {
            return Err(ConnectorError::Config(format!("page_size: {} is not in 200..=2000", self.page_size)));
        }
        if self.overlap_seconds > MAX_OVERLAP_SECONDS {
            return Err(ConnectorError::Config(format!(
                "overlap_seconds: {} is not in 0..={MAX_OVERLAP_SECONDS}",
                self.overlap_seconds
            )));
        }
        let mapping = &self.mapping;
        check_field("mapping.arr_field", &mapping.arr_field)?;
        for (key, field) in [
            ("mapping.segment_field", &mapping.segment_field),
            ("mapping.plan_field", &mapping.plan_field),
            ("mapping.renewal_date_field", &mapping.renewal_date_field),
            ("mapping.lifecycle_stage_field", &mapping.lifecycle_stage_field),
        ] {
            if let Some(field) = field {
                check_field(key, field)?;
            }
        }
        mapping.lifecycle.validate("mapping.lifecycle").map_err(ConnectorError::Config)?;
        if mapping.lifecycle_stage_field.is_none() && !mapping.lifecycle.values.is_empty() {
            return Err(ConnectorError::Config(
                "mapping.lifecycle.values: set mapping.lifecycle_stage_field, the field whose values they map".into(),
            ));
        }
        check_field("mapping.case_kind.field", &mapping.case_kind.field)?;
        if !mapping.blocker.field.is_empty() {
            check_field("mapping.blocker.field", &mapping.blocker.field)?;
        }
        if mapping.blocker.object != "Opportunity" {
            return Err(ConnectorError::Config(format!(
                "mapping.blocker.object: `{}` is not supported; blockers are read from a field of Opportunity",
                mapping.blocker.object
            )));
        }
        let currency = &mapping.default_currency;
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(ConnectorError::Config(format!(
                "mapping.default_currency: `{currency}` is not an ISO 4217 code such as USD"
            )));
        }
        let limits = &self.limits;
        let share = |value: f64| value.is_finite() && value > 0.0 && value <= 1.0;
        if !share(limits.slow_down_at) || !share(limits.stop_at) || limits.slow_down_at > limits.stop_at {
            return Err(ConnectorError::Config(format!(
                "limits: slow_down_at ({}) and stop_at ({}) must be shares in (0, 1] with slow_down_at <= stop_at",
                limits.slow_down_at, limits.stop_at
            )));
        }
        if limits.slow_requests_per_minute == 0 {
            return Err(ConnectorError::Config("limits.slow_requests_per_minute must be at least 1".into()));
        }
        Ok(())
    }
}

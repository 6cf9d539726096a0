//! The `[connectors.settings]` table of a `kind = "jira"` connector.
//!
//! Every key is typed and unknown keys are refused (`deny_unknown_fields`); secrets
//! are `Secret`s that never print. `JiraConfig::validate` checks everything that can
//! be checked without I/O — endpoints (the insecure-endpoint rule), the JQL, the
//! mapping — so that a config that loads is a config that can run.

use std::collections::BTreeMap;

use chorus_core::Kind;
use chorus_sync::auth::{BasicAuthConfig, RefreshTokenConfig};
use chorus_sync::endpoint::parse_endpoint;
use chorus_sync::ConnectorError;
use schemars::JsonSchema;
use serde::Deserialize;
use url::Url;

/// Settings of one Jira Cloud connector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// The site, e.g. `https://acme.atlassian.net`: API calls go here with Basic auth,
    /// and issue links are `{base_url}/browse/{key}` with either auth.
    pub base_url: String,
    /// How to authenticate.
    pub auth: AuthConfig,
    /// With `auth.type = "oauth_refresh"`: the root of the platform API
    /// (`accessible-resources` and `/ex/jira/...`). Not read with Basic auth.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// With `auth.type = "oauth_refresh"`: the site's cloud id; found by matching
    /// `base_url` in `accessible-resources` when not given.
    #[serde(default)]
    pub cloud_id: Option<String>,
    /// Which issues to sync, without `ORDER BY` (the connector adds its own), e.g.
    /// `project in (PROD, SUP)`. Jira requires a bounded query.
    pub jql: String,
    /// Issues per search page (1..=100; Jira may return fewer).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// How far before the cursor an incremental run starts re-reading, in minutes
    /// (JQL dates have minute granularity and search is eventually consistent).
    #[serde(default = "default_overlap_minutes")]
    pub overlap_minutes: u32,
    /// The IANA time zone JQL dates are read in. Default: the calling user's
    /// `timeZone` from `/rest/api/3/myself`, which is what Jira uses.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// When to look for deleted issues during incremental runs.
    #[serde(default)]
    pub reconcile: ReconcileConfig,
    /// How issues become items.
    #[serde(default)]
    pub mapping: MappingConfig,
}

/// Credentials for Jira Cloud, in the shared `[connectors.settings.auth]` vocabulary.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthConfig {
    /// Email address and API token (HTTP Basic), calls to `base_url`.
    Basic(BasicAuthConfig),
    /// OAuth 2.0 (3LO) with `offline_access` (token endpoint default
    /// `https://auth.atlassian.com/oauth/token`); calls to `{api_base}/ex/jira/{cloud_id}`.
    /// The refresh token rotates: the newest one is kept in the credential store and
    /// `refresh_token` here only seeds it.
    OauthRefresh(RefreshTokenConfig),
}

/// Deletion reconciliation in incremental runs (full runs always reconcile).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileConfig {
    /// Reconcile on every N-th incremental run (0: never by count).
    #[serde(default = "default_every_runs")]
    pub every_runs: u32,
    /// Reconcile when the last reconciliation is older than this many hours (0: never by age).
    #[serde(default = "default_every_hours")]
    pub every_hours: u32,
    /// Known ids per bulk fetch and scope query (1..=100).
    #[serde(default = "default_batch")]
    pub batch_size: u32,
    /// On every N-th reconciliation, ids tombstoned in the last `recheck_days` are
    /// checked again and come back if Jira shows them again (a permission flicker
    /// must not delete issues for good). 0: never.
    #[serde(default = "default_recheck_every")]
    pub recheck_every: u32,
    /// How far back tombstones are re-checked, in days.
    #[serde(default = "default_recheck_days")]
    pub recheck_days: u32,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            every_runs: default_every_runs(),
            every_hours: default_every_hours(),
            batch_size: default_batch(),
            recheck_every: default_recheck_every(),
            recheck_days: default_recheck_days(),
        }
    }
}

/// How the configured custom field names the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountFieldHolds {
    /// Organization names → `account_name` (resolved by name in the store).
    #[default]
    Names,
    /// Organization ids → `account_external_id`.
    Ids,
}

/// Issue → item mapping.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// Issue type name (case-insensitive) → kind, merged over the defaults (Bug,
    /// Incident, Problem → bug; Story, Feature Request, Feature, Improvement, Idea, New
    /// Feature → feature_request; Service Request, Question, Task, Support →
    /// support_ticket). JSM's `[System] ` prefix is ignored by the defaults.
    #[serde(default)]
    pub issue_types: BTreeMap<String, Kind>,
    /// The kind of every other issue type.
    #[serde(default = "default_kind")]
    pub default_kind: Kind,
    /// A custom field naming the customer, e.g. `customfield_10002` (JSM Organizations).
    /// Without it (or when it is empty) the account is resolved from the reporter's email.
    #[serde(default)]
    pub account_field: Option<String>,
    /// Whether `account_field` holds names or ids.
    #[serde(default)]
    pub account_field_holds: AccountFieldHolds,
    /// Adds a `status-category:<new|indeterminate|done>` tag next to the labels.
    #[serde(default = "default_true")]
    pub status_category_tag: bool,
}

impl Default for MappingConfig {
    fn default() -> Self {
        Self {
            issue_types: BTreeMap::new(),
            default_kind: default_kind(),
            account_field: None,
            account_field_holds: AccountFieldHolds::default(),
            status_category_tag: true,
        }
    }
}

impl MappingConfig {
    /// The kind of an issue type: the configured table, then the defaults, then `default_kind`.
    pub fn kind_of(&self, issue_type: Option<&str>) -> Kind {
        let Some(name) = issue_type.map(str::trim) else {
            return self.default_kind;
        };
        if let Some((_, kind)) = self.issue_types.iter().find(|(k, _)| k.trim().eq_ignore_ascii_case(name)) {
            return *kind;
        }
        let unprefixed = strip_prefix_ignore_case(name, SYSTEM_PREFIX).map_or(name, str::trim);
        DEFAULT_ISSUE_TYPES
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(unprefixed))
            .map(|(_, kind)| *kind)
            .unwrap_or(self.default_kind)
    }
}

/// JSM names its built-in types `[System] Incident`, `[System] Service request`, ….
const SYSTEM_PREFIX: &str = "[system]";

fn strip_prefix_ignore_case<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &name[prefix.len()..])
}

/// The one default vocabulary, shared with Zendesk's `bug_types`: something
/// broken (a bug, an incident, a problem) is a `bug`; a request for something new is a
/// `feature_request`; asking for help or for a service is a `support_ticket`.
const DEFAULT_ISSUE_TYPES: &[(&str, Kind)] = &[
    ("Bug", Kind::Bug),
    ("Incident", Kind::Bug),
    ("Problem", Kind::Bug),
    ("Story", Kind::FeatureRequest),
    ("Feature Request", Kind::FeatureRequest),
    ("Feature", Kind::FeatureRequest),
    ("Improvement", Kind::FeatureRequest),
    ("Idea", Kind::FeatureRequest),
    ("New Feature", Kind::FeatureRequest),
    ("Service Request", Kind::SupportTicket),
    ("Service Request with Approvals", Kind::SupportTicket),
    ("Question", Kind::SupportTicket),
    ("Task", Kind::SupportTicket),
    ("Support", Kind::SupportTicket),
];

fn default_page_size() -> u32 {
    100
}
fn default_overlap_minutes() -> u32 {
    1
}
fn default_every_runs() -> u32 {
    24
}
fn default_every_hours() -> u32 {
    24
}
fn default_batch() -> u32 {
    100
}
fn default_recheck_every() -> u32 {
    4
}
fn default_recheck_days() -> u32 {
    30
}
fn default_kind() -> Kind {
    Kind::SupportTicket
}
fn default_true() -> bool {
    true
}
/// Atlassian's token endpoint, the default of `auth.token_url`.
pub const DEFAULT_TOKEN_URL: &str = "https://auth.atlassian.com/oauth/token";
fn default_api_base() -> String {
    "https://api.atlassian.com".to_owned()
}

/// The endpoints of a validated config.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub site: Url,
    /// `Some((token_url, api_base))` for OAuth.
    pub oauth: Option<(Url, Url)>,
}

impl JiraConfig {
    /// Checks the config without I/O and returns its parsed endpoints.
    pub fn validate(&self, allow_insecure: bool) -> Result<Endpoints, ConnectorError> {
        let site = parse_endpoint("base_url", &self.base_url, allow_insecure)?;
        let oauth = match &self.auth {
            AuthConfig::Basic(basic) => {
                basic.validate("auth", allow_insecure)?;
                None
            }
            AuthConfig::OauthRefresh(oauth) => {
                oauth.validate("auth", allow_insecure)?;
                if self.cloud_id.as_deref().is_some_and(|id| id.trim().is_empty() || id.contains('/')) {
                    return Err(ConnectorError::Config("cloud_id is not a cloud id".into()));
                }
                let default_token_url = Url::parse(DEFAULT_TOKEN_URL)
                    .map_err(|e| ConnectorError::Config(format!("auth.token_url default: {e}")))?;
                let token = oauth.oauth_config(&default_token_url, allow_insecure)?.token_url;
                let api = parse_endpoint("api_base", &self.api_base, allow_insecure)?;
                Some((token, api))
            }
        };
        validate_jql(&self.jql)?;
        if !(1..=100).contains(&self.page_size) {
            return Err(ConnectorError::Config("page_size: expected 1..=100".into()));
        }
        if !(1..=100).contains(&self.reconcile.batch_size) {
            return Err(ConnectorError::Config("reconcile.batch_size: expected 1..=100".into()));
        }
        if let Some(zone) = &self.time_zone {
            zone.parse::<chrono_tz::Tz>()
                .map_err(|_| ConnectorError::Config(format!("time_zone: `{zone}` is not an IANA time zone")))?;
        }
        if let Some(field) = &self.mapping.account_field {
            if field.trim().is_empty() || field.contains(char::is_whitespace) {
                return Err(ConnectorError::Config(format!("mapping.account_field: `{field}` is not a field id")));
            }
        }
        Ok(Endpoints { site, oauth })
    }
}

/// The keys an older Jira configuration wrote inside `auth` that now sit in the
/// settings table (the shared auth types take only the grant's own keys).
pub fn legacy_settings(settings: &serde_json::Value) -> Result<(), ConnectorError> {
    let auth = settings.get("auth").and_then(serde_json::Value::as_object);
    for key in ["api_base", "cloud_id"] {
        if auth.is_some_and(|auth| auth.contains_key(key)) {
            return Err(ConnectorError::Config(format!(
                "auth.{key} moved: write `{key}` in [connectors.settings], next to base_url"
            )));
        }
    }
    Ok(())
}

fn validate_jql(jql: &str) -> Result<(), ConnectorError> {
    if jql.trim().is_empty() {
        return Err(ConnectorError::Config(
            "jql is empty; Jira requires a bounded query such as `project = PROD`".into(),
        ));
    }
    if jql.to_ascii_lowercase().split_whitespace().collect::<Vec<_>>().windows(2).any(|w| w == ["order", "by"]) {
        return Err(ConnectorError::Config("jql: leave out ORDER BY; the connector orders by updated, key".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: serde_json::Value) -> Result<JiraConfig, serde_json::Error> {
        serde_json::from_value(v)
    }

    fn basic() -> serde_json::Value {
        json!({
            "base_url": "https://acme.atlassian.net",
            "auth": {"type": "basic", "email": "bot@acme.com", "api_token": "t0k"},
            "jql": "project in (PROD, SUP)"
        })
    }

    #[test]
    fn defaults_are_sensible() {
        let config = parse(basic()).expect("parses");
        assert!(config.validate(false).is_ok());
        assert_eq!((config.page_size, config.overlap_minutes), (100, 1));
        assert_eq!(config.mapping.kind_of(Some("bug")), Kind::Bug);
        assert_eq!(config.mapping.kind_of(Some("Feature Request")), Kind::FeatureRequest);
        assert_eq!(config.mapping.kind_of(Some("Task")), Kind::SupportTicket);
        assert_eq!(config.mapping.kind_of(None), Kind::SupportTicket);
        assert!(!format!("{config:?}").contains("t0k"));
    }

    #[test]
    fn configured_types_override_defaults() {
        let mut raw = basic();
        raw["mapping"] =
            json!({"issue_types": {"Improvement": "bug", "Sales Blocker": "sales_blocker"}, "default_kind": "bug"});
        let config = parse(raw).expect("parses");
        assert_eq!(config.mapping.kind_of(Some("improvement")), Kind::Bug);
        assert_eq!(config.mapping.kind_of(Some("Sales Blocker")), Kind::SalesBlocker);
        assert_eq!(config.mapping.kind_of(Some("Story")), Kind::FeatureRequest);
        assert_eq!(config.mapping.kind_of(Some("Epic")), Kind::Bug, "an unlisted type takes default_kind");
        assert_eq!(config.mapping.kind_of(Some("Task")), Kind::SupportTicket, "a listed default is not default_kind");
    }

    #[test]
    fn incidents_and_problems_are_bugs_requests_are_tickets() {
        let config = parse(basic()).expect("parses");
        for name in ["Incident", "problem", "[System] Incident", "[SYSTEM] Problem"] {
            assert_eq!(config.mapping.kind_of(Some(name)), Kind::Bug, "{name}");
        }
        for name in ["Service Request", "[System] Service request", "Question", "Task"] {
            assert_eq!(config.mapping.kind_of(Some(name)), Kind::SupportTicket, "{name}");
        }
        assert_eq!(config.mapping.kind_of(Some("[System]")), Kind::SupportTicket, "a bare prefix is no type");
        assert_eq!(config.mapping.kind_of(Some("[Sys")), Kind::SupportTicket);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let mut raw = basic();
        raw["colour"] = json!("blue");
        assert!(parse(raw).is_err());
        let mut raw = basic();
        raw["auth"]["password"] = json!("x");
        assert!(parse(raw).is_err());
        for (key, value) in
            [("jql", json!("project = X ORDER BY created")), ("jql", json!(" ")), ("page_size", json!(0))]
        {
            let mut raw = basic();
            raw[key] = value;
            assert!(parse(raw).expect("parses").validate(false).is_err(), "{key}");
        }
        let mut raw = basic();
        raw["time_zone"] = json!("Mars/Olympus");
        assert!(parse(raw).expect("parses").validate(false).is_err());
    }

    #[test]
    fn old_auth_keys_get_an_error_naming_the_new_one() {
        use chorus_sync::connector::ConnectorFactory;
        use chorus_sync::Factory;
        let factory: Box<dyn ConnectorFactory> = Factory::<crate::JiraConnector>::boxed();
        let with_auth = |auth: serde_json::Value| json!({"base_url": "https://acme.atlassian.net", "auth": auth, "jql": "project = PROD"});
        let oauth = json!({"client_id": "c", "client_secret": "s", "refresh_token": "r"});
        let mut old_type = oauth.clone();
        old_type["type"] = json!("oauth");
        let mut new_type = oauth.clone();
        new_type["type"] = json!("oauth_refresh");
        assert!(factory.validate(&with_auth(new_type.clone()), false).is_ok());
        let mut api_base = new_type.clone();
        api_base["api_base"] = json!("https://api.atlassian.com");
        let mut cloud_id = new_type;
        cloud_id["cloud_id"] = json!("abc");
        let cases = [
            (old_type, "use `type = \"oauth_refresh\"`"),
            (api_base, "write `api_base` in [connectors.settings]"),
            (cloud_id, "write `cloud_id` in [connectors.settings]"),
            (json!({"type": "basic", "email": "a@b.c", "token": "t"}), "use `api_token`"),
        ];
        for (auth, hint) in cases {
            let message = factory.validate(&with_auth(auth.clone()), false).expect_err("old key").to_string();
            assert!(message.contains(hint), "{auth}: {message}");
        }
    }

    #[test]
    fn settings_schema_names_every_key() {
        let schema = serde_json::to_string(&schemars::schema_for!(JiraConfig)).unwrap_or_default();
        for key in
            ["base_url", "jql", "overlap_minutes", "every_runs", "account_field_holds", "api_base", "refresh_token"]
        {
            assert!(schema.contains(key), "{key} missing from the schema");
        }
    }

    #[test]
    fn insecure_endpoints_need_the_flag() {
        let mut raw = basic();
        raw["base_url"] = json!("http://127.0.0.1:9000");
        let config = parse(raw).expect("parses");
        assert!(config.validate(false).is_err());
        assert!(config.validate(true).is_ok());
        let oauth = parse(json!({
            "base_url": "https://acme.atlassian.net",
            "auth": {"type": "oauth_refresh", "client_id": "c", "client_secret": "s", "refresh_token": "r"},
            "api_base": "http://127.0.0.1:9",
            "jql": "project = PROD"
        }))
        .expect("parses");
        assert!(oauth.validate(false).is_err());
        assert!(oauth.validate(true).is_ok());
    }
}

//! The `[connectors.settings]` table of a `kind = "zendesk"` connector.
//!
//! Every key has a documented default except `base_url` and `auth`; unknown keys are
//! refused (`deny_unknown_fields`) so a typo never silently falls back to a default.
//! `validate` checks everything that can be checked without I/O; a config that passes
//! it builds a connector that cannot fail on its own settings later.

use chorus_core::{Kind, LifecycleRule};
use chorus_sync::auth::{BasicAuthConfig, BearerConfig, RefreshTokenConfig};
use chorus_sync::endpoint::parse_endpoint;
use chorus_sync::ConnectorError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Settings of one Zendesk Support connector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZendeskConfig {
    /// The account's URL, e.g. `https://acme.zendesk.com`.
    pub base_url: String,
    pub auth: AuthConfig,
    /// Unix time the first run starts the exports from (default 0: everything).
    #[serde(default)]
    pub start_time: i64,
    /// Records per export page (Zendesk's maximum and default is 1000).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Which ticket comments become item text.
    #[serde(default)]
    pub comments: CommentScope,
    /// Only users with these roles become contacts (`end-user`, `agent`, `admin`).
    #[serde(default = "default_contact_roles")]
    pub contact_roles: Vec<String>,
    #[serde(default)]
    pub mapping: MappingConfig,
    #[serde(default)]
    pub accounts: AccountFieldsConfig,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    #[serde(default)]
    pub reconcile: ReconcileConfig,
}

/// When known organizations are checked for deletions (`organizations/show_many`):
/// real organization objects carry no `deleted_at`, so the export never reports one.
/// Full runs always check; an incremental run checks when either rule is due.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// Check on every N-th incremental run that commits a page (default 0: never by count).
    pub every_runs: u32,
    /// Check when the last check is older than this many hours (default 24; 0: never by age).
    pub every_hours: u32,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self { every_runs: 0, every_hours: 24 }
    }
}

/// How requests are authorized, in the shared `[connectors.settings.auth]` vocabulary.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthConfig {
    /// `email` and an API token (Admin Center → Apps and integrations → Zendesk API),
    /// sent as `{email}/token` in HTTP Basic.
    Basic(BasicAuthConfig),
    /// A static OAuth access token, sent as `Authorization: Bearer` (tokens of OAuth
    /// clients made before Zendesk enforced expiry; an expiring one stops working after
    /// `expires_in`, use `oauth_refresh` for those).
    Bearer(BearerConfig),
    /// An OAuth client with a refresh token: access tokens come from `token_url`
    /// (default `{base_url}/oauth/tokens`; `grant_type=refresh_token`, client id and
    /// secret in the body) and are renewed before they expire. Zendesk rotates the
    /// refresh token on every grant: the newest one is kept in the credential store, and
    /// `refresh_token` here only seeds the chain (a changed one re-seeds it).
    OauthRefresh(RefreshTokenConfig),
}

/// Which comments of a ticket are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommentScope {
    /// Public replies and internal notes (each marked `public` or not).
    #[default]
    All,
    /// Public replies only.
    Public,
    /// No comment requests at all; the body is the ticket description.
    None,
}

/// How a ticket's `type` and tags choose the item kind.
///
/// First match wins, in this order: `sales_blocker_tags`, `feature_request_tags`,
/// `bug_tags`, `bug_types`, then `default_kind`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MappingConfig {
    pub sales_blocker_tags: Vec<String>,
    pub feature_request_tags: Vec<String>,
    pub bug_tags: Vec<String>,
    pub bug_types: Vec<String>,
    pub default_kind: Kind,
}

impl Default for MappingConfig {
    fn default() -> Self {
        Self {
            sales_blocker_tags: vec!["sales_blocker".into()],
            feature_request_tags: vec!["feature_request".into()],
            bug_tags: vec!["bug".into()],
            bug_types: vec!["problem".into(), "incident".into()],
            default_kind: Kind::SupportTicket,
        }
    }
}

/// Which `organization_fields` keys carry account data.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AccountFieldsConfig {
    /// ARR in major units (a number or numeric text), e.g. `arr`.
    pub arr_field: Option<String>,
    /// ISO 4217 currency of `arr_field` (default `USD`).
    pub currency: String,
    /// Segment, e.g. `segment`.
    pub segment_field: Option<String>,
    /// The plan the account is on (upsell signals compare it), e.g. `plan`. None by default.
    pub plan_field: Option<String>,
    /// Renewal date (`YYYY-MM-DD`).
    pub renewal_date_field: Option<String>,
    /// Lifecycle stage: a stage name (`reach` … `advocacy`, any case), else mapped by
    /// `lifecycle.values`.
    pub lifecycle_stage_field: Option<String>,
    /// What the stage field's other values mean, and the optional stage from ARR when the
    /// organization gives no usable value (`docs/accounts.md`).
    pub lifecycle: LifecycleRule,
}

impl Default for AccountFieldsConfig {
    fn default() -> Self {
        Self {
            arr_field: Some("arr".into()),
            currency: "USD".into(),
            segment_field: Some("segment".into()),
            plan_field: None,
            renewal_date_field: None,
            lifecycle_stage_field: None,
            lifecycle: LifecycleRule::default(),
        }
    }
}

/// Proactive pacing: the account's API budget and the incremental export endpoints.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests a minute to the other endpoints (default 190: under the smallest plan's
    /// 200, Team; the budget is shared with the account's other integrations). Raise it
    /// on larger plans (Growth/Professional 400, Enterprise 700).
    pub requests_per_minute: u32,
    /// Incremental export requests allowed per window (Zendesk: 10 per minute).
    pub incremental_requests: u32,
    /// The window of `incremental_requests`, in seconds.
    pub incremental_window_secs: f64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { requests_per_minute: 190, incremental_requests: 10, incremental_window_secs: 60.0 }
    }
}

fn default_page_size() -> u32 {
    1000
}

fn default_contact_roles() -> Vec<String> {
    vec!["end-user".into()]
}

impl ZendeskConfig {
    /// Checks the settings without I/O.
    pub fn validate(&self, allow_insecure: bool) -> Result<(), ConnectorError> {
        parse_endpoint("base_url", &self.base_url, allow_insecure)?;
        match &self.auth {
            AuthConfig::Basic(basic) => basic.validate("auth", allow_insecure)?,
            AuthConfig::Bearer(bearer) => bearer.validate("auth", allow_insecure)?,
            AuthConfig::OauthRefresh(oauth) => oauth.validate("auth", allow_insecure)?,
        }
        if !(1..=1000).contains(&self.page_size) {
            return Err(ConnectorError::Config(format!("page_size: {} is not in 1..=1000", self.page_size)));
        }
        if self.start_time < 0 {
            return Err(ConnectorError::Config("start_time: must not be negative".into()));
        }
        let limit = &self.rate_limit;
        let window_ok = limit.incremental_window_secs.is_finite() && limit.incremental_window_secs > 0.0;
        if limit.requests_per_minute == 0 || limit.incremental_requests == 0 || !window_ok {
            return Err(ConnectorError::Config(
                "rate_limit: requests_per_minute, incremental_requests and incremental_window_secs must be positive"
                    .into(),
            ));
        }
        if self.accounts.currency.len() != 3 || !self.accounts.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(ConnectorError::Config(format!(
                "accounts.currency: `{}` is not an ISO 4217 code",
                self.accounts.currency
            )));
        }
        self.accounts.lifecycle.validate("accounts.lifecycle").map_err(ConnectorError::Config)?;
        if self.accounts.lifecycle_stage_field.is_none() && !self.accounts.lifecycle.values.is_empty() {
            return Err(ConnectorError::Config(
                "accounts.lifecycle.values: set accounts.lifecycle_stage_field, the field whose values they map".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: serde_json::Value) -> Result<ZendeskConfig, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn minimal_config_gets_defaults() -> Result<(), Box<dyn std::error::Error>> {
        let config = parse(serde_json::json!({
            "base_url": "https://acme.zendesk.com",
            "auth": {"type": "basic", "email": "ops@acme.com", "api_token": "t0k"}
        }))?;
        config.validate(false)?;
        assert_eq!(config.page_size, 1000);
        assert_eq!(config.comments, CommentScope::All);
        assert_eq!(config.rate_limit.incremental_requests, 10);
        assert!(config.rate_limit.requests_per_minute < 200, "the Team plan's 200 a minute is the default budget");
        assert_eq!(config.mapping.bug_types, ["problem", "incident"]);
        assert_eq!((config.reconcile.every_runs, config.reconcile.every_hours), (0, 24));
        assert!(format!("{config:?}").contains("[redacted]"));
        Ok(())
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let base = |extra: serde_json::Value| {
            let mut value = serde_json::json!({
                "base_url": "https://acme.zendesk.com",
                "auth": {"type": "bearer", "token": "abc"}
            });
            if let (Some(map), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
                map.extend(extra.clone());
            }
            value
        };
        assert!(parse(base(serde_json::json!({"page_sise": 10}))).is_err());
        assert!(parse(base(serde_json::json!({"auth": {"type": "bearer", "token": "a", "x": 1}}))).is_err());
        assert!(parse(base(serde_json::json!({"mapping": {"bug_tagz": []}}))).is_err());
        assert!(parse(base(serde_json::json!({"reconcile": {"every_day": 1}}))).is_err());
        let insecure = parse(base(serde_json::json!({"base_url": "http://127.0.0.1:9"}))).map(|c| c.validate(false));
        assert!(matches!(insecure, Ok(Err(ConnectorError::Config(_)))));
        let bad_page = parse(base(serde_json::json!({"page_size": 5000}))).map(|c| c.validate(false));
        assert!(matches!(bad_page, Ok(Err(ConnectorError::Config(_)))));
    }

    #[test]
    fn the_refresh_form_needs_all_three_secrets_and_hides_them() -> Result<(), Box<dyn std::error::Error>> {
        let with =
            |auth: serde_json::Value| parse(serde_json::json!({"base_url": "https://acme.zendesk.com", "auth": auth}));
        let config = with(serde_json::json!({
            "type": "oauth_refresh", "client_id": "chorus", "client_secret": "s3cret", "refresh_token": "r3fresh"
        }))?;
        config.validate(false)?;
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cret") && !printed.contains("r3fresh"), "{printed}");
        let empty = with(serde_json::json!({
            "type": "oauth_refresh", "client_id": "chorus", "client_secret": "s", "refresh_token": ""
        }))?;
        assert!(matches!(empty.validate(false), Err(ConnectorError::Config(_))));
        assert!(with(serde_json::json!({"type": "oauth_refresh", "client_id": "c"})).is_err());
        Ok(())
    }

    #[test]
    fn old_auth_keys_get_an_error_naming_the_new_one() {
        use chorus_sync::connector::ConnectorFactory;
        let factory: Box<dyn ConnectorFactory> = chorus_sync::Factory::<crate::ZendeskConnector>::boxed();
        let with = |auth: serde_json::Value| serde_json::json!({"base_url": "https://acme.zendesk.com", "auth": auth});
        let cases = [
            (
                serde_json::json!({"method": "api_token", "email": "ops@acme.com", "token": "hunter2"}),
                "`type = \"basic\"` with `email` and `api_token`",
            ),
            (serde_json::json!({"method": "oauth", "access_token": "hunter2"}), "`type = \"bearer\"` with `token`"),
            (
                serde_json::json!({"method": "oauth_refresh", "client_id": "c", "client_secret": "s", "refresh_token": "r"}),
                "use `type`",
            ),
            (serde_json::json!({"type": "basic", "email": "ops@acme.com", "token": "hunter2"}), "use `api_token`"),
            (serde_json::json!({"type": "bearer", "access_token": "hunter2"}), "with `token`"),
        ];
        for (auth, hint) in cases {
            let message = factory.validate(&with(auth.clone()), false).expect_err("old key").to_string();
            assert!(message.contains(hint) && !message.contains("hunter2"), "{auth}: {message}");
        }
        let new = serde_json::json!({"type": "basic", "email": "ops@acme.com", "api_token": "t"});
        assert!(factory.validate(&with(new), false).is_ok());
    }
}

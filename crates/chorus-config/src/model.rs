//! The configuration model: what each section of `chorus.toml` may contain.
//!
//! Every struct denies unknown fields, so a typo is an error at load, not a silently
//! ignored setting. `Config::validate` checks what types cannot: unique ids, cron
//! syntax, known connector kinds and each connector's own settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chorus_sync::{HttpPolicy, Registry};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub index: IndexConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    /// The reporting currency and the exchange rates into it.
    #[serde(default)]
    pub money: chorus_core::ExchangeRates,
    /// The weights of request priority.
    #[serde(default)]
    pub priority: chorus_core::PriorityWeights,
    /// Account health thresholds and the plan → capabilities map.
    #[serde(default)]
    pub health: chorus_core::HealthThresholds,
    /// One entry per configured connection to a source.
    #[serde(default)]
    pub connectors: Vec<ConnectorConfig>,
}

/// `[store]`: the system of record.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB`. Put a
    /// password in `${VAR}`, not in the file.
    #[serde(default = "default_store_url")]
    pub url: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { url: default_store_url() }
    }
}

fn default_store_url() -> String {
    "sqlite://chorus.db".to_owned()
}

/// `[index]`: the local search index.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// Directory of the tantivy index; rebuilt from the store when missing.
    #[serde(default = "default_index_path")]
    pub path: PathBuf,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self { path: default_index_path() }
    }
}

fn default_index_path() -> PathBuf {
    PathBuf::from("chorus-index")
}

/// `[server]`: `chorus serve`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Milliseconds between a webhook event and the incremental sync it asks for;
    /// events for one connector within it share one run.
    #[serde(default = "default_webhook_debounce_ms")]
    pub webhook_debounce_ms: u64,
    /// Webhook signing secrets by connector id (Slack, Zendesk and Jira connectors):
    /// `[server.webhooks.jira-main]` `secret = "${JIRA_WEBHOOK_SECRET}"`. A connector
    /// without one has no webhook endpoint.
    #[serde(default)]
    pub webhooks: std::collections::BTreeMap<String, WebhookConfig>,
    /// Most change-log entries the search index may be behind the store while
    /// `/readyz` answers ready.
    #[serde(default = "default_max_index_lag")]
    pub max_index_lag: u64,
    /// Hours a web UI session lasts from its sign-in (1 to 720).
    #[serde(default = "default_session_hours")]
    pub session_hours: u32,
    /// Web UI sign-in attempts one client address may make per minute (at least 1).
    #[serde(default = "default_logins_per_minute")]
    pub logins_per_minute: u32,
}

fn default_max_index_lag() -> u64 {
    10_000
}

fn default_session_hours() -> u32 {
    12
}

fn default_logins_per_minute() -> u32 {
    10
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            webhook_debounce_ms: default_webhook_debounce_ms(),
            webhooks: std::collections::BTreeMap::new(),
            max_index_lag: default_max_index_lag(),
            session_hours: default_session_hours(),
            logins_per_minute: default_logins_per_minute(),
        }
    }
}

fn default_webhook_debounce_ms() -> u64 {
    2_000
}

/// `[server.webhooks.<connector id>]`: how that connector's webhook is verified.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The source's signing secret (Slack signing secret, Zendesk webhook secret, Jira
    /// webhook secret). Put it in `${VAR}`.
    pub secret: chorus_core::Secret,
}

/// Connector kinds whose sources send signed webhooks.
const WEBHOOK_KINDS: [&str; 3] = ["slack", "zendesk", "jira"];

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// `[sync]`: engine-wide settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Seconds a run's claim lives without a heartbeat; another node takes over after.
    #[serde(default = "default_claim_ttl")]
    pub claim_ttl_secs: u64,
    /// Per-request read timeout, seconds.
    #[serde(default = "default_read_timeout")]
    pub read_timeout_secs: u64,
    /// Attempts per request before a run fails (the first included).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Largest response body accepted, bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            claim_ttl_secs: default_claim_ttl(),
            read_timeout_secs: default_read_timeout(),
            max_attempts: default_max_attempts(),
            max_body_bytes: default_max_body(),
        }
    }
}

fn default_claim_ttl() -> u64 {
    60
}
fn default_read_timeout() -> u64 {
    60
}
fn default_max_attempts() -> u32 {
    8
}
fn default_max_body() -> usize {
    32 * 1024 * 1024
}

/// `[[connectors]]`: one connection to one source.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// Unique, stable id: lowercase letters, digits, `-` and `_`. Items are keyed by it.
    pub id: String,
    /// Which connector: `jira`, `zendesk`, `feed`, ...
    pub kind: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Cron expression for `chorus serve` (seconds field optional), e.g. `*/15 * * * *`.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Allow plain-HTTP and loopback/private endpoints (simulators, local proxies).
    #[serde(default)]
    pub allow_insecure_endpoints: bool,
    /// Sustained requests per minute to this source (default 600).
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Requests allowed in a burst above the sustained rate (default 10).
    #[serde(default)]
    pub burst: Option<u32>,
    /// The connector's own settings; see `schemas/connectors/<kind>.json`.
    #[serde(default)]
    pub settings: Settings,
}

/// A connector's settings table, untyped until its factory reads it. It may hold
/// secrets, so `Debug` never prints its values.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Settings(#[schemars(with = "serde_json::Map<String, serde_json::Value>")] pub serde_json::Value);

impl Default for Settings {
    fn default() -> Self {
        Self(serde_json::Value::Object(serde_json::Map::new()))
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.0.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        write!(f, "Settings {{ keys: {keys:?}, values: {} }}", chorus_core::Secret::REDACTED)
    }
}

impl std::ops::Index<&str> for Settings {
    type Output = serde_json::Value;
    fn index(&self, key: &str) -> &serde_json::Value {
        &self.0[key]
    }
}

fn default_true() -> bool {
    true
}

impl ConnectorConfig {
    /// The HTTP policy for this connector's client.
    pub fn http_policy(&self, sync: &SyncConfig) -> HttpPolicy {
        let defaults = HttpPolicy::default();
        HttpPolicy {
            requests_per_minute: self.requests_per_minute.unwrap_or(defaults.requests_per_minute),
            burst: self.burst.unwrap_or(defaults.burst),
            max_attempts: sync.max_attempts,
            read_timeout: Duration::from_secs(sync.read_timeout_secs),
            max_body_bytes: sync.max_body_bytes,
            ..defaults
        }
    }
}

impl Config {
    /// Checks what the types cannot; the error names the offending key.
    pub fn validate(&self, registry: &Registry) -> Result<(), String> {
        if self.sync.claim_ttl_secs < 5 {
            return Err("sync.claim_ttl_secs: must be at least 5".into());
        }
        if self.sync.max_attempts == 0 {
            return Err("sync.max_attempts: must be at least 1".into());
        }
        if !(1..=720).contains(&self.server.session_hours) {
            return Err("server.session_hours: must be 1 to 720".into());
        }
        if self.server.logins_per_minute == 0 {
            return Err("server.logins_per_minute: must be at least 1".into());
        }
        for (id, webhook) in &self.server.webhooks {
            let at = format!("server.webhooks.{id}");
            let connector = self.connector(id).ok_or_else(|| format!("{at}: no connector `{id}` is configured"))?;
            if !WEBHOOK_KINDS.contains(&connector.kind.as_str()) {
                return Err(format!(
                    "{at}: `{}` connectors take no webhooks (only slack, zendesk, jira)",
                    connector.kind
                ));
            }
            if webhook.secret.is_empty() {
                return Err(format!("{at}.secret: must not be empty"));
            }
        }
        self.money.validate().map_err(|e| format!("money.{e}"))?;
        self.priority.validate().map_err(|e| format!("priority.{e}"))?;
        self.health.validate().map_err(|e| format!("health.{e}"))?;
        let mut seen = std::collections::HashSet::new();
        for (n, connector) in self.connectors.iter().enumerate() {
            let at = format!("connectors[{n}] (`{}`)", connector.id);
            if !is_valid_id(&connector.id) {
                return Err(format!("{at}.id: use 1-64 lowercase letters, digits, `-` or `_`"));
            }
            if !seen.insert(connector.id.as_str()) {
                return Err(format!("{at}.id: duplicate connector id"));
            }
            if let Some(schedule) = &connector.schedule {
                parse_schedule(schedule).map_err(|e| format!("{at}.schedule: {e}"))?;
            }
            if connector.requests_per_minute == Some(0) {
                return Err(format!("{at}.requests_per_minute: must be at least 1"));
            }
            if !connector.settings.0.is_object() {
                return Err(format!("{at}.settings: must be a table"));
            }
            let factory = registry.get(&connector.kind).map_err(|e| format!("{at}.kind: {e}"))?;
            factory
                .validate(&connector.settings.0, connector.allow_insecure_endpoints)
                .map_err(|e| format!("{at}.settings: {e}"))?;
        }
        Ok(())
    }

    pub fn connector(&self, id: &str) -> Option<&ConnectorConfig> {
        self.connectors.iter().find(|c| c.id == id)
    }
}

fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Parses a cron expression (5 fields, or 6 with seconds first).
pub fn parse_schedule(expr: &str) -> Result<croner::Cron, String> {
    croner::Cron::new(expr).with_seconds_optional().parse().map_err(|e| e.to_string())
}

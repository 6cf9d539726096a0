//! The `[connectors.settings]` table of a `kind = "slack"` connector.
//!
//! Every key but `auth` and `channels` has a documented default; unknown keys are
//! refused. `validate` checks without I/O: the endpoint, a token that looks like a bot
//! (`xoxb-`) or user (`xoxp-`) token — never quoting it, and refusing a rotating
//! `xoxe.` token, which would expire mid-schedule — and channels named once each.

use chorus_core::Kind;
use chorus_sync::auth::BearerConfig;
use chorus_sync::endpoint::parse_endpoint;
use chorus_sync::ConnectorError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Settings of one Slack connector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The Web API root (default `https://slack.com/api`).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    pub auth: AuthConfig,
    /// The channels to read, by name (`#bugs` or `bugs`) or id (`C0123ABCD`).
    pub channels: Vec<ChannelConfig>,
    /// The kind of items from channels that set none (default `feature_request`).
    #[serde(default = "default_kind")]
    pub default_kind: Kind,
    /// How many days before the newest message read a thread's parent may be for its
    /// new replies, edits and deletions to be seen (default 60). Each run re-reads the
    /// history of this window and every thread in it that has replies.
    #[serde(default = "default_lookback")]
    pub thread_lookback_days: u32,
    /// `internal` (default; an app made in the workspace, or Marketplace-approved) or
    /// `non_marketplace` (a distributed app since 2025: history and replies at 1
    /// request a minute and 15 messages a page).
    #[serde(default)]
    pub rate_mode: RateMode,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
}

/// `type = "bearer"` with a bot (`xoxb-`) or user (`xoxp-`) token.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    Bearer(BearerConfig),
}

/// One channel to read.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// `#feature-requests`, `feature-requests` or `C0123ABCD`.
    pub channel: String,
    /// The kind of this channel's items (default: `default_kind`).
    #[serde(default)]
    pub kind: Option<Kind>,
    /// The customer account this channel belongs to (a Slack Connect channel shared
    /// with them), by name as the store knows it: its items link to that account.
    #[serde(default)]
    pub account: Option<String>,
}

impl ChannelConfig {
    /// The name without `#`, or the id, as written.
    pub fn reference(&self) -> &str {
        self.channel.trim().trim_start_matches('#')
    }

    /// Whether `channel` is written as an id (`C…`, `G…`, upper case and digits).
    pub fn is_id(&self) -> bool {
        let text = self.channel.trim();
        !text.starts_with('#')
            && text.len() >= 9
            && (text.starts_with('C') || text.starts_with('G'))
            && text.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    }
}

/// Which of Slack's limits the app is under.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateMode {
    #[default]
    Internal,
    NonMarketplace,
}

/// Requests a minute per method tier; the defaults are Slack's published tiers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Tier 1 (history and replies in `non_marketplace` mode): 1.
    pub tier1_per_minute: u32,
    /// Tier 2 (`conversations.list`): 20.
    pub tier2_per_minute: u32,
    /// Tier 3 (`conversations.history`, `conversations.replies` in `internal` mode): 50.
    pub tier3_per_minute: u32,
    /// Tier 4 (`users.info`, `auth.test`): 100.
    pub tier4_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { tier1_per_minute: 1, tier2_per_minute: 20, tier3_per_minute: 50, tier4_per_minute: 100 }
    }
}

/// Why a rotating token is refused, and what to use instead.
const ROTATING_TOKEN: &str = "auth.token: a rotating token (xoxe.…) expires after 12 hours and is not supported; \
     use the bot token (xoxb-…) of an app without token rotation (slack does not let an app turn rotation off, so \
     this may mean a new app); the value is not shown";

fn default_base_url() -> String {
    "https://slack.com/api".into()
}

fn default_kind() -> Kind {
    Kind::FeatureRequest
}

fn default_lookback() -> u32 {
    60
}

impl SlackConfig {
    pub fn validate(&self, allow_insecure: bool) -> Result<(), ConnectorError> {
        parse_endpoint("base_url", &self.base_url, allow_insecure)?;
        let AuthConfig::Bearer(bearer) = &self.auth;
        bearer.validate("auth", allow_insecure)?;
        let token = bearer.token.expose();
        if token.starts_with("xoxe") {
            return Err(ConnectorError::Config(ROTATING_TOKEN.into()));
        }
        if !(token.starts_with("xoxb-") || token.starts_with("xoxp-")) {
            return Err(ConnectorError::Config(
                "auth.token: expected a bot token (xoxb-…) or a user token (xoxp-…); the value is not shown".into(),
            ));
        }
        if self.channels.is_empty() {
            return Err(ConnectorError::Config("channels: name at least one channel to read".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for channel in &self.channels {
            let reference = channel.reference();
            if reference.is_empty() {
                return Err(ConnectorError::Config("channels: a channel has an empty name".into()));
            }
            if !seen.insert(reference.to_ascii_lowercase()) {
                return Err(ConnectorError::Config(format!("channels: `{reference}` is listed twice")));
            }
        }
        let limits = &self.rate_limit;
        let tiers =
            [limits.tier1_per_minute, limits.tier2_per_minute, limits.tier3_per_minute, limits.tier4_per_minute];
        if tiers.contains(&0) {
            return Err(ConnectorError::Config("rate_limit: a tier must allow at least 1 request a minute".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_token(token: &str) -> SlackConfig {
        let settings =
            serde_json::json!({"auth": {"type": "bearer", "token": token}, "channels": [{"channel": "#bugs"}]});
        serde_json::from_value(settings).expect("settings parse")
    }

    #[test]
    fn a_rotating_token_is_refused_saying_why_without_quoting_it() {
        for token in ["xoxe.xoxb-1-MTIzNDU2", "xoxe.xoxp-1-MTIzNDU2", "xoxe-1-MTIzNDU2"] {
            let Err(error) = with_token(token).validate(false) else { panic!("{} is refused", &token[..5]) };
            let message = error.to_string();
            assert!(message.contains("12 hours") && message.contains("without token rotation"), "{message}");
            assert!(!message.contains("MTIzNDU2"), "the token is never quoted: {message}");
        }
        assert!(with_token("xoxb-1-MTIzNDU2").validate(false).is_ok(), "a bot token is taken");
    }
}

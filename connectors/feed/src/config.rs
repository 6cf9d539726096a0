//! Settings of a feed connector (`[connectors.settings]` with `kind = "feed"`).

use chorus_sync::auth::{BearerConfig, RefreshTokenConfig};
use chorus_sync::endpoint::parse_endpoint;
use chorus_sync::ConnectorError;
use schemars::JsonSchema;
use serde::Deserialize;

/// `[connectors.settings]` for `kind = "feed"`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Root of the feed service; `api/items` and `api/me` are resolved against it.
    pub base_url: String,
    #[serde(default)]
    pub auth: FeedAuth,
    /// Records per page requested (1-500).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Seconds re-read before the cursor on each run, for records the source commits late.
    #[serde(default = "default_overlap")]
    pub overlap_secs: u32,
}

fn default_page_size() -> u32 {
    100
}

fn default_overlap() -> u32 {
    60
}

/// How the feed authenticates us (the shared `[connectors.settings.auth]` vocabulary).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FeedAuth {
    /// An open feed (a local adapter).
    // A struct variant, so that a key written under it (a `token` meant for `bearer`)
    // is refused instead of dropped.
    None {},
    /// A static bearer token.
    Bearer(BearerConfig),
    /// OAuth 2.0 refresh-token grant (token endpoint default `{base_url}/oauth/token`);
    /// rotated refresh tokens are persisted in the store.
    OauthRefresh(RefreshTokenConfig),
}

impl Default for FeedAuth {
    fn default() -> Self {
        Self::None {}
    }
}

impl FeedConfig {
    pub(crate) fn validate(&self, allow_insecure: bool) -> Result<(), ConnectorError> {
        parse_endpoint("base_url", &self.base_url, allow_insecure)?;
        if !(1..=500).contains(&self.page_size) {
            return Err(ConnectorError::Config("page_size: must be between 1 and 500".into()));
        }
        match &self.auth {
            FeedAuth::None {} => Ok(()),
            FeedAuth::Bearer(bearer) => bearer.validate("auth", allow_insecure),
            FeedAuth::OauthRefresh(oauth) => oauth.validate("auth", allow_insecure),
        }
    }
}

#[cfg(test)]
mod tests {
    use chorus_sync::{Connector, Factory};
    use serde_json::json;

    use crate::FeedConnector;

    fn validate(auth: serde_json::Value) -> Result<(), chorus_sync::ConnectorError> {
        let settings = json!({"base_url": "https://feed.example.com", "auth": auth});
        Factory::<FeedConnector>::boxed().validate(&settings, false)
    }

    #[test]
    fn auth_speaks_the_shared_vocabulary() {
        assert!(validate(json!({"type": "none"})).is_ok());
        assert!(validate(json!({"type": "bearer", "token": "t"})).is_ok());
        let refresh = json!({"type": "oauth_refresh", "client_id": "c", "client_secret": "s", "refresh_token": "r"});
        assert!(validate(refresh).is_ok());
        let message = validate(json!({"type": "bearer", "token": ""})).expect_err("empty").to_string();
        assert!(message.contains("auth.token"), "{message}");
        assert_eq!(FeedConnector::KIND, "feed");
    }

    #[test]
    fn a_key_of_another_auth_type_is_refused() {
        // A token written under `type = "none"` would otherwise be dropped silently and
        // the feed read without it.
        let message = validate(json!({"type": "none", "token": "hunter2"})).expect_err("unknown key").to_string();
        assert!(message.contains("token") && !message.contains("hunter2"), "{message}");
        let message = validate(json!({"type": "bearer", "token": "t", "client_id": "c"})).expect_err("unknown key");
        assert!(message.to_string().contains("client_id"), "{message}");
    }

    #[test]
    fn the_old_oauth_type_names_the_new_one() {
        let old = json!({"type": "oauth", "token_url": "https://feed.example.com/oauth/token", "client_id": "c",
                         "client_secret": "s", "refresh_token": "r"});
        let message = validate(old).expect_err("old type").to_string();
        assert!(message.contains("oauth_refresh"), "{message}");
    }
}

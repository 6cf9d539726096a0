//! Settings of a feed connector (`[connectors.settings]` with `kind = "feed"`).

use chorus_core::Secret;
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

/// How the feed authenticates us.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FeedAuth {
    /// An open feed (a local adapter).
    #[default]
    None,
    /// A static bearer token.
    Bearer { token: Secret },
    /// OAuth 2.0 refresh-token grant; rotated refresh tokens are persisted in the store.
    Oauth { token_url: String, client_id: String, client_secret: Secret, refresh_token: Secret },
}

impl FeedConfig {
    pub(crate) fn validate(&self, allow_insecure: bool) -> Result<(), ConnectorError> {
        parse_endpoint("base_url", &self.base_url, allow_insecure)?;
        if !(1..=500).contains(&self.page_size) {
            return Err(ConnectorError::Config("page_size: must be between 1 and 500".into()));
        }
        match &self.auth {
            FeedAuth::None => {}
            FeedAuth::Bearer { token } if token.is_empty() => {
                return Err(ConnectorError::Config("auth.token: must not be empty".into()))
            }
            FeedAuth::Bearer { .. } => {}
            FeedAuth::Oauth { token_url, client_id, refresh_token, .. } => {
                parse_endpoint("auth.token_url", token_url, allow_insecure)?;
                if client_id.is_empty() || refresh_token.is_empty() {
                    return Err(ConnectorError::Config("auth: client_id and refresh_token are required".into()));
                }
            }
        }
        Ok(())
    }
}

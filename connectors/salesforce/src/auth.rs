//! Salesforce sessions: the three OAuth grants of the shared auth vocabulary, and the
//! `instance_url` their answers name.
//!
//! A token answer carries the session AND the host every data call must go to
//! (`instance_url`, another host than `login_url`); it carries no `expires_in`, so a
//! session is renewed only when a call answers 401 `INVALID_SESSION_ID` (the HTTP stack
//! then refreshes once, single-flight, through `OAuthRefresh`). Invariant: the
//! instance URL passes the same insecure-endpoint rule as any configured endpoint
//! before a single data call is made to it.

use std::sync::Arc;

use chorus_sync::auth::{ClientCredentialsConfig, JwtBearerConfig, RefreshTokenConfig};
use chorus_sync::endpoint::check_endpoint;
use chorus_sync::{ConnectorContext, ConnectorError, OAuthRefresh};
use schemars::JsonSchema;
use serde::Deserialize;
use url::Url;

/// The token endpoint's path on the login host.
pub const TOKEN_PATH: &str = "/services/oauth2/token";

/// How the connector obtains a session (`[connectors.settings.auth] type = "…"`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthConfig {
    /// A connected app's consumer key and secret with a refresh token from the web
    /// server flow (scopes `api refresh_token`).
    OauthRefresh(RefreshTokenConfig),
    /// The client-credentials flow: the connected app runs as its "Run As" user
    /// (Salesforce wants the org's My Domain as `login_url` for it).
    ClientCredentials(ClientCredentialsConfig),
    /// The JWT bearer flow: an RS256 assertion signed with the private key whose
    /// certificate is uploaded to the connected app, for a pre-authorized user.
    JwtBearer(JwtBearerConfig),
}

impl AuthConfig {
    pub fn validate(&self, allow_insecure: bool) -> Result<(), ConnectorError> {
        match self {
            Self::OauthRefresh(config) => config.validate("auth", allow_insecure),
            Self::ClientCredentials(config) => config.validate("auth", allow_insecure),
            Self::JwtBearer(config) => config.validate("auth", allow_insecure),
        }
    }

    /// The session provider, its token endpoint at `login_url` unless `token_url` says.
    pub fn provider(&self, login_url: &Url, ctx: &ConnectorContext) -> Result<Arc<OAuthRefresh>, ConnectorError> {
        let token_url = login_url.join(TOKEN_PATH).map_err(|e| ConnectorError::Config(format!("login_url: {e}")))?;
        let provider = match self {
            Self::OauthRefresh(config) => config.provider(&token_url, ctx)?,
            Self::ClientCredentials(config) => config.provider(&token_url, ctx)?,
            Self::JwtBearer(config) => config.provider(&token_url, ctx)?,
        };
        Ok(Arc::new(provider))
    }
}

/// The instance every data call goes to, from the session's token answer.
pub async fn instance_url(provider: &OAuthRefresh, allow_insecure: bool) -> Result<Url, ConnectorError> {
    let raw = provider.token_field("instance_url").await?.ok_or_else(|| ConnectorError::Auth {
        endpoint: TOKEN_PATH.into(),
        reason: "the token answer named no instance_url".into(),
    })?;
    checked_instance_url(&raw, allow_insecure)
}

/// A token answer's `instance_url`, refused unless it passes the endpoint rule
/// (`https` and not loopback, unless `allow_insecure_endpoints`).
pub fn checked_instance_url(raw: &str, allow_insecure: bool) -> Result<Url, ConnectorError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| ConnectorError::permanent(TOKEN_PATH, format!("instance_url is not a url ({e})")))?;
    check_endpoint("instance_url", &url, allow_insecure)?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_url_on_plain_http_or_loopback_is_refused_unless_allowed() {
        let error = checked_instance_url("http://127.0.0.1:4431", false).expect_err("refused");
        assert!(error.to_string().contains("instance_url"), "{error}");
        assert!(checked_instance_url("https://127.0.0.1:4431", false).is_err(), "loopback is refused too");
        assert!(checked_instance_url("http://127.0.0.1:4431", true).is_ok());
        assert!(checked_instance_url("https://na1.salesforce.com", false).is_ok());
        assert!(checked_instance_url("not a url", true).is_err());
    }
}

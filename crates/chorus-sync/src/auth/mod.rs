//! Auth providers: how the HTTP stack authorizes a request and refreshes a token.
//!
//! `AuthProvider` is what `http` calls on every attempt; `BasicAuth` and `BearerAuth`
//! hold static credentials here, `oauth` obtains access tokens from an OAuth 2.0
//! token endpoint (`jwt` signs the assertions of its JWT bearer grant), and `config`
//! is the one `[connectors.settings.auth]` vocabulary that builds them. Invariants: secrets stay in `Secret` and reach only the
//! `Authorization` header (marked sensitive); a refresh is single-flight (concurrent
//! 401s on one token generation cause exactly one grant). This module imports nothing
//! of `http`, so the stack and its providers do not depend on each other in a circle.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use chorus_core::Secret;
use reqwest::header::{HeaderValue, AUTHORIZATION};

use crate::ConnectorError;

mod config;
mod jwt;
mod oauth;

pub use config::{
    check_legacy_auth, BasicAuthConfig, BearerConfig, ClientCredentialsConfig, JwtBearerConfig, RefreshTokenConfig,
};
pub use jwt::{JwtAssertion, ASSERTION_LIFETIME, JWT_BEARER_GRANT_TYPE};
pub use oauth::{stored_refresh_token, ClientAuth, OAuthConfig, OAuthRefresh, REFRESH_TOKEN_CREDENTIAL};

/// Authorizes requests; refreshes at most once per stale generation (single-flight).
#[async_trait]
pub trait AuthProvider: Send + Sync {
    /// Adds credentials to the request; returns the token generation it used.
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<u64, ConnectorError>;

    /// Called after a 401 on a request authorized with `generation`. Refreshes unless
    /// another caller already moved past that generation; concurrent callers wait for
    /// one refresh. Providers that cannot refresh return `ConnectorError::Auth`.
    async fn refresh(&self, generation: u64) -> Result<(), ConnectorError>;
}

pub(crate) fn set_authorization(request: &mut reqwest::Request, value: &str) -> Result<(), ConnectorError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| ConnectorError::Auth {
        endpoint: request.url().path().to_owned(),
        reason: "the credential contains characters not allowed in a header".into(),
    })?;
    header.set_sensitive(true);
    request.headers_mut().insert(AUTHORIZATION, header);
    Ok(())
}

/// HTTP Basic with a user and an API token (Jira, Zendesk `email/token`).
#[derive(Debug, Clone)]
pub struct BasicAuth {
    pub user: String,
    pub token: Secret,
}

impl BasicAuth {
    pub fn new(user: impl Into<String>, token: Secret) -> Self {
        Self { user: user.into(), token }
    }
}

#[async_trait]
impl AuthProvider for BasicAuth {
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<u64, ConnectorError> {
        let pair = format!("{}:{}", self.user, self.token.expose());
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        set_authorization(request, &format!("Basic {encoded}"))?;
        Ok(0)
    }

    async fn refresh(&self, _generation: u64) -> Result<(), ConnectorError> {
        Err(ConnectorError::Auth {
            endpoint: "basic auth".into(),
            reason: "the user and API token were refused; check them in the configuration".into(),
        })
    }
}

/// A static bearer token (a Slack bot token, a Zendesk OAuth token).
#[derive(Debug, Clone)]
pub struct BearerAuth {
    pub token: Secret,
}

impl BearerAuth {
    pub fn new(token: Secret) -> Self {
        Self { token }
    }
}

#[async_trait]
impl AuthProvider for BearerAuth {
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<u64, ConnectorError> {
        set_authorization(request, &format!("Bearer {}", self.token.expose()))?;
        Ok(0)
    }

    async fn refresh(&self, _generation: u64) -> Result<(), ConnectorError> {
        Err(ConnectorError::Auth {
            endpoint: "bearer auth".into(),
            reason: "the bearer token was refused and cannot be refreshed; replace it in the configuration".into(),
        })
    }
}

/// `Arc` shorthand for `HttpClient::with_auth`.
pub fn shared<A: AuthProvider + 'static>(provider: A) -> Arc<dyn AuthProvider> {
    Arc::new(provider)
}

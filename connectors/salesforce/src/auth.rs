//! Salesforce sessions: the three OAuth grants, and the `instance_url` they name.
//!
//! A token answer carries the session (`access_token`) AND the host every data call
//! must go to (`instance_url`, another host than `login_url`); it carries no
//! `expires_in`, so a session is renewed only when a call answers 401
//! `INVALID_SESSION_ID` (the HTTP stack then calls `refresh`, once, single-flight).
//! Written here rather than over `chorus_sync::OAuthRefresh`, which cannot yet hand
//! out a token-response field or sign a JWT assertion. Invariants: the instance URL
//! passes the same insecure-endpoint rule as any configured endpoint before a single
//! data call is made; a refresh is single-flight (a 401 on an older session
//! generation does not grant again); a rotated refresh token is persisted before the
//! session it came with is used; secrets reach only the token request body and the
//! `Authorization` header.

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use chorus_core::Secret;
use chorus_sync::auth::AuthProvider;
use chorus_sync::endpoint::check_endpoint;
use chorus_sync::{ConnectorError, Credentials, HttpClient};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde::Deserialize;
use url::Url;

use crate::config::AuthConfig;

/// The JWT bearer grant type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The `Credentials` name of a rotated refresh token (Salesforce rotates only when the
/// connected app says so; the newest is kept).
pub const REFRESH_TOKEN: &str = "salesforce_refresh_token";

/// How long a JWT assertion is valid (Salesforce allows at most 3 minutes).
const ASSERTION_SECS: u64 = 180;

/// A token answer; Salesforce adds `instance_url`, `id`, `issued_at`, `signature`.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    instance_url: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Default)]
struct Session {
    access: Option<Secret>,
    instance: Option<Url>,
    generation: u64,
}

/// Sessions for one org, shared by every request of the connector.
pub struct SalesforceAuth {
    grant: AuthConfig,
    token_url: Url,
    audience: String,
    /// The stack without auth: token requests are not authorized by a session.
    http: HttpClient,
    credentials: Credentials,
    allow_insecure: bool,
    session: tokio::sync::Mutex<Session>,
}

impl SalesforceAuth {
    pub fn new(
        grant: AuthConfig,
        login_url: &Url,
        http: HttpClient,
        credentials: Credentials,
        allow_insecure: bool,
    ) -> Result<Self, ConnectorError> {
        let token_url = login_url
            .join("/services/oauth2/token")
            .map_err(|e| ConnectorError::Config(format!("login_url: {e}")))?;
        let audience = match &grant {
            AuthConfig::JwtBearer { audience: Some(audience), .. } => audience.clone(),
            _ => login_url.origin().ascii_serialization(),
        };
        Ok(Self {
            grant,
            token_url,
            audience,
            http,
            credentials,
            allow_insecure,
            session: tokio::sync::Mutex::new(Session::default()),
        })
    }

    /// The instance every data call goes to (obtaining a session first if needed).
    pub async fn instance_url(&self) -> Result<Url, ConnectorError> {
        let mut session = self.session.lock().await;
        if session.instance.is_none() {
            self.obtain(&mut session).await?;
        }
        session.instance.clone().ok_or_else(|| self.refused("the token answer named no instance_url"))
    }

    fn refused(&self, reason: impl Into<String>) -> ConnectorError {
        ConnectorError::Auth { endpoint: self.token_url.path().to_owned(), reason: reason.into() }
    }

    /// One grant of the configured kind; the session and its instance replace the old.
    async fn obtain(&self, session: &mut Session) -> Result<(), ConnectorError> {
        let mut form: Vec<(&str, String)> = Vec::new();
        let mut refresh_used = None;
        match &self.grant {
            AuthConfig::OauthRefresh { client_id, client_secret, refresh_token } => {
                let stored = self.credentials.get(REFRESH_TOKEN).await?;
                let current = stored.clone().unwrap_or_else(|| refresh_token.expose().to_owned());
                form.push(("grant_type", "refresh_token".into()));
                form.push(("refresh_token", current.clone()));
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", client_secret.expose().to_owned()));
                refresh_used = Some((stored, current));
            }
            AuthConfig::ClientCredentials { client_id, client_secret } => {
                form.push(("grant_type", "client_credentials".into()));
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", client_secret.expose().to_owned()));
            }
            AuthConfig::JwtBearer { client_id, username, private_key, .. } => {
                form.push(("grant_type", JWT_BEARER.into()));
                form.push(("assertion", assertion(client_id, username, &self.audience, private_key)?));
            }
        }
        let request = self.http.post(self.token_url.clone()).form(&form);
        let answer: TokenAnswer = self.http.send_json(request).await.map_err(|error| match error {
            // A 400 from the token endpoint is the grant refused (`invalid_grant`, ...).
            ConnectorError::Permanent { reason, .. } => self.refused(format!("the token endpoint refused the grant: {reason}")),
            other => other,
        })?;
        let instance = checked_instance_url(&answer.instance_url, self.allow_insecure)?;
        if let (Some((stored, used)), Some(rotated)) = (refresh_used, answer.refresh_token.as_deref()) {
            if rotated != used {
                let swapped = self.credentials.swap(REFRESH_TOKEN, stored.as_deref(), rotated).await?;
                if !swapped {
                    return Err(self.refused("the refresh token was rotated by another process meanwhile; try again"));
                }
            }
        }
        session.access = Some(Secret::new(answer.access_token));
        session.instance = Some(instance);
        session.generation += 1;
        Ok(())
    }
}

/// The token answer's `instance_url`, refused unless it passes the endpoint rule
/// (`https` and not loopback, unless `allow_insecure_endpoints`).
pub fn checked_instance_url(raw: &str, allow_insecure: bool) -> Result<Url, ConnectorError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| ConnectorError::permanent("/services/oauth2/token", format!("instance_url is not a url ({e})")))?;
    check_endpoint("instance_url", &url, allow_insecure)?;
    Ok(url)
}

#[async_trait]
impl AuthProvider for SalesforceAuth {
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<u64, ConnectorError> {
        let mut session = self.session.lock().await;
        if session.access.is_none() {
            self.obtain(&mut session).await?;
        }
        let token = session.access.as_ref().ok_or_else(|| self.refused("no session"))?;
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| self.refused("the session token holds characters not allowed in a header"))?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(session.generation)
    }

    async fn refresh(&self, generation: u64) -> Result<(), ConnectorError> {
        let mut session = self.session.lock().await;
        if session.generation != generation {
            return Ok(());
        }
        self.obtain(&mut session).await
    }
}

/// The RSA key a JWT assertion is signed with, from PEM (PKCS#8 or PKCS#1).
pub fn signing_key(pem: &Secret) -> Result<ring::rsa::KeyPair, ConnectorError> {
    let text = pem.expose();
    let body: String = text.lines().filter(|line| !line.starts_with("-----")).map(str::trim).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| ConnectorError::Config("auth.private_key is not a PEM private key".into()))?;
    let key = if text.contains("BEGIN RSA PRIVATE KEY") {
        ring::rsa::KeyPair::from_der(&der)
    } else {
        ring::rsa::KeyPair::from_pkcs8(&der)
    };
    key.map_err(|e| ConnectorError::Config(format!("auth.private_key is not a usable RSA private key ({e})")))
}

/// A signed RS256 assertion: `iss` the consumer key, `sub` the user, `aud` the login
/// host, `exp` three minutes ahead.
pub fn assertion(client_id: &str, username: &str, audience: &str, key: &Secret) -> Result<String, ConnectorError> {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let header = engine.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({ "iss": client_id, "sub": username, "aud": audience, "exp": now + ASSERTION_SECS });
    let signed = format!("{header}.{}", engine.encode(claims.to_string()));
    let key = signing_key(key)?;
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(&ring::signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signed.as_bytes(), &mut signature)
        .map_err(|_| ConnectorError::Config("auth.private_key could not sign the assertion".into()))?;
    Ok(format!("{signed}.{}", engine.encode(signature)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_url_on_plain_http_or_loopback_is_refused_unless_allowed() {
        let error = checked_instance_url("http://127.0.0.1:4431", false).expect_err("refused");
        assert!(error.to_string().contains("instance_url"), "{error}");
        assert!(checked_instance_url("http://127.0.0.1:4431", true).is_ok());
        assert!(checked_instance_url("https://na1.salesforce.com", false).is_ok());
        assert!(checked_instance_url("not a url", true).is_err());
    }

    #[test]
    fn a_bad_private_key_is_a_config_error_without_its_text() {
        let error = signing_key(&Secret::new("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----"))
            .err()
            .expect("refused");
        assert!(matches!(error, ConnectorError::Config(_)));
        assert!(!error.to_string().contains("c2VjcmV0"), "{error}");
    }
}

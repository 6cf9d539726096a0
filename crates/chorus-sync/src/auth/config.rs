//! The one auth vocabulary of `[connectors.settings.auth]`, shared by every connector.
//!
//! Each way to authenticate is one serde struct here, with `deny_unknown_fields`, a JSON
//! Schema, secrets as `Secret`, a `validate` without I/O and a constructor of its
//! provider. A connector's own `AuthConfig` is an enum tagged by `type` over the subset
//! it supports:
//!
//! ```ignore
//! #[serde(tag = "type", rename_all = "snake_case")]
//! enum AuthConfig { Basic(BasicAuthConfig), OauthRefresh(RefreshTokenConfig) }
//! ```
//!
//! so that `type = "basic"`, `"bearer"`, `"oauth_refresh"`, `"client_credentials"` and
//! `"jwt_bearer"` mean the same everywhere. `check_legacy_auth` answers the spellings
//! this vocabulary replaced with an error naming the new key; `Factory` calls it on the
//! raw settings before typed parsing. Invariant: no error here quotes a secret.

use std::path::PathBuf;

use chorus_core::Secret;
use schemars::JsonSchema;
use serde::Deserialize;
use url::Url;

use super::jwt::JwtAssertion;
use super::{BasicAuth, BearerAuth, ClientAuth, OAuthConfig, OAuthRefresh};
use crate::connector::ConnectorContext;
use crate::endpoint::{check_endpoint, parse_endpoint};
use crate::ConnectorError;

/// `type = "basic"`: an email address and an API token, sent as HTTP Basic.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// The account's email address.
    pub email: String,
    /// An API token made for this connector.
    pub api_token: Secret,
}

impl BasicAuthConfig {
    /// Checks the fields without I/O; `path` prefixes the keys in messages (`auth`).
    pub fn validate(&self, path: &str, _allow_insecure: bool) -> Result<(), ConnectorError> {
        let email = self.email.trim();
        if email.is_empty() {
            return Err(empty(path, "email"));
        }
        if !email.contains('@') {
            return Err(ConnectorError::Config(format!("{path}.email: `{email}` is not an email address")));
        }
        required_secret(path, "api_token", &self.api_token)
    }

    /// Basic auth with the email as the user.
    pub fn provider(&self) -> BasicAuth {
        BasicAuth::new(self.email.trim(), self.api_token.clone())
    }

    /// Basic auth with another user made from the email (Zendesk: `{email}/token`).
    pub fn provider_as(&self, user: impl Into<String>) -> BasicAuth {
        BasicAuth::new(user, self.api_token.clone())
    }
}

/// `type = "bearer"`: a static token sent as `Authorization: Bearer` (a Slack bot
/// token, a Zendesk OAuth access token that does not expire).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BearerConfig {
    pub token: Secret,
}

impl BearerConfig {
    pub fn validate(&self, path: &str, _allow_insecure: bool) -> Result<(), ConnectorError> {
        required_secret(path, "token", &self.token)
    }

    pub fn provider(&self) -> BearerAuth {
        BearerAuth::new(self.token.clone())
    }
}

/// `type = "oauth_refresh"`: an OAuth 2.0 client and a refresh token. The refresh token
/// may rotate: the newest one is kept in the credential store, and `refresh_token` here
/// only seeds the chain (a changed one re-seeds it).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenConfig {
    pub client_id: String,
    pub client_secret: Secret,
    pub refresh_token: Secret,
    /// The token endpoint; each connector documents its default.
    #[serde(default)]
    pub token_url: Option<String>,
}

impl RefreshTokenConfig {
    pub fn validate(&self, path: &str, allow_insecure: bool) -> Result<(), ConnectorError> {
        required(path, "client_id", &self.client_id)?;
        required_secret(path, "client_secret", &self.client_secret)?;
        required_secret(path, "refresh_token", &self.refresh_token)?;
        check_token_url(path, self.token_url.as_deref(), allow_insecure)
    }

    /// The token endpoint and client (secret in the request body, no scopes).
    pub fn oauth_config(&self, default_token_url: &Url, allow_insecure: bool) -> Result<OAuthConfig, ConnectorError> {
        let url = token_url(self.token_url.as_deref(), default_token_url, allow_insecure)?;
        Ok(client(url, &self.client_id, Some(&self.client_secret), &[]))
    }

    /// The refresh-token grant at `token_url`, else at `default_token_url`, rotating
    /// through `ctx.credentials`.
    pub fn provider(&self, default_token_url: &Url, ctx: &ConnectorContext) -> Result<OAuthRefresh, ConnectorError> {
        let config = self.oauth_config(default_token_url, ctx.allow_insecure_endpoints)?;
        Ok(OAuthRefresh::refresh_token(config, self.refresh_token.clone(), ctx.credentials.clone(), &ctx.http))
    }
}

/// `type = "client_credentials"`: an OAuth 2.0 client acting for itself
/// (server-to-server, no refresh token).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentialsConfig {
    pub client_id: String,
    pub client_secret: Secret,
    /// The token endpoint; each connector documents its default.
    #[serde(default)]
    pub token_url: Option<String>,
    /// Scopes to ask for (none: the client's defaults).
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl ClientCredentialsConfig {
    pub fn validate(&self, path: &str, allow_insecure: bool) -> Result<(), ConnectorError> {
        required(path, "client_id", &self.client_id)?;
        required_secret(path, "client_secret", &self.client_secret)?;
        if self.scopes.iter().any(|scope| scope.trim().is_empty() || scope.contains(char::is_whitespace)) {
            return Err(ConnectorError::Config(format!("{path}.scopes: a scope is empty or holds a space")));
        }
        check_token_url(path, self.token_url.as_deref(), allow_insecure)
    }

    pub fn oauth_config(&self, default_token_url: &Url, allow_insecure: bool) -> Result<OAuthConfig, ConnectorError> {
        let url = token_url(self.token_url.as_deref(), default_token_url, allow_insecure)?;
        Ok(client(url, &self.client_id, Some(&self.client_secret), &self.scopes))
    }

    /// The client-credentials grant at `token_url`, else at `default_token_url`.
    pub fn provider(&self, default_token_url: &Url, ctx: &ConnectorContext) -> Result<OAuthRefresh, ConnectorError> {
        let config = self.oauth_config(default_token_url, ctx.allow_insecure_endpoints)?;
        Ok(OAuthRefresh::client_credentials(config, &ctx.http))
    }
}

/// `type = "jwt_bearer"`: the OAuth 2.0 JWT bearer grant (RFC 7523): each token is
/// asked for with a fresh assertion signed (RS256) with the private key of the
/// certificate registered with the client. No secret and no refresh token.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtBearerConfig {
    /// The client (Salesforce: the connected app's consumer key); the assertion's `iss`.
    pub client_id: String,
    /// The user the connector acts as; the assertion's `sub`.
    pub username: String,
    /// The private key, PEM (PKCS#8 or PKCS#1). Give this or `private_key_file`.
    #[serde(default)]
    pub private_key: Option<Secret>,
    /// A file holding the private key, PEM. Give this or `private_key`.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// The assertion's `aud`; default: the token endpoint's origin (Salesforce: the
    /// login URL, e.g. `https://login.salesforce.com`).
    #[serde(default)]
    pub audience: Option<String>,
    /// The token endpoint; each connector documents its default.
    #[serde(default)]
    pub token_url: Option<String>,
}

impl JwtBearerConfig {
    /// Checks the fields without I/O: an inline key is parsed here, a key file when the
    /// provider is built.
    pub fn validate(&self, path: &str, allow_insecure: bool) -> Result<(), ConnectorError> {
        required(path, "client_id", &self.client_id)?;
        required(path, "username", &self.username)?;
        match (&self.private_key, &self.private_key_file) {
            (Some(_), Some(_)) => {
                return Err(ConnectorError::Config(format!(
                    "{path}: give either private_key or private_key_file, not both"
                )))
            }
            (None, None) => {
                return Err(ConnectorError::Config(format!("{path}: private_key or private_key_file is required")))
            }
            (Some(key), None) => {
                JwtAssertion::check_key(&format!("{path}.private_key"), key.expose().as_bytes())?;
            }
            (None, Some(file)) if file.as_os_str().is_empty() => return Err(empty(path, "private_key_file")),
            (None, Some(_)) => {}
        }
        if self.audience.as_deref().is_some_and(|aud| aud.trim().is_empty()) {
            return Err(empty(path, "audience"));
        }
        check_token_url(path, self.token_url.as_deref(), allow_insecure)
    }

    /// The signed-assertion maker for `token_url` (reads `private_key_file`).
    pub fn assertion(&self, token_url: &Url) -> Result<JwtAssertion, ConnectorError> {
        let (field, pem) = match (&self.private_key, &self.private_key_file) {
            (Some(key), _) => ("auth.private_key".to_owned(), key.expose().as_bytes().to_vec()),
            (None, Some(file)) => {
                // The path is the user's own; the key's content is never echoed.
                let pem = std::fs::read(file).map_err(|e| {
                    ConnectorError::Config(format!("auth.private_key_file: cannot read {}: {e}", file.display()))
                })?;
                ("auth.private_key_file".to_owned(), pem)
            }
            (None, None) => {
                return Err(ConnectorError::Config("auth: private_key or private_key_file is required".into()))
            }
        };
        let audience = match &self.audience {
            Some(audience) => audience.trim().to_owned(),
            None => token_url.origin().ascii_serialization(),
        };
        JwtAssertion::new(&field, &pem, self.client_id.trim(), self.username.trim(), &audience)
    }

    /// The JWT bearer grant at `token_url`, else at `default_token_url`.
    pub fn provider(&self, default_token_url: &Url, ctx: &ConnectorContext) -> Result<OAuthRefresh, ConnectorError> {
        let url = token_url(self.token_url.as_deref(), default_token_url, ctx.allow_insecure_endpoints)?;
        let assertion = self.assertion(&url)?;
        Ok(OAuthRefresh::jwt_bearer(client(url, &self.client_id, None, &[]), assertion, &ctx.http))
    }
}

/// Checks a configured token endpoint, if any (validation: no default involved).
fn check_token_url(path: &str, configured: Option<&str>, allow_insecure: bool) -> Result<(), ConnectorError> {
    match configured {
        Some(raw) => parse_endpoint(&format!("{path}.token_url"), raw, allow_insecure).map(|_| ()),
        None => Ok(()),
    }
}

/// The configured token endpoint, else the connector's `default` (checked too).
fn token_url(configured: Option<&str>, default: &Url, allow_insecure: bool) -> Result<Url, ConnectorError> {
    const FIELD: &str = "auth.token_url";
    match configured {
        Some(raw) => parse_endpoint(FIELD, raw, allow_insecure),
        None => {
            check_endpoint(FIELD, default, allow_insecure)?;
            Ok(default.clone())
        }
    }
}

/// The client every grant here presents at `token_url`: the id trimmed, the secret (if
/// the grant has one) in the request body, as each provider of this vocabulary takes it.
fn client(token_url: Url, client_id: &str, client_secret: Option<&Secret>, scopes: &[String]) -> OAuthConfig {
    OAuthConfig {
        token_url,
        client_id: client_id.trim().to_owned(),
        client_secret: client_secret.cloned(),
        client_auth: ClientAuth::RequestBody,
        scopes: scopes.to_vec(),
    }
}

fn empty(path: &str, key: &str) -> ConnectorError {
    ConnectorError::Config(format!("{path}.{key} is empty"))
}

fn required(path: &str, key: &str, value: &str) -> Result<(), ConnectorError> {
    match value.trim().is_empty() {
        true => Err(empty(path, key)),
        false => Ok(()),
    }
}

fn required_secret(path: &str, key: &str, value: &Secret) -> Result<(), ConnectorError> {
    match value.is_empty() {
        true => Err(empty(path, key)),
        false => Ok(()),
    }
}

/// Answers the auth spellings the shared vocabulary replaced with an error naming the
/// new key: `method` → `type`; `method = "api_token"` with `token` → `type = "basic"`
/// with `api_token`; `method = "oauth"` with `access_token` → `type = "bearer"` with
/// `token`; `type = "oauth"` → `type = "oauth_refresh"`. `settings` is the raw
/// `[connectors.settings]` table; one without an `auth` table passes.
pub fn check_legacy_auth(settings: &serde_json::Value) -> Result<(), ConnectorError> {
    let Some(auth) = settings.get("auth").and_then(serde_json::Value::as_object) else {
        return Ok(());
    };
    let text = |key: &str| auth.get(key).and_then(serde_json::Value::as_str);
    let renamed = |reason: String| Err(ConnectorError::Config(format!("auth: {reason}")));
    if let Some(method) = text("method") {
        let (kind, keys) = match method {
            "api_token" => ("basic", " with `email` and `api_token`"),
            "oauth" => ("bearer", " with `token`"),
            "oauth_refresh" => ("oauth_refresh", ""),
            _ => ("…", ""),
        };
        return renamed(format!(
            "`method` was renamed: use `type`; `method = \"{}\"` is now `type = \"{kind}\"`{keys}",
            printable(method)
        ));
    }
    if auth.contains_key("method") {
        return renamed("`method` was renamed: use `type`".into());
    }
    match text("type") {
        Some("oauth") => return renamed("`type = \"oauth\"` was renamed: use `type = \"oauth_refresh\"`".into()),
        Some("basic") if auth.contains_key("token") => {
            return renamed("`token` was renamed: use `api_token` (with `type = \"basic\"`)".into())
        }
        _ => {}
    }
    if auth.contains_key("access_token") {
        return renamed("`access_token` was renamed: use `type = \"bearer\"` with `token`".into());
    }
    Ok(())
}

/// A value from the settings fit for a message (an auth method name, never a secret).
fn printable(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(32).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum AuthConfig {
        Basic(BasicAuthConfig),
        Bearer(BearerConfig),
        OauthRefresh(RefreshTokenConfig),
        ClientCredentials(ClientCredentialsConfig),
        JwtBearer(JwtBearerConfig),
    }

    fn parse(value: serde_json::Value) -> Result<AuthConfig, serde_json::Error> {
        serde_json::from_value(value)
    }

    fn validate(value: serde_json::Value) -> Result<(), ConnectorError> {
        let parsed = parse(value).map_err(|e| ConnectorError::Config(e.to_string()))?;
        match &parsed {
            AuthConfig::Basic(c) => c.validate("auth", false),
            AuthConfig::Bearer(c) => c.validate("auth", false),
            AuthConfig::OauthRefresh(c) => c.validate("auth", false),
            AuthConfig::ClientCredentials(c) => c.validate("auth", false),
            AuthConfig::JwtBearer(c) => c.validate("auth", false),
        }
    }

    #[test]
    fn every_type_parses_and_validates() {
        for value in [
            json!({"type": "basic", "email": "bot@acme.com", "api_token": "t"}),
            json!({"type": "bearer", "token": "xoxb-1"}),
            json!({"type": "oauth_refresh", "client_id": "c", "client_secret": "s", "refresh_token": "r"}),
            json!({"type": "client_credentials", "client_id": "c", "client_secret": "s", "scopes": ["api"],
                   "token_url": "https://login.example.com/token"}),
            json!({"type": "jwt_bearer", "client_id": "c", "username": "u@acme.com",
                   "private_key": chorus_sim::token::JWT_TEST_PRIVATE_KEY_PEM}),
        ] {
            assert!(validate(value.clone()).is_ok(), "{value}: {:?}", validate(value.clone()));
        }
    }

    #[test]
    fn unknown_keys_are_refused_inside_a_tagged_variant() {
        let error = parse(json!({"type": "basic", "email": "a@b.c", "api_token": "t", "colour": 1}))
            .expect_err("deny_unknown_fields")
            .to_string();
        assert!(error.contains("colour"), "{error}");
    }

    #[test]
    fn empty_fields_are_named_and_secrets_never_printed() {
        let cases = [
            (json!({"type": "basic", "email": "bot@acme.com", "api_token": ""}), "auth.api_token"),
            (json!({"type": "basic", "email": "", "api_token": "hunter2"}), "auth.email"),
            (json!({"type": "bearer", "token": ""}), "auth.token"),
            (
                json!({"type": "oauth_refresh", "client_id": " ", "client_secret": "hunter2", "refresh_token": "r"}),
                "auth.client_id",
            ),
            (
                json!({"type": "oauth_refresh", "client_id": "c", "client_secret": "hunter2", "refresh_token": ""}),
                "auth.refresh_token",
            ),
            (json!({"type": "client_credentials", "client_id": "c", "client_secret": ""}), "auth.client_secret"),
            (
                json!({"type": "jwt_bearer", "client_id": "c", "username": "", "private_key_file": "/k.pem"}),
                "auth.username",
            ),
        ];
        for (value, named) in cases {
            let message = validate(value.clone()).expect_err("refused").to_string();
            assert!(message.contains(named), "{value}: {message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn token_urls_follow_the_insecure_endpoint_rule() {
        let value = json!({"type": "oauth_refresh", "client_id": "c", "client_secret": "s", "refresh_token": "r",
                           "token_url": "http://127.0.0.1:9/oauth/token"});
        let AuthConfig::OauthRefresh(config) = parse(value).expect("parses") else { panic!("oauth_refresh") };
        let message = config.validate("auth", false).expect_err("plain http").to_string();
        assert!(message.contains("auth.token_url") && message.contains("allow_insecure_endpoints"), "{message}");
        assert!(config.validate("auth", true).is_ok());
        let default = Url::parse("https://auth.example.com/oauth/token").expect("url");
        let oauth = config.oauth_config(&default, true).expect("configured url");
        assert_eq!(oauth.token_url.as_str(), "http://127.0.0.1:9/oauth/token");
        let plain = RefreshTokenConfig { token_url: None, ..config };
        assert_eq!(plain.oauth_config(&default, false).expect("default").token_url, default);
    }

    #[test]
    fn each_grant_presents_its_client_as_configured() {
        let default = Url::parse("https://auth.example.com/oauth/token").expect("url");
        let refresh = RefreshTokenConfig {
            client_id: " c ".into(),
            client_secret: Secret::new("s".to_owned()),
            refresh_token: Secret::new("r".to_owned()),
            token_url: None,
        };
        let oauth = refresh.oauth_config(&default, false).expect("refresh");
        assert_eq!(oauth.client_id, "c", "the id is trimmed");
        assert_eq!(oauth.client_secret.as_ref().map(Secret::expose), Some("s"));
        assert!(oauth.scopes.is_empty() && oauth.client_auth == ClientAuth::RequestBody);
        let credentials = ClientCredentialsConfig {
            client_id: "c".into(),
            client_secret: Secret::new("s".to_owned()),
            token_url: Some("https://login.example.com/token".into()),
            scopes: vec!["api".into(), "refresh".into()],
        };
        let oauth = credentials.oauth_config(&default, false).expect("client credentials");
        assert_eq!(oauth.token_url.as_str(), "https://login.example.com/token");
        assert_eq!(oauth.scopes, ["api", "refresh"]);
        assert_eq!(oauth.client_secret.as_ref().map(Secret::expose), Some("s"));
    }

    #[test]
    fn a_jwt_key_must_come_from_exactly_one_source_and_parse() {
        let key = chorus_sim::token::JWT_TEST_PRIVATE_KEY_PEM;
        let both = json!({"type": "jwt_bearer", "client_id": "c", "username": "u",
                          "private_key": key, "private_key_file": "/k.pem"});
        assert!(validate(both).expect_err("both").to_string().contains("not both"));
        let neither = json!({"type": "jwt_bearer", "client_id": "c", "username": "u"});
        assert!(validate(neither).expect_err("neither").to_string().contains("private_key_file"));
        let garbage = "-----BEGIN PRIVATE KEY-----\naHVudGVyMg==\n-----END PRIVATE KEY-----\n";
        let bad = json!({"type": "jwt_bearer", "client_id": "c", "username": "u", "private_key": garbage});
        let message = validate(bad).expect_err("not a key").to_string();
        assert!(message.contains("auth.private_key") && !message.contains("aHVudGVyMg"), "{message}");
    }

    #[test]
    fn a_jwt_key_file_is_read_when_the_assertion_is_made() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        std::fs::write(&path, chorus_sim::token::JWT_TEST_PRIVATE_KEY_PEM).expect("write");
        let config = JwtBearerConfig {
            client_id: "c".into(),
            username: "u@acme.com".into(),
            private_key: None,
            private_key_file: Some(path),
            audience: None,
            token_url: None,
        };
        assert!(config.validate("auth", false).is_ok());
        let url = Url::parse("https://login.salesforce.com/services/oauth2/token").expect("url");
        let assertion = config.assertion(&url).expect("key file read");
        assert_eq!(assertion.audience(), "https://login.salesforce.com");
        let missing = JwtBearerConfig { private_key_file: Some(dir.path().join("gone.pem")), ..config };
        let message = missing.assertion(&url).expect_err("no file").to_string();
        assert!(message.contains("auth.private_key_file"), "{message}");
    }

    #[test]
    fn old_auth_keys_get_an_error_naming_the_new_one() {
        let cases = [
            (
                json!({"method": "api_token", "email": "a@b.c", "token": "t"}),
                "`type = \"basic\"` with `email` and `api_token`",
            ),
            (json!({"method": "oauth", "access_token": "t"}), "`type = \"bearer\"` with `token`"),
            (json!({"method": "oauth_refresh", "client_id": "c"}), "`type = \"oauth_refresh\"`"),
            (json!({"method": 7}), "use `type`"),
            (json!({"type": "oauth", "client_id": "c"}), "use `type = \"oauth_refresh\"`"),
            (json!({"type": "basic", "email": "a@b.c", "token": "t"}), "use `api_token`"),
            (json!({"type": "bearer", "access_token": "t"}), "`type = \"bearer\"` with `token`"),
        ];
        for (auth, hint) in cases {
            let message = check_legacy_auth(&json!({ "auth": auth })).expect_err("old key").to_string();
            assert!(message.contains(hint), "{auth}: {message}");
        }
        for fine in [
            json!({}),
            json!({"auth": {"type": "basic", "email": "a@b.c", "api_token": "t"}}),
            json!({"auth": {"type": "bearer", "token": "t"}}),
            json!({"auth": "not a table"}),
        ] {
            assert!(check_legacy_auth(&fine).is_ok(), "{fine}");
        }
    }
}

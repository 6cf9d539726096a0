//! OAuth 2.0 access tokens: refresh-token, client-credentials and JWT bearer grants.
//!
//! `OAuthRefresh` obtains access tokens from a token endpoint through the `oauth2`
//! crate, speaking HTTP over our own stack (`OAuthTransport`); the JWT bearer grant
//! (RFC 7523), which `oauth2` does not speak, is one form POST over the same transport,
//! with a new signed assertion each time. A token response without `expires_in` is used
//! until a 401; its other fields (Salesforce's `instance_url`) are kept for
//! `token_field`. Invariants: a refresh is
//! single-flight; a ROTATING refresh token is persisted with compare-and-swap before
//! the access token it came with is used, and an old refresh token is never sent
//! again; the stored chain remembers which configured token started it, so a token
//! changed in the configuration re-seeds the chain instead of being ignored; every
//! lifetime the server gives is clamped before it meets an `Instant`.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chorus_core::Secret;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AsyncHttpClient, AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, ExtraTokenFields, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use url::Url;

use super::jwt::{JwtAssertion, JWT_BEARER_GRANT_TYPE};
use super::{set_authorization, AuthProvider};
use crate::credentials::Credentials;
use crate::http::{clamp_server_wait, HttpClient};
use crate::telemetry;
use crate::ConnectorError;

/// The `Credentials` name under which a rotating refresh token is persisted.
pub const REFRESH_TOKEN_CREDENTIAL: &str = "oauth_refresh_token";

/// Refresh this long before `expires_in` runs out (at most half the token's life).
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// How often a refresh is retried when another process rotated the token meanwhile.
const ROTATION_RETRIES: usize = 3;

/// Waits between attempts of a grant that failed transiently (a token response cut
/// short, a 5xx, a reset connection). A refresh token is sent again only after such a
/// failure, when the answer never arrived whole: the server either did not rotate, or
/// rotated and (as Atlassian's, Okta's and Auth0's rotation grace periods do) still
/// takes the token whose successor was never used.
const GRANT_RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(250), Duration::from_secs(1)];

/// Longest OAuth error code quoted in a message (the server writes it).
const ERROR_CODE_CHARS: usize = 64;

/// Where the client id and secret go in a token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// `client_id`/`client_secret` form fields (Atlassian, Salesforce, Zendesk).
    #[default]
    RequestBody,
    /// HTTP Basic (RFC 6749 §2.3.1).
    Basic,
}

/// The token endpoint and the client registered there.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub client_auth: ClientAuth,
    pub scopes: Vec<String>,
}

/// Fields of a token response beyond the standard ones (e.g. Salesforce `instance_url`).
#[derive(Clone, Default, serde::Deserialize, serde::Serialize)]
struct ExtraFields {
    #[serde(flatten)]
    fields: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for ExtraFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be tokens (id_token): print the names only.
        f.debug_list().entries(self.fields.keys()).finish()
    }
}

impl ExtraTokenFields for ExtraFields {}

type GrantResponse = StandardTokenResponse<ExtraFields, BasicTokenType>;
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    GrantResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

enum Grant {
    RefreshToken { initial: Secret, credentials: Credentials },
    ClientCredentials,
    JwtBearer(JwtAssertion),
}

impl Grant {
    fn name(&self) -> &'static str {
        match self {
            Self::RefreshToken { .. } => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::JwtBearer(_) => "jwt_bearer",
        }
    }
}

#[derive(Default)]
struct TokenState {
    access: Option<Secret>,
    refresh_at: Option<Instant>,
    expires_at: Option<Instant>,
    generation: u64,
    extra: serde_json::Map<String, serde_json::Value>,
}

/// Why a grant failed: refused by the server (with its OAuth error code), or not.
enum GrantError {
    Rejected(String),
    Failed(ConnectorError),
}

/// Access tokens from an OAuth 2.0 token endpoint, refreshed single-flight.
pub struct OAuthRefresh {
    config: OAuthConfig,
    grant: Grant,
    client: OAuthClient,
    transport: OAuthTransport,
    state: tokio::sync::Mutex<TokenState>,
}

impl std::fmt::Debug for OAuthRefresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthRefresh")
            .field("connector", &self.transport.http.connector_id())
            .field("token_path", &self.config.token_url.path())
            .field("client_id", &self.config.client_id)
            .field("grant", &self.grant.name())
            .finish_non_exhaustive()
    }
}

impl OAuthRefresh {
    /// The refresh-token grant. `initial_refresh_token` (from config) is used only until
    /// a rotated one is stored in `credentials`; token requests go through `http`
    /// (its limits do not apply to them; its auth is not used).
    pub fn refresh_token(
        config: OAuthConfig,
        initial_refresh_token: Secret,
        credentials: Credentials,
        http: &HttpClient,
    ) -> Self {
        Self::build(config, Grant::RefreshToken { initial: initial_refresh_token, credentials }, http)
    }

    /// The client-credentials grant (server-to-server; no refresh token).
    pub fn client_credentials(config: OAuthConfig, http: &HttpClient) -> Self {
        Self::build(config, Grant::ClientCredentials, http)
    }

    /// The JWT bearer grant (RFC 7523): every token is asked for with a new assertion
    /// from `assertion`; no refresh token is involved. `config.client_secret`, if any,
    /// is sent as `config.client_auth` says (Salesforce needs none).
    pub fn jwt_bearer(config: OAuthConfig, assertion: JwtAssertion, http: &HttpClient) -> Self {
        Self::build(config, Grant::JwtBearer(assertion), http)
    }

    /// A field of the current token response beyond the standard ones (Salesforce:
    /// `instance_url`, `id`, `issued_at`, `signature`), obtaining a token first if none
    /// is held. Text as is, other JSON values as JSON text; `None` when absent or null.
    pub async fn token_field(&self, name: &str) -> Result<Option<String>, ConnectorError> {
        let mut state = self.state.lock().await;
        if state.access.is_none() {
            self.obtain(&mut state).await?;
        }
        Ok(match state.extra.get(name) {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(text)) => Some(text.clone()),
            Some(other) => Some(other.to_string()),
        })
    }

    fn build(config: OAuthConfig, grant: Grant, http: &HttpClient) -> Self {
        let mut client = oauth2::Client::new(ClientId::new(config.client_id.clone()))
            .set_token_uri(TokenUrl::from_url(config.token_url.clone()))
            .set_auth_type(match config.client_auth {
                ClientAuth::RequestBody => AuthType::RequestBody,
                ClientAuth::Basic => AuthType::BasicAuth,
            });
        if let Some(secret) = &config.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        let transport = OAuthTransport { http: http.clone() };
        Self { config, grant, client, transport, state: tokio::sync::Mutex::new(TokenState::default()) }
    }

    fn endpoint(&self) -> &str {
        self.config.token_url.path()
    }

    fn auth_error(&self, reason: impl Into<String>) -> ConnectorError {
        ConnectorError::Auth { endpoint: self.endpoint().to_owned(), reason: reason.into() }
    }

    /// One grant of the configured kind, without retries.
    async fn grant_once(&self) -> Result<GrantResponse, ConnectorError> {
        match &self.grant {
            Grant::ClientCredentials => self.client_credentials_grant().await,
            Grant::RefreshToken { initial, credentials } => self.rotate(initial, credentials).await,
            Grant::JwtBearer(assertion) => self.jwt_bearer_grant(assertion).await,
        }
    }

    /// Obtains a new access token into `state` (the caller holds the lock); a grant that
    /// failed transiently is tried again after each of `GRANT_RETRY_DELAYS`.
    async fn obtain(&self, state: &mut TokenState) -> Result<(), ConnectorError> {
        let connector = self.transport.http.connector_id();
        let mut retries = GRANT_RETRY_DELAYS.iter();
        let mut attempt = 1_u32;
        let result = loop {
            let result = self.grant_once().await;
            match (&result, retries.next()) {
                (Err(error), Some(delay)) if error.is_retryable() => {
                    let wait = *delay;
                    telemetry::RetryScheduled {
                        connector,
                        endpoint: self.endpoint(),
                        reason: "token_grant",
                        wait,
                        attempt,
                    }
                    .emit();
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => break result,
            }
        };
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                let reason = match &error {
                    ConnectorError::Auth { .. } => "refused",
                    _ => "failed",
                };
                telemetry::TokenRefreshFailed { connector, grant: self.grant.name(), reason }.emit();
                return Err(error);
            }
        };
        let now = Instant::now();
        let expires_in = response.expires_in().map(clamp_server_wait);
        state.access = Some(Secret::new(response.access_token().secret().clone()));
        state.expires_at = expires_in.map(|ttl| now + ttl);
        state.refresh_at = expires_in.map(|ttl| now + ttl.saturating_sub(REFRESH_MARGIN.min(ttl / 2)));
        state.generation += 1;
        state.extra = response.extra_fields().fields.clone();
        telemetry::TokenRefreshed { connector, grant: self.grant.name(), generation: state.generation, expires_in }
            .emit();
        Ok(())
    }

    async fn client_credentials_grant(&self) -> Result<GrantResponse, ConnectorError> {
        let scopes = self.config.scopes.iter().map(|s| Scope::new(s.clone()));
        let request = self.client.exchange_client_credentials().add_scopes(scopes);
        match request.request_async(&self.transport).await.map_err(|e| self.grant_error(e)) {
            Ok(response) => Ok(response),
            Err(GrantError::Rejected(code)) => {
                Err(self.auth_error(format!("token endpoint refused the client: {code}")))
            }
            Err(GrantError::Failed(error)) => Err(error),
        }
    }

    /// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…`, form-encoded.
    async fn jwt_bearer_grant(&self, assertion: &JwtAssertion) -> Result<GrantResponse, ConnectorError> {
        let signed = assertion.sign()?;
        let mut request = reqwest::Request::new(reqwest::Method::POST, self.config.token_url.clone());
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", JWT_BEARER_GRANT_TYPE).append_pair("assertion", signed.expose());
            match (&self.config.client_secret, self.config.client_auth) {
                (None, _) => {}
                (Some(secret), ClientAuth::RequestBody) => {
                    form.append_pair("client_id", &self.config.client_id).append_pair("client_secret", secret.expose());
                }
                (Some(secret), ClientAuth::Basic) => {
                    let pair = format!("{}:{}", form_encode(&self.config.client_id), form_encode(secret.expose()));
                    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair);
                    set_authorization(&mut request, &format!("Basic {encoded}"))?;
                }
            }
            form.finish()
        };
        let headers = request.headers_mut();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(reqwest::header::ACCEPT, reqwest::header::HeaderValue::from_static("application/json"));
        *request.body_mut() = Some(body.into());
        let response = self.transport.http.send_raw(request).await?;
        let status = response.status;
        if status.is_success() {
            // serde's message could quote the access token: say what, not where.
            return serde_json::from_slice::<GrantResponse>(&with_token_type(&response.body)).map_err(
                |error| match error.classify() {
                    serde_json::error::Category::Data => ConnectorError::malformed(
                        self.endpoint(),
                        "the token response lacks a field or has one of the wrong type",
                    ),
                    _ => ConnectorError::transient(self.endpoint(), "the token response is cut short or not json"),
                },
            );
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ConnectorError::transient(self.endpoint(), format!("token endpoint answered {status}")));
        }
        // Only the error code: a description could echo what we sent.
        let code = serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|body| {
                body.get("error").and_then(serde_json::Value::as_str).map(|c| printable(c, ERROR_CODE_CHARS))
            })
            .unwrap_or_else(|| status.to_string());
        Err(self.auth_error(format!(
            "the JWT bearer assertion was refused ({code}); check the client id, the username, the audience, that \
             the certificate of the private key is registered with the client and that the user may use it"
        )))
    }

    /// The refresh-token grant with rotation: read the current refresh token from the
    /// store, exchange it, persist the new one with CAS, then (only then) return the
    /// access token. A lost CAS or a refused token that the store has since replaced
    /// means another process rotated first: reload and try again. The stored chain is
    /// used only while it grew from the refresh token configured now; a token changed
    /// in the configuration starts a new chain.
    async fn rotate(&self, initial: &Secret, credentials: &Credentials) -> Result<GrantResponse, ConnectorError> {
        let connector = self.transport.http.connector_id();
        let seed = seed_of(initial);
        for _ in 0..=ROTATION_RETRIES {
            let stored = credentials.get(REFRESH_TOKEN_CREDENTIAL).await?;
            let chain = stored.as_deref().map(Chain::decode).filter(|chain| chain.grew_from(&seed));
            let current = chain.map_or_else(|| initial.clone(), |chain| chain.token);
            let token = RefreshToken::new(current.expose().to_owned());
            let scopes = self.config.scopes.iter().map(|s| Scope::new(s.clone()));
            let request = self.client.exchange_refresh_token(&token).add_scopes(scopes);
            let response = match request.request_async(&self.transport).await.map_err(|e| self.grant_error(e)) {
                Ok(response) => response,
                Err(GrantError::Failed(error)) => return Err(error),
                Err(GrantError::Rejected(code)) => {
                    if credentials.get(REFRESH_TOKEN_CREDENTIAL).await? != stored {
                        continue;
                    }
                    return Err(self.auth_error(format!(
                        "the refresh token was refused ({code}); authorize the connector again and put the new \
                         refresh token in the configuration"
                    )));
                }
            };
            let rotated = response.refresh_token().map(|t| t.secret().as_str()).filter(|t| *t != current.expose());
            let unseeded = stored.as_deref().is_none_or(|value| Chain::decode(value).seed.as_deref() != Some(&seed));
            let next = match rotated {
                Some(rotated) => rotated,
                // Not rotating, but the store does not yet say which configured token
                // it belongs to: record it, so a later config change is noticed.
                None if unseeded => current.expose(),
                None => return Ok(response),
            };
            let value = Chain { seed: Some(seed.clone()), token: Secret::new(next.to_owned()) }.encode();
            let persisted = swap_with_retry(credentials, stored.as_deref(), &value).await?;
            if rotated.is_some() {
                telemetry::RefreshTokenRotated { connector, persisted }.emit();
            }
            if persisted || rotated.is_none() {
                return Ok(response);
            }
        }
        Err(self.auth_error("the refresh token kept being rotated by another process; try again"))
    }

    fn grant_error(&self, error: RequestTokenError<ConnectorError, BasicErrorResponse>) -> GrantError {
        match error {
            // Only the error code: a description could echo what we sent.
            RequestTokenError::ServerResponse(response) => {
                GrantError::Rejected(printable(response.error().as_ref(), ERROR_CODE_CHARS))
            }
            RequestTokenError::Request(error) => GrantError::Failed(error),
            // A token response cut short or not JSON may pass; one of the wrong shape will not.
            RequestTokenError::Parse(error, body) => {
                let complete = serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok();
                let reason = format!("token response at {}", error.path());
                GrantError::Failed(if complete {
                    ConnectorError::malformed(self.endpoint(), reason)
                } else {
                    ConnectorError::transient(self.endpoint(), format!("{reason} is cut short or not json"))
                })
            }
            RequestTokenError::Other(reason) => {
                GrantError::Failed(ConnectorError::transient(self.endpoint(), printable(&reason, ERROR_CODE_CHARS)))
            }
        }
    }
}

/// A successful token response with `token_type` set to `Bearer` when it has none:
/// Salesforce leaves it out, and RFC 6750 bearer tokens are what every provider here
/// issues. Any other body is passed on as it came (parsing it reports the problem).
fn with_token_type(body: &[u8]) -> Vec<u8> {
    let Ok(mut fields) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body) else {
        return body.to_vec();
    };
    if fields.contains_key("token_type") {
        return body.to_vec();
    }
    fields.insert("token_type".into(), "Bearer".into());
    serde_json::to_vec(&fields).unwrap_or_else(|_| body.to_vec())
}

/// `application/x-www-form-urlencoded` encoding of one value (RFC 6749 §2.3.1).
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Text a server wrote, fit for a message: printable ASCII only, at most `max` characters.
fn printable(text: &str, max: usize) -> String {
    let kept: String = text.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(max).collect();
    if kept.is_empty() {
        "unspecified".to_owned()
    } else {
        kept
    }
}

/// Which configured refresh token a stored chain grew from: a short SHA-256 prefix, so
/// the store never holds the configured token itself.
fn seed_of(configured: &Secret) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(configured.expose().as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The stored form of a refresh-token chain: `{"seed", "token"}` as JSON. A plain
/// token (stored before chains had seeds) is a chain of unknown seed, taken to belong
/// to the configured token until the next rotation records it.
struct Chain {
    seed: Option<String>,
    token: Secret,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredChain {
    seed: String,
    token: String,
}

impl Chain {
    fn decode(value: &str) -> Self {
        match serde_json::from_str::<StoredChain>(value) {
            Ok(stored) => Self { seed: Some(stored.seed), token: Secret::new(stored.token) },
            Err(_) => Self { seed: None, token: Secret::new(value.to_owned()) },
        }
    }

    fn encode(&self) -> String {
        let stored = StoredChain { seed: self.seed.clone().unwrap_or_default(), token: self.token.expose().to_owned() };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    fn grew_from(&self, seed: &str) -> bool {
        self.seed.as_deref().is_none_or(|own| own == seed)
    }
}

/// The refresh token a connector's stored chain holds now, if any (for operators and
/// tests; the provider reads it itself).
pub async fn stored_refresh_token(credentials: &Credentials) -> Result<Option<String>, ConnectorError> {
    let stored = credentials.get(REFRESH_TOKEN_CREDENTIAL).await?;
    Ok(stored.map(|value| Chain::decode(&value).token.expose().to_owned()))
}

/// Persists a rotated refresh token, retrying transient store failures: losing it
/// would leave the connector with a dead token.
async fn swap_with_retry(credentials: &Credentials, expected: Option<&str>, new: &str) -> Result<bool, ConnectorError> {
    let mut last = None;
    for delay_ms in [0_u64, 100, 400] {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        match credentials.swap(REFRESH_TOKEN_CREDENTIAL, expected, new).await {
            Ok(swapped) => return Ok(swapped),
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| ConnectorError::transient("credential store", "swap failed")))
}

#[async_trait]
impl AuthProvider for OAuthRefresh {
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<u64, ConnectorError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let due = state.access.is_none() || state.refresh_at.is_some_and(|at| now >= at);
        if due {
            let still_valid = state.access.is_some() && state.expires_at.is_none_or(|at| now < at);
            match self.obtain(&mut state).await {
                Ok(()) => {}
                // A proactive refresh failed but the token has not expired: use it.
                Err(error) if still_valid => {
                    tracing::warn!(connector = self.transport.http.connector_id(), %error, "proactive token refresh failed");
                }
                Err(error) => return Err(error),
            }
        }
        let token = state.access.as_ref().ok_or_else(|| self.auth_error("no access token"))?;
        set_authorization(request, &format!("Bearer {}", token.expose()))?;
        Ok(state.generation)
    }

    async fn refresh(&self, generation: u64) -> Result<(), ConnectorError> {
        let mut state = self.state.lock().await;
        if state.generation != generation {
            return Ok(());
        }
        self.obtain(&mut state).await
    }
}

/// `oauth2`'s HTTP transport over our own stack (no second reqwest, no oauth2 feature).
struct OAuthTransport {
    http: HttpClient,
}

impl<'c> AsyncHttpClient<'c> for OAuthTransport {
    type Error = ConnectorError;
    type Future = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, ConnectorError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let url = Url::parse(&parts.uri.to_string())
                .map_err(|e| ConnectorError::Config(format!("token endpoint url: {e}")))?;
            let mut outgoing = reqwest::Request::new(parts.method, url);
            *outgoing.headers_mut() = parts.headers;
            *outgoing.body_mut() = Some(body.into());
            let response = self.http.send_raw(outgoing).await?;
            let mut builder = oauth2::http::Response::builder().status(response.status);
            let body = match response.status.is_success() {
                true => with_token_type(&response.body),
                false => response.body.to_vec(),
            };
            if let Some(headers) = builder.headers_mut() {
                *headers = response.headers;
            }
            builder.body(body).map_err(|e| ConnectorError::malformed(response.url.path(), e))
        })
    }
}

//! Requests to Slack's Web API, one paced client per method tier, and Slack's
//! `ok: false` answers turned into errors that say what to do.
//!
//! Slack answers almost every failure with HTTP 200 and `{"ok": false, "error"}`; the
//! shared HTTP stack only sees the 429s (with `Retry-After`, waited out there). Each
//! method is paced by its tier with an endpoint limiter shared by the method's calls.
//! Invariant: no message built here quotes the token; channel errors come back as
//! `CallError::Channel` so the run can name the channel and go on with the others.

use std::sync::Arc;

use chorus_sync::http::EndpointLimiter;
use chorus_sync::{ConnectorError, HttpClient};
use serde_json::Value;
use url::Url;

use crate::config::{RateLimitConfig, RateMode};

/// The methods the connector calls, with their tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    AuthTest,
    ConversationsList,
    History,
    Replies,
    UsersInfo,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Self::AuthTest => "auth.test",
            Self::ConversationsList => "conversations.list",
            Self::History => "conversations.history",
            Self::Replies => "conversations.replies",
            Self::UsersInfo => "users.info",
        }
    }

    fn per_minute(self, mode: RateMode, limits: &RateLimitConfig) -> u32 {
        match (self, mode) {
            (Self::History | Self::Replies, RateMode::NonMarketplace) => limits.tier1_per_minute,
            (Self::History | Self::Replies, RateMode::Internal) => limits.tier3_per_minute,
            (Self::ConversationsList, _) => limits.tier2_per_minute,
            (Self::AuthTest | Self::UsersInfo, _) => limits.tier4_per_minute,
        }
    }
}

/// Why a call did not give data.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The channel cannot be read (`not_in_channel`, `channel_not_found`): the run
    /// names it and goes on with the other channels.
    Channel(String),
    /// The thread is gone (`thread_not_found`: deleted after the history page named
    /// it): the run leaves its stored item as it is, and the next scan sees the deletion.
    ThreadGone,
    Failed(ConnectorError),
}

impl From<ConnectorError> for CallError {
    fn from(error: ConnectorError) -> Self {
        Self::Failed(error)
    }
}

/// The Web API, each method behind its tier's pace.
#[derive(Debug, Clone)]
pub struct SlackClient {
    base: Url,
    clients: Vec<(Method, HttpClient)>,
    mode: RateMode,
}

impl SlackClient {
    pub fn new(http: HttpClient, base: Url, mode: RateMode, limits: &RateLimitConfig) -> Self {
        let methods =
            [Method::AuthTest, Method::ConversationsList, Method::History, Method::Replies, Method::UsersInfo];
        let clients = methods
            .into_iter()
            .map(|method| {
                let limiter = EndpointLimiter::per_minute(method.name(), method.per_minute(mode, limits));
                (method, http.clone().with_endpoint_limiter(Arc::new(limiter)))
            })
            .collect();
        Self { base, clients, mode }
    }

    /// Messages to ask for per history or replies page: Slack caps non-Marketplace
    /// apps at 15 (more is refused silently: the page just holds 15).
    pub fn page_limit(&self) -> u32 {
        match self.mode {
            RateMode::NonMarketplace => 15,
            RateMode::Internal => 200,
        }
    }

    fn url(&self, method: Method) -> Result<Url, ConnectorError> {
        let root = self.base.as_str().trim_end_matches('/');
        Url::parse(&format!("{root}/{}", method.name()))
            .map_err(|e| ConnectorError::Config(format!("base_url: cannot call {}: {e}", method.name())))
    }

    /// Calls `method` with `params`; the body when `ok` is true.
    pub async fn call(&self, method: Method, params: &[(&str, String)]) -> Result<Value, CallError> {
        let Some(http) = self.clients.iter().find(|(m, _)| *m == method).map(|(_, c)| c) else {
            return Err(ConnectorError::Config(format!("no client for {}", method.name())).into());
        };
        let url = self.url(method)?;
        let endpoint = url.path().to_owned();
        let body: Value = http.send_json(http.get(url).query(params)).await?;
        if body.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(body);
        }
        let Some(error) = body.get("error").and_then(Value::as_str) else {
            return Err(ConnectorError::malformed(endpoint, "neither `ok: true` nor an `error`").into());
        };
        Err(classify(&endpoint, error, &body))
    }
}

/// What an `ok: false` answer means.
fn classify(endpoint: &str, error: &str, body: &Value) -> CallError {
    let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let auth = |reason: String| CallError::Failed(ConnectorError::Auth { endpoint: endpoint.to_owned(), reason });
    match error {
        "not_in_channel" | "channel_not_found" => CallError::Channel(error.to_owned()),
        "missing_scope" => auth(format!(
            "the token lacks the `{}` scope (it has: {}); add it under OAuth & Permissions, reinstall the app and \
             update the token",
            text("needed"),
            text("provided")
        )),
        "not_authed"
        | "invalid_auth"
        | "account_inactive"
        | "token_revoked"
        | "token_expired"
        | "no_permission"
        | "not_allowed_token_type"
        | "ekm_access_denied" => auth(format!("slack refused the token ({error}); check it in the configuration")),
        // Some methods answer a limit with 200 instead of 429: end the run rate-limited
        // (resumable), as a long `Retry-After` would.
        "thread_not_found" => CallError::ThreadGone,
        "ratelimited" => CallError::Failed(ConnectorError::RateLimited {
            endpoint: endpoint.to_owned(),
            retry_after: Some(std::time::Duration::from_secs(60)),
        }),
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            CallError::Failed(ConnectorError::transient(endpoint, format!("slack answered {error}")))
        }
        other => CallError::Failed(ConnectorError::permanent(endpoint, format!("slack answered {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_false_answers_become_errors_that_say_what_to_do() {
        let body = serde_json::json!({"ok": false, "error": "missing_scope", "needed": "channels:history", "provided": "users:read"});
        let CallError::Failed(error) = classify("/api/conversations.history", "missing_scope", &body) else {
            panic!("missing_scope is an auth failure")
        };
        let message = error.to_string();
        assert!(message.contains("channels:history") && message.contains("users:read"), "{message}");
        assert!(matches!(error, ConnectorError::Auth { .. }));
        assert!(
            matches!(classify("/x", "not_in_channel", &body), CallError::Channel(code) if code == "not_in_channel")
        );
        let CallError::Failed(limited) = classify("/x", "ratelimited", &body) else { panic!("rate limit") };
        assert!(matches!(limited, ConnectorError::RateLimited { .. }));
        let CallError::Failed(auth) = classify("/x", "invalid_auth", &body) else { panic!("auth") };
        assert!(matches!(auth, ConnectorError::Auth { .. }));
    }
}

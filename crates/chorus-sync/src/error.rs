//! `ConnectorError`: what went wrong talking to a source, sorted by what to do next.
//!
//! The engine and the HTTP stack decide on the variant alone: `RateLimited` and
//! `Transient` are retried (after `retry_after` at the least), `Auth` triggers one
//! token refresh and is otherwise final, `Permanent` fails the run at once. Messages
//! are lowercase, name the endpoint path but never a credential or a query secret.

use std::time::Duration;

/// Why a call to a source failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectorError {
    /// The source asked us to slow down (429, or 503 with `Retry-After`).
    #[error("rate limited by {endpoint}{}", fmt_retry_after(.retry_after))]
    RateLimited { endpoint: String, retry_after: Option<Duration> },
    /// Credentials were refused (401/403, an expired or revoked token).
    #[error("authentication failed at {endpoint}: {reason}")]
    Auth { endpoint: String, reason: String },
    /// A failure that may pass: timeouts, connection resets, 5xx.
    #[error("transient failure at {endpoint}: {reason}")]
    Transient { endpoint: String, reason: String },
    /// A failure retrying cannot fix: 4xx, a malformed page, a body over the size cap.
    #[error("permanent failure at {endpoint}: {reason}")]
    Permanent { endpoint: String, reason: String },
    /// The connector's configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

fn fmt_retry_after(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (retry after {:.1}s)", d.as_secs_f64()),
        None => String::new(),
    }
}

impl ConnectorError {
    pub fn permanent(endpoint: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Permanent { endpoint: endpoint.into(), reason: reason.into() }
    }

    pub fn transient(endpoint: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Transient { endpoint: endpoint.into(), reason: reason.into() }
    }

    /// A page whose body does not parse: permanent, and the run stops at the last good page.
    pub fn malformed(endpoint: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Permanent { endpoint: endpoint.into(), reason: format!("malformed response: {reason}") }
    }

    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient { .. })
    }
}

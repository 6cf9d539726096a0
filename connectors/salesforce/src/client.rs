//! Requests to the org's instance: describe, query, queryAll, locators and limits,
//! with the daily quota watched on every answer.
//!
//! Every data URL is built on the `instance_url` of the session (never `login_url`);
//! a `nextRecordsUrl` is a path resolved against it. Each answer's
//! `Sforce-Limit-Info: api-usage=N/M` is remembered: past `slow_down_at` of M the
//! client paces itself, past `stop_at` it refuses to send more (`RateLimited`, so the
//! run ends as rate-limited and resumes later). Salesforce's error bodies
//! (`[{message, errorCode}]`) become errors that say what happened: a 403
//! `REQUEST_LIMIT_EXCEEDED` is a rate limit, not an auth failure; an expired locator is
//! `Locator::Expired` so the run can re-ask from its cursor. Invariant: no request is
//! sent once the quota share reached `stop_at` (a run's first request learns the share).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chorus_sync::http::HttpResponse;
use chorus_sync::{ConnectorError, HttpClient};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::config::LimitsConfig;
use chorus_sync::OAuthRefresh;

/// One page of query results.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage {
    pub done: bool,
    #[serde(default)]
    pub next_records_url: Option<String>,
    pub records: Vec<Value>,
}

/// `sobjects/{Object}/describe`, the parts read.
#[derive(Debug, Deserialize)]
pub struct Describe {
    pub fields: Vec<DescribedField>,
}

#[derive(Debug, Deserialize)]
pub struct DescribedField {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Limits {
    daily_api_requests: DailyRequests,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DailyRequests {
    max: u64,
    remaining: u64,
}

/// Why following a locator failed.
#[derive(Debug)]
pub enum Locator {
    /// `INVALID_QUERY_LOCATOR`: it expired or was evicted; ask again from the cursor.
    Expired,
    Failed(ConnectorError),
}

/// The org's data API.
pub struct SalesforceClient {
    http: HttpClient,
    auth: Arc<OAuthRefresh>,
    allow_insecure: bool,
    api_version: String,
    page_size: u32,
    limits: LimitsConfig,
    /// The last `api-usage=N/M` seen.
    usage: Mutex<Option<(u64, u64)>>,
}

impl SalesforceClient {
    pub fn new(
        http: HttpClient,
        auth: Arc<OAuthRefresh>,
        allow_insecure: bool,
        api_version: String,
        page_size: u32,
        limits: LimitsConfig,
    ) -> Self {
        Self { http, auth, allow_insecure, api_version, page_size, limits, usage: Mutex::new(None) }
    }

    /// The session's instance (obtaining a session first if there is none).
    pub async fn instance_url(&self) -> Result<Url, ConnectorError> {
        crate::auth::instance_url(&self.auth, self.allow_insecure).await
    }

    /// The last API usage the org reported, `(used, limit)`.
    pub fn usage(&self) -> Option<(u64, u64)> {
        *self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets the usage seen: a new run (a new day, perhaps) learns it from its first
    /// answer.
    pub fn forget_usage(&self) {
        *self.usage.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn share(&self) -> Option<f64> {
        let (used, max) = self.usage()?;
        #[allow(clippy::cast_precision_loss)]
        (max > 0).then(|| used as f64 / max as f64)
    }

    /// `{instance_url}/services/data/{version}/{rest}`.
    async fn data_url(&self, rest: &str) -> Result<Url, ConnectorError> {
        let instance = self.instance_url().await?;
        instance
            .join(&format!("/services/data/{}/{rest}", self.api_version))
            .map_err(|e| ConnectorError::Config(format!("instance_url: {e}")))
    }

    /// Sends a GET after the quota check and pacing; remembers the usage it reports.
    async fn get<T: serde::de::DeserializeOwned>(&self, url: Url) -> Result<T, ConnectorError> {
        let endpoint = url.path().to_owned();
        if let Some(share) = self.share() {
            if share >= self.limits.stop_at {
                let (used, max) = self.usage().unwrap_or_default();
                return Err(ConnectorError::RateLimited {
                    endpoint: format!(
                        "{endpoint} (daily API usage {used}/{max} reached limits.stop_at = {}; the run stops to leave \
                         the rest of the quota to the org's other integrations)",
                        self.limits.stop_at
                    ),
                    retry_after: None,
                });
            }
            if share >= self.limits.slow_down_at {
                let pause = 60.0 / f64::from(self.limits.slow_requests_per_minute.max(1));
                tokio::time::sleep(Duration::from_secs_f64(pause)).await;
            }
        }
        let request = self.http.get(url).header("Sforce-Query-Options", format!("batchSize={}", self.page_size));
        match self.http.send_parsed::<T>(request).await {
            Ok((response, value)) => {
                self.remember(&response);
                Ok(value)
            }
            Err(error) => Err(explain(error, &endpoint)),
        }
    }

    fn remember(&self, response: &HttpResponse) {
        let usage = response.headers.get("sforce-limit-info").and_then(|v| v.to_str().ok()).and_then(parse_usage);
        if let Some(usage) = usage {
            *self.usage.lock().unwrap_or_else(PoisonError::into_inner) = Some(usage);
        }
    }

    pub async fn describe(&self, object: &str) -> Result<Describe, ConnectorError> {
        let url = self.data_url(&format!("sobjects/{object}/describe")).await?;
        self.get(url).await
    }

    /// Runs a query (`queryAll` to include the recycle bin).
    pub async fn query(&self, soql: &str, all: bool) -> Result<QueryPage, ConnectorError> {
        let mut url = self.data_url(if all { "queryAll" } else { "query" }).await?;
        url.query_pairs_mut().append_pair("q", soql);
        self.get(url).await
    }

    /// Follows a `nextRecordsUrl` (a path on the instance).
    pub async fn more(&self, next: &str) -> Result<QueryPage, Locator> {
        if !next.starts_with("/services/data/") {
            return Err(Locator::Failed(ConnectorError::malformed(
                "nextRecordsUrl",
                format!("`{}` is not a path under /services/data/", next.chars().take(80).collect::<String>()),
            )));
        }
        let instance = self.instance_url().await.map_err(Locator::Failed)?;
        let url = instance.join(next).map_err(|e| Locator::Failed(ConnectorError::malformed("nextRecordsUrl", e)))?;
        match self.get(url).await {
            Ok(page) => Ok(page),
            Err(ConnectorError::Permanent { reason, .. }) if error_code(&reason) == Some("INVALID_QUERY_LOCATOR") => {
                Err(Locator::Expired)
            }
            Err(error) => Err(Locator::Failed(error)),
        }
    }

    /// The org's daily API usage, from `limits` (one cheap authenticated call).
    pub async fn check(&self) -> Result<String, ConnectorError> {
        let url = self.data_url("limits").await?;
        let limits: Limits = self.get(url).await?;
        let daily = limits.daily_api_requests;
        Ok(format!(
            "salesforce org at {}: {} of {} daily API requests left",
            self.instance_url().await?.origin().ascii_serialization(),
            daily.remaining,
            daily.max
        ))
    }
}

/// `api-usage=N/M` out of `Sforce-Limit-Info` (other parts such as `per-app-api-usage`
/// are skipped).
pub fn parse_usage(header: &str) -> Option<(u64, u64)> {
    let part = header.split(';').find_map(|part| part.trim().strip_prefix("api-usage="))?;
    let (used, max) = part.split_once('/')?;
    Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
}

/// Salesforce's error codes the connector tells apart.
pub const ERROR_CODES: &[&str] = &[
    "INVALID_SESSION_ID",
    "REQUEST_LIMIT_EXCEEDED",
    "INVALID_QUERY_LOCATOR",
    "INVALID_FIELD",
    "INVALID_TYPE",
    "MALFORMED_QUERY",
];

/// The error code of a Salesforce error body (`[{"message", "errorCode"}]`), or of an
/// excerpt of one (the message may have cut the code off: `No such column` still
/// means `INVALID_FIELD`).
pub fn error_code(text: &str) -> Option<&'static str> {
    ERROR_CODES
        .iter()
        .copied()
        .find(|code| {
            text.contains(&format!("\"errorCode\":\"{code}\"")) || text.contains(&format!("\"errorCode\" : \"{code}\""))
        })
        .or_else(|| text.contains("No such column").then_some("INVALID_FIELD"))
}

/// Salesforce's error codes found in an error's text, with what they mean to a user.
fn explain(error: ConnectorError, endpoint: &str) -> ConnectorError {
    match error {
        ConnectorError::Auth { reason, .. } if error_code(&reason) == Some("REQUEST_LIMIT_EXCEEDED") => {
            ConnectorError::RateLimited {
                endpoint: format!("{endpoint} (REQUEST_LIMIT_EXCEEDED: the org's daily API quota is used up)"),
                retry_after: None,
            }
        }
        ConnectorError::Permanent { endpoint, reason } => {
            let hint = match error_code(&reason) {
                Some("INVALID_FIELD") => Some(
                    "INVALID_FIELD: the org lacks a field the query names (a custom field not created in this org?)",
                ),
                Some("INVALID_TYPE") => Some("INVALID_TYPE: the org lacks an object the query names"),
                Some("MALFORMED_QUERY") => Some("MALFORMED_QUERY"),
                _ => None,
            };
            match hint {
                Some(hint) => {
                    ConnectorError::Permanent { endpoint, reason: format!("{hint}; salesforce said {reason}") }
                }
                None => ConnectorError::Permanent { endpoint, reason },
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_reads_from_the_limit_header() {
        assert_eq!(parse_usage("api-usage=18/5000"), Some((18, 5000)));
        assert_eq!(
            parse_usage("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)"),
            Some((25, 5000))
        );
        assert_eq!(parse_usage("api-bursts=1/750"), None);
        assert_eq!(parse_usage("api-usage=x/5000"), None);
    }

    #[test]
    fn a_403_request_limit_exceeded_is_a_rate_limit_and_400s_say_what_is_wrong() {
        let quota = ConnectorError::Auth {
            endpoint: "/services/data/v62.0/query".into(),
            reason:
                r#"403 Forbidden: [{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#
                    .into(),
        };
        assert!(matches!(explain(quota, "/q"), ConnectorError::RateLimited { .. }));
        let field = ConnectorError::permanent(
            "/services/data/v62.0/query",
            r#"400 Bad Request: [{"message":"No such column 'Product_Gap__c' on entity 'Opportunity'"#,
        );
        let text = explain(field, "/q").to_string();
        assert!(
            text.contains("INVALID_FIELD") && text.contains("Product_Gap__c") && text.contains("Opportunity"),
            "{text}"
        );
    }
}

//! The Jira Cloud REST calls the connector makes, over the shared HTTP stack.
//!
//! `JiraApi` knows the API root (the site for Basic auth, or
//! `{api_base}/ex/jira/{cloud_id}` for OAuth) and builds each request; the shared
//! `HttpClient` does auth, rate limits, `Retry-After` and retries. Searches use only
//! `POST /rest/api/3/search/jql` with `nextPageToken` (the old `/rest/api/3/search`
//! answers 410) and always name their fields, since the default is `id` only. Which
//! known issues still exist is asked with `POST /rest/api/3/issue/bulkfetch`, which
//! leaves missing issues out instead of failing (a JQL naming one answers 400).
//! Invariant: a response is parsed into an envelope whose required parts must be
//! present (else the page is malformed), while the issues inside stay untyped JSON so
//! that one odd issue cannot fail the page. Rate-limit headers are only logged.

use std::collections::HashSet;

use chorus_sync::{ConnectorError, HttpClient, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

pub const SEARCH_PATH: &str = "/rest/api/3/search/jql";
pub const BULK_FETCH_PATH: &str = "/rest/api/3/issue/bulkfetch";
/// Most issues one bulk fetch takes.
pub const BULK_FETCH_MAX: usize = 100;
pub const MYSELF_PATH: &str = "/rest/api/3/myself";
pub const RESOURCES_PATH: &str = "/oauth/token/accessible-resources";

/// Comments per `GET /issue/{id}/comment` page.
const COMMENT_PAGE: u32 = 100;
/// Most comment pages read per issue (so at most the 2,000 newest comments): a
/// `total` that never comes in reach (a bogus one, or `startAt` ignored) cannot keep
/// a run busy.
pub const MAX_COMMENT_PAGES: usize = 20;

/// The body of `POST /rest/api/3/search/jql`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    pub jql: String,
    pub fields: Vec<String>,
    pub max_results: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// One page of search results.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    pub issues: Vec<Value>,
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub is_last: Option<bool>,
}

impl SearchPage {
    /// The token of the next page, or `None` when this page is the last.
    pub fn continuation(&self) -> Option<&str> {
        if self.is_last == Some(true) {
            return None;
        }
        self.next_page_token.as_deref().filter(|t| !t.is_empty())
    }
}

/// The body of `POST /rest/api/3/issue/bulkfetch`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkFetchRequest {
    pub issue_ids_or_keys: Vec<String>,
    pub fields: Vec<String>,
    pub fields_by_keys: bool,
}

/// The answer of a bulk fetch. Issues that do not exist (or that the user may not
/// see) are in neither list; `issue_errors` names issues Jira could not read this time.
/// `issues` is required: an answer without it says nothing about which issues exist.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkFetchResult {
    pub issues: Vec<Value>,
    #[serde(default)]
    pub issue_errors: Vec<IssueError>,
}

/// One entry of `issueErrors`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueError {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
}

/// `GET /rest/api/3/myself`, the parts we use.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Myself {
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// One site an OAuth token can reach (`accessible-resources`).
#[derive(Debug, Clone, Deserialize)]
pub struct Resource {
    pub id: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A page of `GET /rest/api/3/issue/{id}/comment`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentPage {
    comments: Vec<Value>,
    #[serde(default)]
    total: Option<u64>,
}

/// Jira's REST API at one root.
#[derive(Clone)]
pub struct JiraApi {
    http: HttpClient,
    root: Url,
}

impl JiraApi {
    pub fn new(http: HttpClient, root: Url) -> Self {
        Self { http, root }
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    /// `root` + `path` (whose segments are taken as given) + extra escaped segments.
    fn url(&self, path: &str, segments: &[&str]) -> Url {
        join(&self.root, path, segments)
    }

    pub async fn myself(&self) -> Result<Myself, ConnectorError> {
        let (response, myself) = self.http.send_parsed(self.http.get(self.url(MYSELF_PATH, &[]))).await?;
        log_rate_limit(&response);
        Ok(myself)
    }

    pub async fn search(&self, request: &SearchRequest) -> Result<SearchPage, ConnectorError> {
        let builder = self.http.post(self.url(SEARCH_PATH, &[])).json(request);
        let (response, page) = self.http.send_parsed(builder).await?;
        log_rate_limit(&response);
        Ok(page)
    }

    /// `POST /rest/api/3/issue/bulkfetch` for at most `BULK_FETCH_MAX` ids or keys.
    pub async fn bulk_fetch(&self, request: &BulkFetchRequest) -> Result<BulkFetchResult, ConnectorError> {
        debug_assert!(request.issue_ids_or_keys.len() <= BULK_FETCH_MAX, "bulk fetch takes at most 100 issues");
        let builder = self.http.post(self.url(BULK_FETCH_PATH, &[])).json(request);
        let (response, page) = self.http.send_parsed(builder).await?;
        log_rate_limit(&response);
        Ok(page)
    }

    /// The comments of an issue, newest first page by page (`orderBy=-created`,
    /// `startAt`), returned oldest first as the API's default order has them. At most
    /// `MAX_COMMENT_PAGES` pages are read, so an issue with more keeps its NEWEST
    /// comments (the ones a reader still acts on). A page whose first comment was
    /// already read means Jira ignored `startAt` and repeated itself: reading stops
    /// there, without storing the repeat. Either way what was read is kept, with a
    /// warning.
    pub async fn all_comments(&self, issue_id: &str) -> Result<Vec<Value>, ConnectorError> {
        let mut comments: Vec<Value> = Vec::new();
        let mut ids: HashSet<String> = HashSet::new();
        for _ in 0..MAX_COMMENT_PAGES {
            let mut url = self.url("/rest/api/3/issue", &[issue_id, "comment"]);
            url.query_pairs_mut()
                .append_pair("startAt", &comments.len().to_string())
                .append_pair("maxResults", &COMMENT_PAGE.to_string())
                .append_pair("orderBy", "-created");
            let (response, page): (_, CommentPage) = self.http.send_parsed(self.http.get(url)).await?;
            log_rate_limit(&response);
            let first = page.comments.first().and_then(comment_id);
            if first.as_ref().is_some_and(|id| ids.contains(id)) {
                tracing::warn!(
                    issue = issue_id,
                    read = comments.len(),
                    "jira repeated a page of comments (startAt ignored); keeping the comments read so far"
                );
                return Ok(oldest_first(comments));
            }
            ids.extend(page.comments.iter().filter_map(comment_id));
            let fetched = page.comments.len();
            comments.extend(page.comments);
            let total = page.total.unwrap_or(comments.len() as u64);
            if fetched == 0 || comments.len() as u64 >= total {
                return Ok(oldest_first(comments));
            }
        }
        tracing::warn!(
            issue = issue_id,
            read = comments.len(),
            pages = MAX_COMMENT_PAGES,
            "jira issue has more comments than the connector reads; keeping the newest ones"
        );
        Ok(oldest_first(comments))
    }
}

/// Comments read newest first, in the order the rest of Jira shows them.
fn oldest_first(mut newest_first: Vec<Value>) -> Vec<Value> {
    newest_first.reverse();
    newest_first
}

/// A comment's `id` (a string in Jira's answers; a number is taken too).
fn comment_id(comment: &Value) -> Option<String> {
    match comment.get("id")? {
        Value::String(id) => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

/// `GET {api_base}/oauth/token/accessible-resources` with the OAuth client.
pub async fn accessible_resources(http: &HttpClient, api_base: &Url) -> Result<Vec<Resource>, ConnectorError> {
    http.send_json(http.get(join(api_base, RESOURCES_PATH, &[]))).await
}

/// The cloud id of the resource whose URL is the configured site.
pub fn pick_cloud_id(resources: &[Resource], site: &Url) -> Result<String, ConnectorError> {
    let wanted = site.as_str().trim_end_matches('/').to_ascii_lowercase();
    if let Some(found) = resources.iter().find(|r| r.url.trim_end_matches('/').to_ascii_lowercase() == wanted) {
        return Ok(found.id.clone());
    }
    let known: Vec<&str> = resources.iter().map(|r| r.url.as_str()).collect();
    Err(ConnectorError::Config(format!(
        "base_url `{wanted}` is not among the sites this OAuth grant can reach ({}); set cloud_id or fix base_url",
        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
    )))
}

/// The API root for OAuth calls: `{api_base}/ex/jira/{cloud_id}`.
pub fn oauth_root(api_base: &Url, cloud_id: &str) -> Url {
    join(api_base, "/ex/jira", &[cloud_id])
}

fn join(root: &Url, path: &str, segments: &[&str]) -> Url {
    let mut url = root.clone();
    url.set_query(None);
    url.set_fragment(None);
    let base = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{base}{path}"));
    if !segments.is_empty() {
        if let Ok(mut parts) = url.path_segments_mut() {
            parts.pop_if_empty().extend(segments);
        }
    }
    url
}

/// Logs Jira's rate-limit headers (the shared stack acts on `Retry-After` itself):
/// `RateLimit-Reason` or `X-RateLimit-NearLimit` at info, the budget otherwise at debug.
/// 429/503 answers never reach here; the shared stack logs those with their wait.
fn log_rate_limit(response: &HttpResponse) {
    let header = |name: &str| response.headers.get(name).and_then(|v| v.to_str().ok());
    let remaining = header("X-RateLimit-Remaining");
    let limit = header("X-RateLimit-Limit");
    let near = header("X-RateLimit-NearLimit").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if let Some(reason) = header("RateLimit-Reason") {
        tracing::info!(path = response.url.path(), reason, remaining, limit, "jira reports rate-limit pressure");
    } else if near {
        tracing::info!(path = response.url.path(), remaining, limit, "jira rate-limit budget nearly spent");
    } else if remaining.is_some() {
        tracing::debug!(path = response.url.path(), remaining, limit, "jira rate limit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn urls_join_under_the_root() {
        assert_eq!(
            join(&url("https://acme.atlassian.net/"), SEARCH_PATH, &[]).as_str(),
            "https://acme.atlassian.net/rest/api/3/search/jql"
        );
        let root = oauth_root(&url("https://api.atlassian.com"), "c1d-42");
        assert_eq!(root.as_str(), "https://api.atlassian.com/ex/jira/c1d-42");
        assert_eq!(
            join(&root, "/rest/api/3/issue", &["PROD-1", "comment"]).as_str(),
            "https://api.atlassian.com/ex/jira/c1d-42/rest/api/3/issue/PROD-1/comment"
        );
        assert_eq!(join(&root, "/rest/api/3/issue", &["a/b"]).path(), "/ex/jira/c1d-42/rest/api/3/issue/a%2Fb");
    }

    #[test]
    fn search_body_and_page_shapes() {
        let body = serde_json::to_value(SearchRequest {
            jql: "project = X".into(),
            fields: vec!["summary".into()],
            max_results: 50,
            next_page_token: None,
        })
        .expect("serializes");
        assert_eq!(body, serde_json::json!({"jql": "project = X", "fields": ["summary"], "maxResults": 50}));
        let page: SearchPage =
            serde_json::from_value(serde_json::json!({"issues": [], "nextPageToken": "t", "isLast": false}))
                .expect("page");
        assert_eq!(page.continuation(), Some("t"));
        let last: SearchPage =
            serde_json::from_value(serde_json::json!({"issues": [], "nextPageToken": "t", "isLast": true}))
                .expect("page");
        assert_eq!(last.continuation(), None);
        assert!(serde_json::from_value::<SearchPage>(serde_json::json!({"nextPageToken": "t"})).is_err());
    }

    #[test]
    fn bulk_fetch_body_and_answer_shapes() {
        let body = serde_json::to_value(BulkFetchRequest {
            issue_ids_or_keys: vec!["10001".into()],
            fields: vec!["project".into()],
            fields_by_keys: false,
        })
        .expect("serializes");
        assert_eq!(
            body,
            serde_json::json!({"issueIdsOrKeys": ["10001"], "fields": ["project"], "fieldsByKeys": false})
        );
        let answer: BulkFetchResult = serde_json::from_value(serde_json::json!({
            "issues": [{"id": "10001"}], "issueErrors": [{"id": "10002", "errorMessage": "later"}]
        }))
        .expect("answer");
        assert_eq!((answer.issues.len(), answer.issue_errors[0].id.as_deref()), (1, Some("10002")));
        assert!(serde_json::from_value::<BulkFetchResult>(serde_json::json!({"issueErrors": []})).is_err());
    }

    #[test]
    fn cloud_id_matches_the_site() {
        let resources = vec![
            Resource { id: "a".into(), url: "https://other.atlassian.net".into(), name: "o".into(), scopes: vec![] },
            Resource { id: "b".into(), url: "https://ACME.atlassian.net/".into(), name: "a".into(), scopes: vec![] },
        ];
        assert_eq!(pick_cloud_id(&resources, &url("https://acme.atlassian.net")).expect("found"), "b");
        let err = pick_cloud_id(&resources, &url("https://nope.atlassian.net")).expect_err("missing").to_string();
        assert!(err.contains("other.atlassian.net"), "{err}");
    }
}

//! Test support: an app over a real SQLite store and index, seeded with a few items
//! and accounts, with one token per role, and a connector whose run waits on a gate.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chorus_core::{AccountRecord, ItemRecord, Kind, Person, Record, Source};
use chorus_index::{IndexProjection, SearchIndex};
use chorus_server::{router, AppState, ConnectorEntry, Syncs};
use chorus_store::{PageCommit, Role, RunOutcome, RunStatus, Store};
use chorus_sync::engine::{this_process, Engine};
use chorus_sync::{ConnectorError, DynConnector, DynPage, SyncMode};
use chrono::{DateTime, TimeZone, Utc};
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::Semaphore;
use tower::ServiceExt;

pub struct TestApp {
    pub app: axum::Router,
    /// What `app` was built from (the browser test serves it on a socket).
    pub state: AppState,
    pub store: Arc<dyn Store>,
    pub tokens: BTreeMap<Role, String>,
    /// Each permit lets the gated connector's run finish one page.
    pub gate: Arc<Semaphore>,
    _dir: tempfile::TempDir,
}

pub fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, day, 12, 0, 0).single().expect("valid time")
}

pub fn item(id: &str, kind: Kind, title: &str, body: &str, org: Option<&str>) -> Record {
    Record::Item(ItemRecord {
        external_id: id.to_owned(),
        key: None,
        kind,
        title: title.to_owned(),
        body: body.to_owned(),
        comments: Vec::new(),
        url: Some(format!("https://acme.zendesk.example/tickets/{id}")),
        status: "open".to_owned(),
        priority: None,
        tags: Vec::new(),
        author: Person { email: Some(format!("person{id}@customer.example")), name: None },
        account_external_id: org.map(str::to_owned),
        account_name: None,
        csat: None,
        created_at: at(1),
        updated_at: at(2),
        raw: serde_json::json!({ "id": id, "secret_field": "raw payloads stay in the store" }),
    })
}

/// The one unlinked seeded item ("Login loop", by `person3@customer.example`).
pub async fn triage_item(app: &TestApp) -> i64 {
    app.store.item_by_external_id("zd", "3").await.expect("read").expect("seeded").id
}

pub fn org(id: &str, name: &str, arr_minor: i64) -> Record {
    Record::Account(AccountRecord {
        external_id: id.to_owned(),
        name: name.to_owned(),
        domains: Vec::new(),
        arr_minor: Some(arr_minor),
        currency: Some("USD".to_owned()),
        segment: Some("enterprise".to_owned()),
        lifecycle_stage: None,
        csm_owner: None,
        renewal_date: None,
        parent_external_id: None,
        plan: None,
        same_as: Vec::new(),
        raw: serde_json::Value::Null,
    })
}

/// A connector whose every page waits for a permit of `gate`.
pub struct Gated {
    pub id: String,
    pub source: Source,
    pub gate: Arc<Semaphore>,
}

impl DynConnector for Gated {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        "gated"
    }

    fn source(&self) -> Source {
        self.source
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        Box::pin(async { Ok("gated".to_owned()) })
    }

    fn pages(
        &self,
        _from: Option<&serde_json::Value>,
        _mode: SyncMode,
    ) -> Result<BoxStream<'_, Result<DynPage, ConnectorError>>, ConnectorError> {
        let gate = Arc::clone(&self.gate);
        Ok(stream::once(async move {
            if let Ok(permit) = gate.acquire().await {
                permit.forget();
            }
            Ok(DynPage { records: Vec::new(), cursor: serde_json::json!({ "v": 1 }), unmapped: Vec::new() })
        })
        .boxed())
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::build(true, false, &[]).await
    }

    pub async fn without_index() -> Self {
        Self::build(false, false, &[]).await
    }

    /// With the usual seed plus support tickets `(external id, title, body)` of no
    /// account, all indexed.
    pub async fn with_items(extra: &[(&str, &str, &str)]) -> Self {
        Self::build(true, false, extra).await
    }

    /// With web sessions under `web`.
    pub async fn with_web(web: chorus_server::web::WebSettings) -> Self {
        Self::build_with(true, false, &[], Vec::new(), web).await
    }

    /// With `records` synced (by connector `extra`, a Zendesk one) before indexing.
    pub async fn with_records(records: Vec<Record>) -> Self {
        Self::build_with(true, false, &[], records, chorus_server::web::WebSettings::default()).await
    }

    /// With connectors `slack`, `zendesk` and `jira` (runs never wait) whose webhook
    /// secrets are `SLACK_SECRET`, `ZENDESK_SECRET` and `JIRA_SECRET`.
    pub async fn with_webhooks() -> Self {
        Self::build(false, true, &[]).await
    }

    async fn build(with_index: bool, webhooks: bool, items: &[(&str, &str, &str)]) -> Self {
        Self::build_with(with_index, webhooks, items, Vec::new(), chorus_server::web::WebSettings::default()).await
    }

    async fn build_with(
        with_index: bool,
        webhooks: bool,
        items: &[(&str, &str, &str)],
        extra: Vec<Record>,
        web: chorus_server::web::WebSettings,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("chorus.db").display());
        let store = chorus_store::open(&url).await.expect("open store");
        seed(store.as_ref(), items).await;
        if !extra.is_empty() {
            commit(store.as_ref(), "extra", Source::Zendesk, extra).await;
        }
        let mut tokens = BTreeMap::new();
        for role in Role::ALL {
            let (token, _) =
                chorus_server::api::tokens::create_token(store.as_ref(), role.as_str(), role).await.expect("token");
            tokens.insert(role, token.expose().to_owned());
        }
        let gate = Arc::new(Semaphore::new(0));
        let engine = Engine::new(Arc::clone(&store), this_process(Duration::from_secs(60)));
        let connector = Gated { id: "gated".into(), source: Source::Zendesk, gate: Arc::clone(&gate) };
        let mut entries = vec![ConnectorEntry {
            id: "gated".into(),
            kind: "gated".into(),
            enabled: true,
            schedule: Some("*/5 * * * *".into()),
            connector: Arc::new(connector),
        }];
        let mut secrets = std::collections::HashMap::new();
        if webhooks {
            let open = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
            for (id, source, secret) in [
                ("slack", Source::Slack, SLACK_SECRET),
                ("zendesk", Source::Zendesk, ZENDESK_SECRET),
                ("jira", Source::Jira, JIRA_SECRET),
            ] {
                let connector = Gated { id: id.into(), source, gate: Arc::clone(&open) };
                entries.push(ConnectorEntry {
                    id: id.into(),
                    kind: id.into(),
                    enabled: true,
                    schedule: None,
                    connector: Arc::new(connector),
                });
                secrets.insert(id.to_owned(), chorus_core::Secret::new(secret));
            }
            seed_jira(store.as_ref()).await;
        }
        let syncs = Syncs::new(engine, entries).with_debounce(Duration::from_millis(100));
        let mut state = AppState::new(Arc::clone(&store)).with_syncs(syncs).with_webhooks(secrets).with_web(web);
        if with_index {
            let index = SearchIndex::open(dir.path().join("index")).expect("open index");
            let mut projection =
                IndexProjection::new(index.clone(), Arc::clone(&store), chorus_core::ExchangeRates::default())
                    .expect("projection");
            projection.catch_up().await.expect("catch up");
            index.reload().expect("reload");
            state = state.with_index(index);
        }
        Self { app: router(state.clone()), state, store, tokens, gate, _dir: dir }
    }

    /// The store's SQLite URL, for a test that must write behind the store's back.
    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self._dir.path().join("chorus.db").display())
    }

    pub fn token(&self, role: Role) -> &str {
        &self.tokens[&role]
    }

    /// Sends a POST with `headers` and a raw body; returns status and body.
    pub async fn post_raw(&self, uri: &str, headers: &[(&str, String)], body: &[u8]) -> (StatusCode, String) {
        let mut request = Request::builder().method(Method::POST).uri(uri).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(Body::from(body.to_vec())).expect("request");
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Sends a request, with `token` as bearer when given; returns status and body.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, String) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned()))).expect("request");
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 8 << 20).await.expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn get(&self, uri: &str, role: Role) -> (StatusCode, serde_json::Value) {
        let (status, body) = self.send(Method::GET, uri, Some(self.token(role)), None).await;
        (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)))
    }

    /// Sends `body` as JSON with `role`'s token; returns status and the parsed answer.
    pub async fn send_json(
        &self,
        method: Method,
        uri: &str,
        role: Role,
        body: &serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        let (status, text) = self.send(method, uri, Some(self.token(role)), Some(&body.to_string())).await;
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// Records finished runs of `connector`, oldest first.
    pub async fn finished_runs(&self, connector: &str, n: usize) {
        for _ in 0..n {
            let claim = self
                .store
                .claim_run(connector, &this_process(Duration::from_secs(60)))
                .await
                .expect("claim")
                .expect("free");
            let outcome = RunOutcome { status: RunStatus::Succeeded, pages: 1, ..RunOutcome::default() };
            self.store.finish_run(&claim, &outcome).await.expect("finish");
        }
    }
}

pub const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const ZENDESK_SECRET: &str = "zendesk-webhook-secret";
pub const JIRA_SECRET: &str = "jira-webhook-secret";

/// One Jira issue, id `10001`, synced by connector `jira`.
async fn seed_jira(store: &dyn Store) {
    let issue = item("10001", Kind::Bug, "Deleted soon", "This issue will be deleted in Jira", None);
    commit(store, "jira", Source::Jira, vec![issue]).await;
}

/// Commits `records` as one page of `connector`'s run.
async fn commit(store: &dyn Store, connector: &str, source: Source, records: Vec<Record>) {
    let claim = store.claim_run(connector, &this_process(Duration::from_secs(60))).await.expect("claim").expect("free");
    let page = PageCommit {
        connector: connector.into(),
        source,
        records,
        cursor: serde_json::json!({ "v": 1 }),
        expected_version: 0,
    };
    store.commit_page(&claim, &page).await.expect("commit");
    store
        .finish_run(&claim, &RunOutcome { status: RunStatus::Succeeded, pages: 1, ..RunOutcome::default() })
        .await
        .expect("finish");
}

async fn seed(store: &dyn Store, extra: &[(&str, &str, &str)]) {
    let records = vec![
        org("org-1", "Acme Corp", 125_000_000),
        org("org-2", "Globex", 48_000_000),
        item("1", Kind::Bug, "Export to CSV fails", "The export button times out on large boards", Some("org-1")),
        item("2", Kind::FeatureRequest, "Scheduled export", "We want a nightly export to S3", Some("org-2")),
        item("3", Kind::SupportTicket, "Login loop", "SSO login keeps redirecting", None),
    ]
    .into_iter()
    .chain(extra.iter().map(|(id, title, body)| item(id, Kind::SupportTicket, title, body, None)))
    .collect();
    commit(store, "zd", Source::Zendesk, records).await;
}

/// A signed-in browser: its session cookie (`name=value`) and the CSRF token its
/// pages carry.
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

/// A whole answer: status, headers and body text.
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// The CSRF token in a page's forms.
pub fn csrf_of(html: &str) -> Option<String> {
    let start = html.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    html[start..].split('"').next().map(str::to_owned)
}

impl TestApp {
    /// A web request: `cookie` as the session cookie, `form` as a urlencoded body.
    pub async fn web(&self, method: Method, uri: &str, cookie: Option<&str>, form: Option<&str>) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if form.is_some() {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        let request = request.body(form.map_or_else(Body::empty, |f| Body::from(f.to_owned()))).expect("request");
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 8 << 20).await.expect("body");
        Answer { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    /// Signs in with `role`'s token, as the login form does.
    pub async fn sign_in(&self, role: Role) -> Browser {
        let form = format!("token={}", self.token(role));
        let answer = self.web(Method::POST, "/login", None, Some(&form)).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "login as {role}: {}", answer.body);
        let cookie = answer.header("set-cookie").split(';').next().unwrap_or("").to_owned();
        assert!(cookie.starts_with("chorus_session="), "{cookie}");
        let home = self.web(Method::GET, "/", Some(&cookie), None).await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
        let csrf = csrf_of(&home.body).expect("every signed-in page has the sign-out form");
        Browser { cookie, csrf }
    }
}

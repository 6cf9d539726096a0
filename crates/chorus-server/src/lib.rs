//! The HTTP surface of Chorus: `/api/v1`, its OpenAPI document, the web UI, health,
//! readiness and metrics.
//!
//! `router(state)` builds the whole axum application from the access table
//! (`access::ROUTES`), so tests drive it with `tower::ServiceExt::oneshot`; `serve`
//! (serve.rs) runs it on a listener with deadlines on every client. Every route
//! declares the access it needs in that one table, and an undeclared route is denied.
//! Errors leave through one `ApiError` with a stable `{ "code", "message" }` body;
//! internals are logged, never sent to clients.

pub mod access;
pub mod api;
mod error;
mod extract;
mod health;
pub mod limits;
pub mod openapi;
mod serve;
pub mod syncs;
pub mod token;
pub mod web;
pub mod webhooks;

pub use error::{ApiError, ErrorBody};
pub use serve::{serve, Timeouts};
pub use syncs::{ConnectorEntry, Syncs};

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::{middleware, Router};
use chorus_index::SearchIndex;
use chorus_store::Store;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The search index; `None` answers searches with `503`.
    pub index: Option<SearchIndex>,
    pub syncs: Arc<Syncs>,
    pub webhooks: Arc<webhooks::Webhooks>,
    /// Most change-log entries the index may be behind while `/readyz` says ready.
    pub max_index_lag: u64,
    /// What account health and request priority are computed with.
    pub settings: Arc<Settings>,
    /// How web sessions behave.
    pub web: web::WebSettings,
    /// Login attempts per client address.
    logins: Arc<web::LoginLimiter>,
    /// The last ranking of every request, reused until the store changes.
    pub rankings: Arc<chorus_store::ranking::RankingCache>,
    touches: Arc<access::Touches>,
}

/// The configured thresholds, weights and rates account health and request priority
/// are computed with (the `[health]`, `[priority]` and `[money]` sections).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub health: chorus_core::HealthThresholds,
    pub priority: chorus_core::PriorityWeights,
    pub money: chorus_core::ExchangeRates,
}

/// The default of `max_index_lag`.
pub const DEFAULT_MAX_INDEX_LAG: u64 = 10_000;

impl AppState {
    /// A state over `store` with no index and no connectors.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            index: None,
            syncs: Arc::new(Syncs::default()),
            webhooks: Arc::default(),
            max_index_lag: DEFAULT_MAX_INDEX_LAG,
            settings: Arc::default(),
            web: web::WebSettings::default(),
            logins: Arc::new(web::LoginLimiter::new(web::WebSettings::default().logins_per_minute)),
            rankings: Arc::default(),
            touches: Arc::default(),
        }
    }

    /// Web sessions under these settings (a fresh login allowance for every client).
    pub fn with_web(mut self, settings: web::WebSettings) -> Self {
        self.logins = Arc::new(web::LoginLimiter::new(settings.logins_per_minute));
        self.web = settings;
        self
    }

    /// The search index, or the 503 a route that needs one answers without it.
    pub(crate) fn search_index(&self) -> Result<&SearchIndex, ApiError> {
        self.index.as_ref().ok_or_else(|| ApiError::Unavailable("no search index configured".into()))
    }

    pub fn with_index(mut self, index: SearchIndex) -> Self {
        self.index = Some(index);
        self
    }

    pub fn with_syncs(mut self, syncs: Syncs) -> Self {
        self.syncs = Arc::new(syncs);
        self
    }

    /// Health and priority under these settings (the defaults otherwise).
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = Arc::new(settings);
        // A ranking cached under other weights or rates is not this state's.
        self.rankings = Arc::default();
        self
    }

    pub fn with_max_index_lag(mut self, max_index_lag: u64) -> Self {
        self.max_index_lag = max_index_lag;
        self
    }

    /// Webhook secrets by connector id.
    pub fn with_webhooks(mut self, secrets: std::collections::HashMap<String, chorus_core::Secret>) -> Self {
        self.webhooks = Arc::new(webhooks::Webhooks::new(secrets));
        self
    }
}

/// The application: every route of the access table, behind its checks.
pub fn router(state: AppState) -> Router {
    let routes =
        access::ROUTES.iter().fold(Router::new(), |router, route| router.route(route.path, route.method_router()));
    with_checks(routes, state)
}

/// `routes` behind the access check, the size limits and the JSON 404.
fn with_checks(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(middleware::from_fn_with_state(state.clone(), access::authorize))
        .layer(middleware::from_fn(observe_latency))
        .layer(DefaultBodyLimit::max(limits::MAX_BODY_BYTES))
        .layer(middleware::from_fn(limits::enforce))
        .layer(middleware::from_fn(web::headers::secure))
        .with_state(state)
}

/// Records each request's latency under its route pattern (bounded labels).
async fn observe_latency(request: axum::extract::Request, next: middleware::Next) -> axum::response::Response {
    let started = std::time::Instant::now();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    chorus_sync::telemetry::ApiRequestServed {
        route: &route,
        method: method.as_str(),
        status: response.status().as_u16(),
        elapsed: started.elapsed(),
    }
    .emit();
    response
}

#[cfg(test)]
pub(crate) fn router_with_extra(state: AppState, extra: Router<AppState>) -> Router {
    let routes = access::ROUTES.iter().fold(extra, |router, route| router.route(route.path, route.method_router()));
    with_checks(routes, state)
}

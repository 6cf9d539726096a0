//! Who may call what: the one route table, and the middleware that enforces it.
//!
//! Every route the server answers is a line of [`ROUTES`]: method, path, handler and
//! the access it needs. The router is built from this table, so a route cannot exist
//! without a declared access; and the middleware denies any matched route the table
//! does not list (one added to the router by other means), so forgetting to declare
//! never opens a route. `/healthz` and `/readyz` are open; webhooks are checked by
//! their signature in the handler; web pages need a session (a token login) whose
//! role allows them; everything else needs a bearer token whose role allows the route.
//! A bearer token never opens a page and a session cookie never opens the API.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use chorus_store::Role;

use crate::{api, health, token, web, webhooks, ApiError, AppState};

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health and readiness probes).
    Open,
    /// A webhook: the handler verifies the source's signature over the raw body.
    Signed,
    /// A bearer token whose role allows `Role` (see [`allows`]).
    Token(Role),
    /// A web session whose token's role allows `Role`; on anything but a read, the
    /// form must carry the session's CSRF token (see `web::session`).
    Session(Role),
}

/// One route: method, path (axum syntax), the access it needs, and its handler.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
}

macro_rules! route {
    ($method:ident $path:literal, $access:expr, $handler:path) => {
        Route {
            method: Method::$method,
            path: $path,
            access: $access,
            handler: |filter| axum::routing::on(filter, $handler),
        }
    };
}

use Access::{Open, Session, Signed, Token};
use Role::{Admin, Csm, Pm, Viewer};

/// Every route, with its access. The router is built from this table alone.
pub static ROUTES: &[Route] = &[
    route!(GET "/healthz", Open, health::healthz),
    route!(GET "/readyz", Open, health::readyz),
    route!(GET "/metrics", Token(Viewer), health::metrics),
    route!(GET "/api/v1/openapi.json", Token(Viewer), crate::openapi::document),
    route!(GET "/api/v1/search", Token(Viewer), api::search::search),
    route!(GET "/api/v1/items/{id}", Token(Viewer), api::items::get_item),
    route!(GET "/api/v1/accounts", Token(Viewer), api::accounts::list),
    route!(GET "/api/v1/accounts/{id}", Token(Viewer), api::accounts::get_account),
    route!(POST "/api/v1/accounts/{id}/merge", Token(Csm), api::accounts::merge),
    route!(POST "/api/v1/accounts/{id}/split", Token(Csm), api::accounts::split),
    route!(POST "/api/v1/items/{id}/account", Token(Csm), api::accounts::link_item),
    route!(GET "/api/v1/triage", Token(Viewer), api::triage::list),
    route!(GET "/api/v1/requests", Token(Viewer), api::requests::list),
    route!(POST "/api/v1/requests", Token(Pm), api::requests::create),
    route!(GET "/api/v1/requests/{id}", Token(Viewer), api::requests::get_request),
    route!(PATCH "/api/v1/requests/{id}", Token(Pm), api::requests::update),
    route!(POST "/api/v1/requests/{id}/merge", Token(Pm), api::requests::merge),
    route!(POST "/api/v1/requests/{id}/items", Token(Pm), api::requests::link_items),
    route!(DELETE "/api/v1/requests/{id}/items/{item}", Token(Pm), api::requests::unlink_item),
    route!(POST "/api/v1/requests/{id}/ship", Token(Pm), api::requests::ship),
    // Suggested links (api/suggestions.rs).
    route!(GET "/api/v1/requests/{id}/suggestions", Token(Viewer), api::suggestions::list),
    route!(POST "/api/v1/requests/{id}/suggestions/{item}/accept", Token(Pm), api::suggestions::accept),
    route!(POST "/api/v1/requests/{id}/suggestions/{item}/reject", Token(Pm), api::suggestions::reject),
    route!(GET "/api/v1/items/{id}/likely-requests", Token(Viewer), api::suggestions::likely_requests),
    route!(GET "/api/v1/connectors", Token(Viewer), api::connectors::list),
    route!(GET "/api/v1/connectors/{id}", Token(Viewer), api::connectors::status),
    route!(GET "/api/v1/connectors/{id}/runs", Token(Viewer), api::connectors::runs),
    route!(POST "/api/v1/connectors/{id}/sync", Token(Admin), api::connectors::trigger),
    route!(GET "/api/v1/runs", Token(Viewer), api::runs::list),
    route!(GET "/api/v1/tokens", Token(Admin), api::tokens::list),
    route!(POST "/api/v1/tokens", Token(Admin), api::tokens::create),
    route!(DELETE "/api/v1/tokens/{id}", Token(Admin), api::tokens::revoke),
    route!(POST "/webhooks/slack/{connector}", Signed, webhooks::slack),
    route!(POST "/webhooks/zendesk/{connector}", Signed, webhooks::zendesk),
    route!(POST "/webhooks/jira/{connector}", Signed, webhooks::jira),
    // --- web UI: pages and forms behind a session (see web/) ---------------------------
    route!(GET "/login", Open, web::login::page),
    route!(POST "/login", Open, web::login::submit),
    route!(POST "/logout", Session(Viewer), web::login::logout),
    route!(GET "/assets/chorus.css", Open, web::assets::css),
    route!(GET "/assets/icon.svg", Open, web::assets::icon),
    route!(GET "/", Session(Viewer), web::search::page),
    route!(GET "/requests", Session(Viewer), web::requests::board),
    route!(GET "/requests/{id}", Session(Viewer), web::requests::page),
    route!(POST "/requests/{id}/status", Session(Pm), web::requests::set_status),
    route!(GET "/accounts/{id}", Session(Viewer), web::accounts::page),
    route!(GET "/triage", Session(Viewer), web::triage::page),
    route!(POST "/triage/{item}/account", Session(Csm), web::triage::link_account),
    route!(POST "/triage/{item}/request", Session(Pm), web::triage::link_request),
    route!(GET "/connectors", Session(Viewer), web::connectors::page),
    route!(POST "/connectors/{id}/sync", Session(Admin), web::connectors::sync),
];

impl Route {
    pub(crate) fn method_router(&self) -> MethodRouter<AppState> {
        let filter = MethodFilter::try_from(self.method.clone()).unwrap_or(MethodFilter::GET);
        (self.handler)(filter)
    }
}

/// Whether a token of role `held` may call a route that needs `required`: everyone
/// reads, `pm` and `csm` each have their own writes, `admin` has all of them.
pub fn allows(held: Role, required: Role) -> bool {
    held == Role::Admin || held == required || required == Role::Viewer
}

/// The authenticated caller, for handlers that need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub token_id: i64,
    pub role: Role,
}

/// How often a token's `last_used_at` is written at most (reads stay reads).
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// When each token's use was last written.
#[derive(Default)]
pub struct Touches(Mutex<HashMap<i64, Instant>>);

impl Touches {
    /// Whether to write this use now (and note that it was).
    fn due(&self, token_id: i64) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        match seen.get(&token_id) {
            Some(last) if now.duration_since(*last) < TOUCH_EVERY => false,
            _ => {
                // Bounded by the number of tokens; forget stale entries when it grows.
                if seen.len() > 10_000 {
                    seen.retain(|_, last| now.duration_since(*last) < TOUCH_EVERY);
                }
                seen.insert(token_id, now);
                true
            }
        }
    }
}

/// The table's line for a matched path and method (`HEAD` is answered as `GET`).
pub fn lookup(method: &Method, path: &str) -> Option<&'static Route> {
    let method = if method == Method::HEAD { &Method::GET } else { method };
    ROUTES.iter().find(|route| route.path == path && route.method == method)
}

/// Enforces the table on every matched route.
pub async fn authorize(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(path) = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()) else {
        // Unmatched: the fallback answers 404 and reveals nothing.
        return next.run(request).await;
    };
    let Some(route) = lookup(request.method(), &path) else {
        if ROUTES.iter().any(|route| route.path == path) {
            return ApiError::MethodNotAllowed(format!("{} is not allowed on {path}", request.method()))
                .into_response();
        }
        tracing::error!(%path, "route missing from the access table; denied");
        return ApiError::Forbidden("this route declares no access and is denied".into()).into_response();
    };
    let required = match route.access {
        Access::Open | Access::Signed => return next.run(request).await,
        Access::Session(required) => return web::session::gate(&state, required, request, next).await,
        Access::Token(required) => required,
    };
    let header =
        request.headers().get(header::AUTHORIZATION).map(|value| value.to_str().unwrap_or_default().to_owned());
    let caller = match authenticate(&state, header.as_deref()).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if !allows(caller.role, required) {
        return ApiError::Forbidden(format!("this route needs the {required} role; the token has {}", caller.role))
            .into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The caller behind the request's `Authorization` header.
async fn authenticate(state: &AppState, header: Option<&str>) -> Result<Caller, ApiError> {
    let text = header.ok_or_else(|| {
        ApiError::Unauthorized("an API token is required: send `Authorization: Bearer chorus_…`".into())
    })?;
    let presented = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into()))?;
    verify_token(state, presented).await
}

/// The caller a presented token stands for, when it is a live one: what a bearer header
/// and a web sign-in both check. Records the token's last use now and then.
pub(crate) async fn verify_token(state: &AppState, presented: &str) -> Result<Caller, ApiError> {
    if !token::looks_like_token(presented) {
        return Err(ApiError::Unauthorized("the token is not a Chorus API token".into()));
    }
    let found = state
        .store
        .api_token_by_hash(&token::hash(presented))
        .await
        .map_err(|e| ApiError::Unavailable(format!("token look-up: {e}")))?;
    let found = found.ok_or_else(|| ApiError::Unauthorized("the token is unknown or revoked".into()))?;
    if state.touches.due(found.id) {
        let store = std::sync::Arc::clone(&state.store);
        let id = found.id;
        tokio::spawn(async move {
            if let Err(error) = store.touch_api_token(id, chrono::Utc::now()).await {
                tracing::warn!(token_id = id, %error, "recording a token's last use failed");
            }
        });
    }
    Ok(Caller { token_id: found.id, role: found.role })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    use crate::AppState;

    #[tokio::test]
    async fn a_route_missing_from_the_table_is_denied() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("chorus.db").display());
        let store = chorus_store::open(&url).await.expect("store");
        let extra = axum::Router::new().route("/api/v1/undeclared", get(|| async { "secret" }));
        let app = crate::router_with_extra(AppState::new(store), extra);
        let request = Request::get("/api/v1/undeclared").body(Body::empty()).expect("request");
        let response = app.oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
        assert!(!String::from_utf8_lossy(&body).contains("secret"));
    }
}

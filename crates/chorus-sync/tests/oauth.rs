//! Auth providers against the simulator's `TokenAuthority` over real loopback HTTP:
//! single-flight refresh, rotating refresh tokens persisted with CAS, proactive refresh,
//! and secrets that never reach an error message or `Debug` output.

use std::sync::Arc;
use std::time::Duration;

use chorus_core::Secret;
use chorus_sim::{AuthSeen, AuthorityConfig, CutBody, FaultProfile, FeedSim, SimServer, TokenAuthority};
use chorus_sync::auth::{shared, stored_refresh_token};
use chorus_sync::{
    BasicAuth, BearerAuth, ClientAuth, ConnectorError, Credentials, HttpClient, HttpPolicy, HttpStack, OAuthConfig,
    OAuthRefresh,
};
use url::Url;

const CLIENT_SECRET: &str = "client-SECRET-xyz";
const INITIAL_REFRESH: &str = "refresh-SECRET-0";

fn authority(config: AuthorityConfig) -> TokenAuthority {
    TokenAuthority::new(AuthorityConfig {
        client_secret: CLIENT_SECRET.into(),
        initial_refresh_token: INITIAL_REFRESH.into(),
        ..config
    })
}

async fn credentials() -> Credentials {
    let store = chorus_store::open("sqlite::memory:").await.expect("in-memory store");
    Credentials::new("oauth-test", store)
}

fn http() -> HttpClient {
    let policy = HttpPolicy { min_backoff: Duration::from_millis(20), ..HttpPolicy::default() };
    HttpStack::new().expect("stack builds").client("oauth-test", policy)
}

fn oauth_config(server: &SimServer, client_auth: ClientAuth) -> OAuthConfig {
    OAuthConfig {
        token_url: Url::parse(&format!("{}/oauth/token", server.url())).expect("url"),
        client_id: "sim-client".into(),
        client_secret: Some(Secret::new(CLIENT_SECRET)),
        client_auth,
        scopes: vec![],
    }
}

fn me(server: &SimServer) -> Url {
    Url::parse(&format!("{}/api/me", server.url())).expect("url")
}

#[tokio::test]
async fn concurrent_401s_cause_exactly_one_refresh() {
    let authority = authority(AuthorityConfig::default());
    let feed = FeedSim::seeded(1, 3).with_auth(authority.clone());
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    let http = http();
    let provider = OAuthRefresh::refresh_token(
        oauth_config(&server, ClientAuth::RequestBody),
        Secret::new(INITIAL_REFRESH),
        credentials().await,
        &http,
    );
    let api = http.clone().with_auth(Arc::new(provider));
    api.send(api.get(me(&server))).await.expect("first grant, then ok");
    assert_eq!(authority.refreshes(), 1);

    authority.expire_access_tokens();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let api = api.clone();
            let target = me(&server);
            tokio::spawn(async move { api.send(api.get(target)).await.map(|r| r.status) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("joins").expect("each request recovers"), 200);
    }
    assert_eq!(authority.refreshes(), 2, "one refresh for eight 401s");
    assert_eq!(authority.token_requests(), 2);
    assert_eq!(authority.violations(), 0);
    let unauthorized = server.requests().iter().filter(|r| r.status == Some(401)).count();
    assert!((1..=8).contains(&unauthorized), "{unauthorized} 401s");
}

#[tokio::test]
async fn rotated_refresh_tokens_are_persisted_and_old_ones_never_sent_again() {
    // Tokens die after two uses: the sync refreshes mid-way, several times.
    let authority = authority(AuthorityConfig { max_uses: Some(2), ..AuthorityConfig::default() });
    let feed = FeedSim::seeded(1, 3).with_auth(authority.clone());
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    let store = credentials().await;
    let http = http();
    let config = oauth_config(&server, ClientAuth::Basic);
    let provider = OAuthRefresh::refresh_token(config.clone(), Secret::new(INITIAL_REFRESH), store.clone(), &http);
    let api = http.clone().with_auth(shared(provider));
    for _ in 0..7 {
        api.send(api.get(me(&server))).await.expect("ok across expiries");
    }
    assert!(authority.refreshes() >= 4, "{} refreshes", authority.refreshes());
    let stored = stored_refresh_token(&store).await.expect("store").expect("a rotated token is stored");
    assert_eq!(authority.live_refresh_tokens(), vec![stored.clone()], "the store holds the live token");

    // A restarted process still has the (now dead) initial token in its config: it must
    // use the stored one instead.
    let restarted = OAuthRefresh::refresh_token(config, Secret::new(INITIAL_REFRESH), store.clone(), &http);
    let api = http.clone().with_auth(shared(restarted));
    api.send(api.get(me(&server))).await.expect("ok after restart");
    assert_eq!(authority.violations(), 0, "no revoked refresh token was ever presented");
    assert_ne!(stored_refresh_token(&store).await.expect("store"), Some(stored));
}

#[tokio::test]
async fn another_process_rotating_first_is_followed_not_fought() {
    let authority = authority(AuthorityConfig::default());
    let feed = FeedSim::seeded(1, 3).with_auth(authority.clone());
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    let store = credentials().await;
    let http = http();
    let config = oauth_config(&server, ClientAuth::RequestBody);
    let first = OAuthRefresh::refresh_token(config.clone(), Secret::new(INITIAL_REFRESH), store.clone(), &http);
    let second = OAuthRefresh::refresh_token(config, Secret::new(INITIAL_REFRESH), store.clone(), &http);
    let api_first = http.clone().with_auth(shared(first));
    let api_second = http.clone().with_auth(shared(second));
    api_first.send(api_first.get(me(&server))).await.expect("first process");
    api_second.send(api_second.get(me(&server))).await.expect("second process reads the rotated token");
    authority.expire_access_tokens();
    api_first.send(api_first.get(me(&server))).await.expect("first again");
    api_second.send(api_second.get(me(&server))).await.expect("second again");
    assert_eq!(authority.violations(), 0);
    assert_eq!(authority.refreshes(), 4);
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    let authority = authority(AuthorityConfig { access_ttl: Duration::from_secs(2), ..AuthorityConfig::default() });
    let feed = FeedSim::seeded(1, 3).with_auth(authority.clone());
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    let http = http();
    let provider = OAuthRefresh::refresh_token(
        oauth_config(&server, ClientAuth::RequestBody),
        Secret::new(INITIAL_REFRESH),
        credentials().await,
        &http,
    );
    let api = http.clone().with_auth(shared(provider));
    api.send(api.get(me(&server))).await.expect("ok");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    api.send(api.get(me(&server))).await.expect("ok");
    assert_eq!(authority.refreshes(), 2, "refreshed ahead of expiry");
    assert!(server.requests().iter().all(|r| r.status != Some(401)), "never caught with an expired token");
}

#[tokio::test]
async fn a_refused_refresh_token_is_an_auth_error_without_secrets() {
    let authority = authority(AuthorityConfig::default());
    let feed = FeedSim::seeded(1, 3).with_auth(authority.clone());
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    let http = http();
    let config = oauth_config(&server, ClientAuth::RequestBody);
    let provider =
        OAuthRefresh::refresh_token(config.clone(), Secret::new("refresh-SECRET-wrong"), credentials().await, &http);
    let debug = format!("{provider:?} {config:?}");
    let api = http.clone().with_auth(shared(provider));
    let error = api.send(api.get(me(&server))).await.expect_err("refused");
    assert!(matches!(error, ConnectorError::Auth { .. }), "{error:?}");
    let message = format!("{error} {error:?}");
    assert!(message.contains("invalid_grant") && message.contains("/oauth/token"), "{message}");
    for text in [&message, &debug] {
        assert!(!text.contains("SECRET"), "a secret leaked: {text}");
    }
    assert_eq!(server.requests().iter().filter(|r| r.path == "/api/me").count(), 0, "never sent unauthorized");
}

#[tokio::test]
async fn client_credentials_grant() {
    let authority = authority(AuthorityConfig::default());
    let feed = FeedSim::seeded(1, 3).with_auth(authority.clone());
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    let http = http();
    let provider = OAuthRefresh::client_credentials(oauth_config(&server, ClientAuth::Basic), &http);
    let api = http.clone().with_auth(shared(provider));
    let body: serde_json::Value = api.send_json(api.get(me(&server))).await.expect("ok");
    assert_eq!(body["name"], "Feed Simulator");
    assert_eq!(authority.client_credential_grants(), 1);
    assert_eq!(server.requests().last().map(|r| r.auth), Some(AuthSeen::Bearer));
}

#[tokio::test]
async fn static_credentials_cannot_refresh_and_never_print() {
    let authority = authority(AuthorityConfig::default());
    let feed = FeedSim::seeded(1, 3).with_auth(authority.clone());
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    let bearer = BearerAuth::new(Secret::new("bearer-SECRET"));
    let basic = BasicAuth::new("agent@acme.example", Secret::new("basic-SECRET"));
    let debug = format!("{bearer:?} {basic:?}");
    assert!(!debug.contains("SECRET"), "{debug}");
    let api = http().with_auth(shared(bearer));
    let error = api.send(api.get(me(&server))).await.expect_err("unknown token");
    assert!(matches!(error, ConnectorError::Auth { .. }), "{error:?}");
    assert!(!format!("{error} {error:?}").contains("SECRET"));
    let sent = server.requests();
    assert_eq!(sent.len(), 1, "a static token is not retried");
    assert_eq!(sent[0].auth, AuthSeen::Bearer);
}

#[tokio::test]
async fn a_refresh_token_changed_in_the_config_reseeds_a_dead_chain() {
    // A first authorization: the chain grows from INITIAL_REFRESH and is stored.
    let first = authority(AuthorityConfig::default());
    let server = SimServer::start(FeedSim::seeded(1, 3).with_auth(first.clone()).router(), FaultProfile::none())
        .await
        .expect("server starts");
    let store = credentials().await;
    let http = http();
    let config = oauth_config(&server, ClientAuth::RequestBody);
    let provider = OAuthRefresh::refresh_token(config, Secret::new(INITIAL_REFRESH), store.clone(), &http);
    let api = http.clone().with_auth(shared(provider));
    api.send(api.get(me(&server))).await.expect("first chain works");
    let dead = stored_refresh_token(&store).await.expect("store").expect("chain stored");

    // The chain dies (the app was re-authorized elsewhere); the operator puts the new
    // refresh token in the configuration. The stored, dead one must not win over it.
    let reauthorized = TokenAuthority::new(AuthorityConfig {
        client_secret: CLIENT_SECRET.into(),
        initial_refresh_token: "refresh-SECRET-new".into(),
        seed: 2,
        ..AuthorityConfig::default()
    });
    let server = SimServer::start(FeedSim::seeded(1, 3).with_auth(reauthorized.clone()).router(), FaultProfile::none())
        .await
        .expect("server starts");
    let config = oauth_config(&server, ClientAuth::RequestBody);
    let provider = OAuthRefresh::refresh_token(config.clone(), Secret::new("refresh-SECRET-new"), store.clone(), &http);
    let api = http.clone().with_auth(shared(provider));
    api.send(api.get(me(&server))).await.expect("the configured token starts a new chain");
    let stored = stored_refresh_token(&store).await.expect("store").expect("new chain stored");
    assert_ne!(stored, dead);
    assert_eq!(reauthorized.live_refresh_tokens(), vec![stored], "the store follows the new chain");

    // A restart with the same configuration continues the new chain, not its seed.
    let restarted = OAuthRefresh::refresh_token(config, Secret::new("refresh-SECRET-new"), store.clone(), &http);
    let api = http.clone().with_auth(shared(restarted));
    api.send(api.get(me(&server))).await.expect("ok after restart");
    assert_eq!(reauthorized.violations(), 0, "the consumed seed was never sent again");
}

#[tokio::test]
async fn a_token_response_cut_short_is_retried_not_fatal() {
    let authority =
        authority(AuthorityConfig { reuse_grace: Some(Duration::from_secs(30)), ..AuthorityConfig::default() });
    let faults = FaultProfile { cut_bodies: vec![CutBody::nth("/oauth/token", 1)], ..FaultProfile::none() };
    let server = SimServer::start(FeedSim::seeded(1, 3).with_auth(authority.clone()).router(), faults)
        .await
        .expect("server starts");
    let store = credentials().await;
    let http = http();
    let provider = OAuthRefresh::refresh_token(
        oauth_config(&server, ClientAuth::RequestBody),
        Secret::new(INITIAL_REFRESH),
        store.clone(),
        &http,
    );
    let api = http.clone().with_auth(shared(provider));
    api.send(api.get(me(&server))).await.expect("the grant is retried");
    assert_eq!(authority.token_requests(), 2, "one cut answer, one whole");
    assert_eq!(authority.grace_reuses(), 1, "the lost successor was replaced inside the grace");
    assert_eq!(authority.violations(), 0);
    let stored = stored_refresh_token(&store).await.expect("store");
    assert_eq!(stored.map(|t| vec![t]), Some(authority.live_refresh_tokens()));

    // Client credentials carry no refresh token: a cut answer is simply asked again.
    let grants = FaultProfile { cut_bodies: vec![CutBody::nth("/oauth/token", 1)], ..FaultProfile::none() };
    server.set_faults(grants);
    let provider = OAuthRefresh::client_credentials(oauth_config(&server, ClientAuth::Basic), &http);
    let api = http.clone().with_auth(shared(provider));
    api.send(api.get(me(&server))).await.expect("the grant is retried");
    assert_eq!(authority.client_credential_grants(), 2);
}

#[tokio::test]
async fn an_oauth_error_from_the_server_is_bounded_in_messages() {
    use axum::routing::post;
    let huge = format!("{}\u{7}\n{}", "e".repeat(10_000), "f".repeat(10_000));
    let router = axum::Router::new().route(
        "/oauth/token",
        post(move || {
            let huge = huge.clone();
            async move { (axum::http::StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({ "error": huge }))) }
        }),
    );
    let server = SimServer::start(router, FaultProfile::none()).await.expect("server starts");
    let http = http();
    let provider = OAuthRefresh::client_credentials(oauth_config(&server, ClientAuth::Basic), &http);
    let api = http.clone().with_auth(shared(provider));
    let error = api.send(api.get(me(&server))).await.expect_err("refused");
    let message = error.to_string();
    assert!(message.len() < 300, "{} characters: {message:.300}", message.len());
    assert!(message.contains("eeee") && !message.contains('\n') && !message.contains('\u{7}'), "{message}");
}

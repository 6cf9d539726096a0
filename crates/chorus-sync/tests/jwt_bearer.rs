//! The JWT bearer grant and token-response fields against the simulator's
//! `TokenAuthority` over real loopback HTTP: a fresh assertion for every token, a
//! token without `expires_in` (nor `token_type`) used until a 401 and then renewed
//! once, `token_field` reading `instance_url`, and refusals answered as Salesforce does.

use std::sync::Arc;
use std::time::Duration;

use chorus_sim::token::{JWT_TEST_PRIVATE_KEY_PEM, JWT_TEST_PUBLIC_KEY_PEM};
use chorus_sim::{
    AuthorityConfig, CutBody, CutForm, ErrorBurst, FaultProfile, FeedSim, JwtGrantConfig, SimServer, TokenAuthority,
    Trigger, WrongShape,
};
use chorus_sync::auth::{JwtAssertion, JwtBearerConfig};
use chorus_sync::{ClientAuth, ConnectorError, HttpClient, HttpPolicy, HttpStack, OAuthConfig, OAuthRefresh};
use url::Url;

const LOGIN: &str = "https://login.salesforce.com";
const USER: &str = "integration@acme.example";

fn http() -> HttpClient {
    let policy = HttpPolicy { min_backoff: Duration::from_millis(20), ..HttpPolicy::default() };
    HttpStack::new().expect("stack builds").client("jwt-test", policy)
}

fn salesforce_like(max_uses: Option<u64>) -> TokenAuthority {
    let mut extra = serde_json::Map::new();
    extra.insert("instance_url".into(), "http://127.0.0.1:9/instance".into());
    extra.insert("issued_at".into(), "1278448832702".into());
    TokenAuthority::new(AuthorityConfig {
        jwt: Some(JwtGrantConfig::test_key(LOGIN, USER)),
        extra_fields: extra,
        omit_expires_in: true,
        omit_token_type: true,
        max_uses,
        ..AuthorityConfig::default()
    })
}

fn provider(server: &SimServer, http: &HttpClient, subject: &str, audience: &str) -> OAuthRefresh {
    let token_url = Url::parse(&format!("{}/oauth/token", server.url())).expect("url");
    let assertion =
        JwtAssertion::new("auth.private_key", JWT_TEST_PRIVATE_KEY_PEM.as_bytes(), "sim-client", subject, audience)
            .expect("test key");
    let config = OAuthConfig {
        token_url,
        client_id: "sim-client".into(),
        client_secret: None,
        client_auth: ClientAuth::RequestBody,
        scopes: vec![],
    };
    OAuthRefresh::jwt_bearer(config, assertion, http)
}

fn me(server: &SimServer) -> Url {
    Url::parse(&format!("{}/api/me", server.url())).expect("url")
}

#[tokio::test]
async fn a_token_without_expiry_is_used_until_a_401_then_a_new_assertion_is_signed() {
    let authority = salesforce_like(Some(3));
    let feed = FeedSim::seeded(1, 3).with_auth(authority.clone());
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    let http = http();
    let oauth = Arc::new(provider(&server, &http, USER, LOGIN));
    let api = http.clone().with_auth(oauth.clone());
    for _ in 0..3 {
        api.send(api.get(me(&server))).await.expect("the first token serves three calls");
    }
    assert_eq!(authority.jwt_grants(), 1, "no expires_in: no proactive renewal");
    for _ in 0..3 {
        api.send(api.get(me(&server))).await.expect("a 401 renews the token once");
    }
    assert_eq!(authority.jwt_grants(), 2);
    assert_eq!(authority.jwt_rejections(), Vec::<&str>::new());
    let unauthorized = server.requests().iter().filter(|r| r.status == Some(401)).count();
    assert_eq!(unauthorized, 1);
}

#[tokio::test]
async fn token_fields_are_read_and_a_token_is_obtained_first_when_none_is_held() {
    let authority = salesforce_like(None);
    let server = SimServer::start(authority.router(), FaultProfile::none()).await.expect("server starts");
    let oauth = provider(&server, &http(), USER, LOGIN);
    assert_eq!(oauth.token_field("instance_url").await.expect("grant"), Some("http://127.0.0.1:9/instance".into()));
    assert_eq!(oauth.token_field("issued_at").await.expect("held"), Some("1278448832702".into()));
    assert_eq!(oauth.token_field("signature").await.expect("held"), None);
    assert_eq!(authority.jwt_grants(), 1, "the second read uses the token held");
}

/// The JWT grant parses its own token responses (`oauth2` does not speak it): an answer
/// cut short, empty, an HTML page or a 503 must be asked again with a new assertion, not
/// fail the run; only a whole JSON answer of the wrong shape is final.
#[tokio::test]
async fn a_token_response_cut_short_or_a_503_is_retried_and_a_wrong_shape_is_not() {
    for form in [CutForm::Half, CutForm::Empty, CutForm::NotJson] {
        let authority = salesforce_like(None);
        let cut = CutBody { path_prefix: "/oauth/token".into(), when: Trigger::Nth(1), form };
        let faults = FaultProfile { cut_bodies: vec![cut], ..FaultProfile::none() };
        let server = SimServer::start(authority.router(), faults).await.expect("server starts");
        let oauth = provider(&server, &http(), USER, LOGIN);
        let instance = oauth.token_field("instance_url").await.unwrap_or_else(|e| panic!("{form:?}: {e}"));
        assert_eq!(instance.as_deref(), Some("http://127.0.0.1:9/instance"), "{form:?}");
        assert_eq!(server.faults().cut_bodies_served(), [1], "{form:?}: the cut was served");
        assert_eq!((authority.token_requests(), authority.jwt_grants()), (2, 2), "{form:?}: asked again once");
    }

    let authority = salesforce_like(None);
    let faults = FaultProfile {
        scope: Some("/oauth/token".into()),
        error_burst: Some(ErrorBurst { after_n: 0, len: 1, status: 503 }),
        ..FaultProfile::none()
    };
    let server = SimServer::start(authority.router(), faults).await.expect("server starts");
    let oauth = provider(&server, &http(), USER, LOGIN);
    assert!(oauth.token_field("instance_url").await.expect("a 503 is retried").is_some());
    assert_eq!(authority.jwt_grants(), 1, "the 503 never reached the authority");

    let authority = salesforce_like(None);
    let faults = FaultProfile {
        wrong_shape: Some(WrongShape { path_prefix: "/oauth/token".into(), nth: 1 }),
        ..FaultProfile::none()
    };
    let server = SimServer::start(authority.router(), faults).await.expect("server starts");
    let error = provider(&server, &http(), USER, LOGIN).token_field("instance_url").await.expect_err("wrong shape");
    assert!(!error.is_retryable(), "{error:?}");
    assert!(!error.to_string().contains("sim-access-"), "no token in the message: {error}");
    assert_eq!(authority.token_requests(), 1, "a whole answer of the wrong shape is not asked again");
}

#[tokio::test]
async fn refused_assertions_are_auth_errors_without_secrets() {
    let authority = salesforce_like(None);
    let server = SimServer::start(authority.router(), FaultProfile::none()).await.expect("server starts");
    let http = http();
    for (subject, audience, description) in [
        ("stranger@acme.example", LOGIN, "user hasn't approved this consumer"),
        (USER, "https://test.salesforce.com", "audience is invalid"),
    ] {
        let oauth = provider(&server, &http, subject, audience);
        let error = oauth.token_field("instance_url").await.expect_err("refused");
        assert!(matches!(error, ConnectorError::Auth { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("invalid_grant"), "{message}");
        assert!(!message.contains("eyJ"), "no assertion in the message: {message}");
        assert_eq!(authority.jwt_rejections().last().copied(), Some(description));
    }
    assert_eq!(authority.jwt_grants(), 0);
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_is_refused() {
    // The authority knows only a public key that is not the test key's.
    let authority = TokenAuthority::new(AuthorityConfig {
        jwt: Some(JwtGrantConfig {
            public_key_pem: OTHER_PUBLIC_KEY.into(),
            audience: LOGIN.into(),
            usernames: vec![USER.into()],
        }),
        ..AuthorityConfig::default()
    });
    assert_ne!(OTHER_PUBLIC_KEY, JWT_TEST_PUBLIC_KEY_PEM);
    let server = SimServer::start(authority.router(), FaultProfile::none()).await.expect("server starts");
    let error = provider(&server, &http(), USER, LOGIN).token_field("instance_url").await.expect_err("refused");
    assert!(matches!(error, ConnectorError::Auth { .. }), "{error:?}");
    assert_eq!(authority.jwt_rejections(), ["invalid assertion"]);
}

#[tokio::test]
async fn the_config_type_builds_the_provider_with_the_login_url_as_audience() {
    let config: JwtBearerConfig = serde_json::from_value(serde_json::json!({
        "client_id": "sim-client", "username": USER, "private_key": JWT_TEST_PRIVATE_KEY_PEM
    }))
    .expect("parses");
    config.validate("auth", false).expect("valid");
    let url = Url::parse("https://login.salesforce.com/services/oauth2/token").expect("url");
    assert_eq!(config.assertion(&url).expect("assertion").audience(), LOGIN);
    let debug = format!("{config:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
}

/// A public key of another pair (generated for this test; its private half is gone).
const OTHER_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwJdwzGazizfjFwdTncs5
h5+Hw+xQWpzh6/TxP79aAH0RjykPB/t5jFEepgQvZgboM8QRP23JmJWAqxAtG8e0
CgvK1NATw+Vx0OK+nUREjbANFSqXzbZQjORarmFeWj3DeumJuWKwqNHl+1jdYeU5
UfD/un0UzFmJxL1VDRBpafe3cS0byU7TkSUwzSrtmVa6FxOyaRycRvmyRwhh4Gs9
jQH2erykya3fw2sO1XQg6xWyepbJxCTRAkuqxc8qwuHYsam4K5b0/nbs5I+O3kFY
HC+f47bwQHs2fzREnK5IUyRwGUHkuPIHxKXUczH0lD2uF5mu3ywkTJbQWkKxJaqR
4QIDAQAB
-----END PUBLIC KEY-----
";

//! `check` against the simulator with each auth method, and with bad credentials.

mod support;

use chorus_connector_zendesk::ZendeskConnector;
use chorus_sim::zendesk::{ZendeskSim, ZendeskSimConfig};
use chorus_sim::{AuthSeen, FaultProfile, SimServer};
use chorus_sync::connector::{DynConnector, Factory};
use chorus_sync::http::HttpPolicy;
use chorus_sync::ConnectorError;

use support::{BoxResult, TestResult};

async fn build(dir: &tempfile::TempDir, url: &str, auth: serde_json::Value) -> BoxResult<Box<dyn DynConnector>> {
    let store = support::file_store(dir, "auth.db").await?;
    let settings = serde_json::json!({ "base_url": url, "auth": auth });
    support::build(&settings, &store, HttpPolicy::default())
}

#[tokio::test]
async fn check_works_with_email_token_and_oauth_and_refuses_bad_credentials() -> TestResult {
    let sim = ZendeskSim::seeded(3);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let config = ZendeskSimConfig::default();
    let dir = tempfile::tempdir()?;

    let url = server.url();
    let basic = build(&dir, &url, support::api_token_auth(&config)).await?;
    assert_eq!(basic.check().await?, format!("Sim Agent <{}>", config.email));
    let bearer = build(&dir, &url, serde_json::json!({"type": "bearer", "token": config.oauth_token})).await?;
    assert!(bearer.check().await.is_ok());
    let auths: Vec<AuthSeen> = server.requests().iter().map(|r| r.auth).collect();
    assert_eq!(auths, [AuthSeen::Basic, AuthSeen::Bearer]);

    let wrong = serde_json::json!({"type": "basic", "email": config.email, "api_token": "nope"});
    let wrong = build(&dir, &url, wrong).await?;
    let error = wrong.check().await.err().ok_or("a wrong token is refused")?;
    assert!(matches!(error, ConnectorError::Auth { .. }), "{error}");
    assert!(!error.to_string().contains("nope"), "no secret in the message: {error}");
    Ok(())
}

#[test]
fn settings_are_validated_without_io() {
    let factory = Factory::<ZendeskConnector>::boxed();
    let auth = serde_json::json!({"type": "bearer", "token": "t"});
    let local = serde_json::json!({"base_url": "http://127.0.0.1:1", "auth": auth});
    assert!(factory.validate(&local, false).is_err(), "plain-HTTP loopback needs allow_insecure_endpoints");
    assert!(factory.validate(&local, true).is_ok());
    let typo = serde_json::json!({"base_url": "https://acme.zendesk.com", "auth": auth, "comment": "all"});
    assert!(factory.validate(&typo, false).is_err(), "unknown keys are refused");
    assert_eq!(factory.kind(), "zendesk");
}

/// Zendesk's expiring OAuth tokens (2026): access tokens die mid-run (after a few uses
/// here), the refresh token rotates on every grant. The sync completes in one run, the
/// newest refresh token is what the credential store holds, and no rotated-out refresh
/// token is ever presented again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_access_tokens_expiring_mid_run_rotates_and_completes() -> TestResult {
    use std::time::Duration;

    use chorus_sim::AuthorityConfig;
    use chorus_store::RunStatus;
    use chorus_sync::connector::Credentials;

    let authority =
        AuthorityConfig { max_uses: Some(8), access_ttl: Duration::from_secs(1800), ..AuthorityConfig::default() };
    let config = ZendeskSimConfig {
        oauth_refresh: Some(authority.clone()),
        incremental_limit: 1_000,
        incremental_window: Duration::from_millis(100),
        ..ZendeskSimConfig::default()
    };
    let sim = ZendeskSim::new(config, support::clock()?);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let store = support::memory_store().await?;
    let settings = serde_json::json!({
        "base_url": server.url(),
        "auth": {"type": "oauth_refresh", "client_id": authority.client_id,
                 "client_secret": authority.client_secret, "refresh_token": authority.initial_refresh_token},
        "page_size": 5,
        "rate_limit": {"requests_per_minute": 60000, "incremental_requests": 1000, "incremental_window_secs": 0.1},
    });
    let connector = support::build(&settings, &store, support::fast_policy(600_000, 10_000))?;
    let engine = support::engine(&store);
    let outcome = support::incremental(&engine, connector.as_ref()).await?.outcome;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    let authority_state = sim.authority().ok_or("an authority")?;
    assert!(authority_state.refreshes() >= 3, "{} refreshes", authority_state.refreshes());
    assert_eq!(authority_state.violations(), 0, "a rotated-out refresh token was presented again");
    let credentials = Credentials::new(support::ID, std::sync::Arc::clone(&store));
    let stored = chorus_sync::auth::stored_refresh_token(&credentials).await?;
    assert_eq!(stored.map(|t| vec![t]), Some(authority_state.live_refresh_tokens()), "the newest token is stored");
    Ok(())
}

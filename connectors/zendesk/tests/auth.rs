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
    let bearer = build(&dir, &url, serde_json::json!({"method": "oauth", "access_token": config.oauth_token})).await?;
    assert!(bearer.check().await.is_ok());
    let auths: Vec<AuthSeen> = server.requests().iter().map(|r| r.auth).collect();
    assert_eq!(auths, [AuthSeen::Basic, AuthSeen::Bearer]);

    let wrong = serde_json::json!({"method": "api_token", "email": config.email, "token": "nope"});
    let wrong = build(&dir, &url, wrong).await?;
    let error = wrong.check().await.err().ok_or("a wrong token is refused")?;
    assert!(matches!(error, ConnectorError::Auth { .. }), "{error}");
    assert!(!error.to_string().contains("nope"), "no secret in the message: {error}");
    Ok(())
}

#[test]
fn settings_are_validated_without_io() {
    let factory = Factory::<ZendeskConnector>::boxed();
    let auth = serde_json::json!({"method": "oauth", "access_token": "t"});
    let local = serde_json::json!({"base_url": "http://127.0.0.1:1", "auth": auth});
    assert!(factory.validate(&local, false).is_err(), "plain-HTTP loopback needs allow_insecure_endpoints");
    assert!(factory.validate(&local, true).is_ok());
    let typo = serde_json::json!({"base_url": "https://acme.zendesk.com", "auth": auth, "comment": "all"});
    assert!(factory.validate(&typo, false).is_err(), "unknown keys are refused");
    assert_eq!(factory.kind(), "zendesk");
}

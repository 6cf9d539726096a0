//! Every route × role × method: the access table is what this test expects, and the
//! server enforces it. A route added without a line here fails the first test.

mod support;

use axum::http::{Method, StatusCode};
use chorus_server::access::{Access, ROUTES};
use chorus_store::Role;
use support::TestApp;

/// The access every route must have: `open`, `signed` (webhooks) or the least role.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "open"),
    ("GET", "/readyz", "open"),
    ("GET", "/metrics", "viewer"),
    ("GET", "/api/v1/openapi.json", "viewer"),
    ("GET", "/api/v1/search", "viewer"),
    ("GET", "/api/v1/items/{id}", "viewer"),
    ("GET", "/api/v1/accounts", "viewer"),
    ("GET", "/api/v1/accounts/{id}", "viewer"),
    ("POST", "/api/v1/accounts/{id}/merge", "csm"),
    ("POST", "/api/v1/accounts/{id}/split", "csm"),
    ("POST", "/api/v1/items/{id}/account", "csm"),
    ("GET", "/api/v1/triage", "viewer"),
    ("GET", "/api/v1/requests", "viewer"),
    ("POST", "/api/v1/requests", "pm"),
    ("GET", "/api/v1/requests/{id}", "viewer"),
    ("PATCH", "/api/v1/requests/{id}", "pm"),
    ("POST", "/api/v1/requests/{id}/merge", "pm"),
    ("POST", "/api/v1/requests/{id}/items", "pm"),
    ("DELETE", "/api/v1/requests/{id}/items/{item}", "pm"),
    ("POST", "/api/v1/requests/{id}/ship", "pm"),
    ("GET", "/api/v1/requests/{id}/suggestions", "viewer"),
    ("POST", "/api/v1/requests/{id}/suggestions/{item}/accept", "pm"),
    ("POST", "/api/v1/requests/{id}/suggestions/{item}/reject", "pm"),
    ("GET", "/api/v1/items/{id}/likely-requests", "viewer"),
    ("GET", "/api/v1/connectors", "viewer"),
    ("GET", "/api/v1/connectors/{id}", "viewer"),
    ("GET", "/api/v1/connectors/{id}/runs", "viewer"),
    ("POST", "/api/v1/connectors/{id}/sync", "admin"),
    ("GET", "/api/v1/runs", "viewer"),
    ("GET", "/api/v1/tokens", "admin"),
    ("POST", "/api/v1/tokens", "admin"),
    ("DELETE", "/api/v1/tokens/{id}", "admin"),
    ("POST", "/webhooks/slack/{connector}", "signed"),
    ("POST", "/webhooks/zendesk/{connector}", "signed"),
    ("POST", "/webhooks/jira/{connector}", "signed"),
];

const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

fn declared(access: Access) -> String {
    match access {
        Access::Open => "open".into(),
        Access::Signed => "signed".into(),
        Access::Token(role) => role.as_str().into(),
    }
}

#[test]
fn every_route_declares_the_expected_access() {
    let table: Vec<(String, String, String)> =
        ROUTES.iter().map(|r| (r.method.to_string(), r.path.to_owned(), declared(r.access))).collect();
    let expected: Vec<(String, String, String)> =
        EXPECTED.iter().map(|(m, p, a)| ((*m).to_owned(), (*p).to_owned(), (*a).to_owned())).collect();
    assert_eq!(table, expected, "the access table changed: update EXPECTED deliberately");
}

/// A concrete URI for a route's path.
fn uri(path: &str) -> String {
    path.replace("{id}", "999999").replace("{item}", "999999").replace("{connector}", "none")
}

#[tokio::test]
async fn every_route_role_and_method_is_allowed_or_denied_as_declared() {
    let app = TestApp::new().await;
    let mut checked = 0;
    for route in ROUTES {
        let path_methods: Vec<&Method> = ROUTES.iter().filter(|r| r.path == route.path).map(|r| &r.method).collect();
        for method in METHODS {
            if route.method != method && path_methods.contains(&&method) {
                continue; // that method is its own line of the table
            }
            let callers: Vec<Option<Role>> = std::iter::once(None).chain(Role::ALL.into_iter().map(Some)).collect();
            for caller in callers {
                let token = caller.map(|role| app.token(role).to_owned());
                let (status, body) = app.send(method.clone(), &uri(route.path), token.as_deref(), None).await;
                let who = caller.map_or("no token", Role::as_str);
                let case = format!("{method} {} as {who}: {status} {body}", route.path);
                checked += 1;
                if route.method != method {
                    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{case}");
                    continue;
                }
                match (route.access, caller) {
                    (Access::Open | Access::Signed, _) => {
                        assert!(![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status), "{case}")
                    }
                    (Access::Token(_), None) => assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}"),
                    (Access::Token(required), Some(role)) => {
                        let allowed = chorus_server::access::allows(role, required);
                        if allowed {
                            assert!(![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status), "{case}");
                            assert!(!status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE, "{case}");
                        } else {
                            assert_eq!(status, StatusCode::FORBIDDEN, "{case}");
                        }
                    }
                }
            }
        }
    }
    assert!(checked >= ROUTES.len() * 5, "walked {checked} cases");
}

#[test]
fn roles_nest_as_documented() {
    use chorus_server::access::allows;
    for role in Role::ALL {
        assert!(allows(role, Role::Viewer), "{role} reads");
        assert!(allows(Role::Admin, role), "admin does what {role} does");
    }
    assert!(!allows(Role::Pm, Role::Csm) && !allows(Role::Csm, Role::Pm), "pm and csm are siblings");
    assert!(!allows(Role::Viewer, Role::Pm) && !allows(Role::Pm, Role::Admin) && !allows(Role::Csm, Role::Admin));
}

#[tokio::test]
async fn malformed_unknown_and_revoked_tokens_are_refused() {
    let app = TestApp::new().await;
    let uri = "/api/v1/runs";
    let (status, _) = app.send(Method::GET, uri, Some("not-a-token"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let unknown = format!("chorus_{}", "A".repeat(43));
    let (status, body) = app.send(Method::GET, uri, Some(&unknown), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("unknown or revoked"), "{body}");
    let viewer = app.store.api_tokens().await.expect("list").into_iter().find(|t| t.role == Role::Viewer);
    app.store.revoke_api_token(viewer.expect("viewer token").id).await.expect("revoke");
    let (status, _) = app.send(Method::GET, uri, Some(app.token(Role::Viewer)), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked token stops at once");
}

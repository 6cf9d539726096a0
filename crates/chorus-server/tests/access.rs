//! Every route × caller × method: the access table is what this test expects, and the
//! server enforces it, for API tokens and web sessions alike. A route added without a
//! line here fails the first test.

mod support;

use axum::http::{Method, StatusCode};
use std::collections::BTreeMap;

use chorus_server::access::{Access, ROUTES};
use chorus_server::web::WebSettings;
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
    ("GET", "/login", "open"),
    ("POST", "/login", "open"),
    ("POST", "/logout", "session:viewer"),
    ("GET", "/assets/chorus.css", "open"),
    ("GET", "/assets/icon.svg", "open"),
    ("GET", "/", "session:viewer"),
    ("GET", "/requests", "session:viewer"),
    ("GET", "/requests/{id}", "session:viewer"),
    ("POST", "/requests/{id}/status", "session:pm"),
    ("GET", "/accounts/{id}", "session:viewer"),
    ("GET", "/triage", "session:viewer"),
    ("POST", "/triage/{item}/account", "session:csm"),
    ("POST", "/triage/{item}/request", "session:pm"),
    ("GET", "/connectors", "session:viewer"),
    ("POST", "/connectors/{id}/sync", "session:admin"),
];

const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

fn declared(access: Access) -> String {
    match access {
        Access::Open => "open".into(),
        Access::Signed => "signed".into(),
        Access::Token(role) => role.as_str().into(),
        Access::Session(role) => format!("session:{role}"),
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

/// Who calls: nobody, a role's bearer token, or a role's signed-in browser.
#[derive(Clone, Copy)]
enum Who {
    Nobody,
    Bearer(Role),
    Browser(Role),
}

#[tokio::test]
async fn every_route_role_and_method_is_allowed_or_denied_as_declared() {
    let web = WebSettings { logins_per_minute: std::num::NonZeroU32::MAX, ..WebSettings::default() };
    let app = TestApp::with_web(web).await;
    let mut browsers = BTreeMap::new();
    for role in Role::ALL {
        browsers.insert(role, app.sign_in(role).await);
    }
    let callers: Vec<Who> = std::iter::once(Who::Nobody)
        .chain(Role::ALL.into_iter().map(Who::Bearer))
        .chain(Role::ALL.into_iter().map(Who::Browser))
        .collect();
    let mut checked = 0;
    for route in ROUTES {
        let path_methods: Vec<&Method> = ROUTES.iter().filter(|r| r.path == route.path).map(|r| &r.method).collect();
        for method in METHODS {
            if route.method != method && path_methods.contains(&&method) {
                continue; // that method is its own line of the table
            }
            for caller in &callers {
                let (status, body, who) = match *caller {
                    Who::Nobody => {
                        let (status, body) = app.send(method.clone(), &uri(route.path), None, None).await;
                        (status, body, "no one".to_owned())
                    }
                    Who::Bearer(role) => {
                        let (status, body) =
                            app.send(method.clone(), &uri(route.path), Some(app.token(role)), None).await;
                        (status, body, format!("{role}'s token"))
                    }
                    Who::Browser(role) => {
                        let browser = &browsers[&role];
                        let form = format!("csrf={}", browser.csrf);
                        let answer =
                            app.web(method.clone(), &uri(route.path), Some(&browser.cookie), Some(&form)).await;
                        (answer.status, answer.body, format!("{role}'s browser"))
                    }
                };
                let case = format!("{method} {} as {who}: {status} {body}", route.path);
                checked += 1;
                if route.method != method {
                    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{case}");
                    continue;
                }
                let passed = |status: StatusCode| {
                    ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status)
                        && (!status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE)
                };
                match (route.access, *caller) {
                    (Access::Open | Access::Signed, _) => {
                        assert!(![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status), "{case}")
                    }
                    // A session cookie never opens the API.
                    (Access::Token(_), Who::Nobody | Who::Browser(_)) => {
                        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}")
                    }
                    (Access::Token(required), Who::Bearer(role)) => {
                        if chorus_server::access::allows(role, required) {
                            assert!(passed(status), "{case}");
                        } else {
                            assert_eq!(status, StatusCode::FORBIDDEN, "{case}");
                        }
                    }
                    // A bearer token never opens a page: reads go to the login form.
                    (Access::Session(_), Who::Nobody | Who::Bearer(_)) => {
                        if method == Method::GET {
                            assert_eq!(status, StatusCode::SEE_OTHER, "{case}");
                        } else {
                            assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}");
                        }
                    }
                    (Access::Session(required), Who::Browser(role)) => {
                        if chorus_server::access::allows(role, required) {
                            assert!(passed(status), "{case}");
                        } else {
                            assert_eq!(status, StatusCode::FORBIDDEN, "{case}");
                        }
                        if route.path == "/logout" {
                            browsers.insert(role, app.sign_in(role).await);
                        }
                    }
                }
            }
        }
    }
    assert!(checked >= ROUTES.len() * callers.len(), "walked {checked} cases");
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

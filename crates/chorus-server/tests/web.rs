//! The web UI in-process: token login and logout, the session cookie, CSRF, the login
//! rate limit, session expiry and revocation, roles on forms, the security headers on
//! every page, and hostile source text rendered as text.

mod support;

use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use chorus_core::Kind;
use chorus_server::web::headers::CONTENT_SECURITY_POLICY;
use chorus_server::web::WebSettings;
use chorus_store::Role;
use support::{item, org, triage_item, TestApp};

async fn account_id(app: &TestApp, name: &str) -> i64 {
    let accounts = app.store.accounts(chorus_store::IdPage::first(50)).await.expect("accounts");
    accounts.into_iter().find(|a| a.name == name).expect("seeded account").id
}

async fn in_triage(app: &TestApp, item: i64) -> bool {
    app.store.triage(None, 100).await.expect("triage").iter().any(|t| t.id == item)
}

#[tokio::test]
async fn a_token_login_opens_a_session_in_a_strict_cookie() {
    let app = TestApp::new().await;
    let form = format!("token={}", app.token(Role::Pm));
    let answer = app.web(Method::POST, "/login", None, Some(&form)).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.header("location"), "/");
    let cookie = answer.header("set-cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains(app.token(Role::Pm)), "the cookie is a session id, not the token");
    let session = cookie.split(';').next().expect("name=value");
    let home = app.web(Method::GET, "/", Some(session), None).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains(r#"<span class="role">pm</span>"#), "the page names the session's role");
    let signed_out = app.web(Method::GET, "/", None, None).await;
    assert_eq!((signed_out.status, signed_out.header("location")), (StatusCode::SEE_OTHER, "/login"));
}

#[tokio::test]
async fn signing_in_returns_to_the_page_asked_for_and_only_to_this_site() {
    let app = TestApp::new().await;
    let asked = app.web(Method::GET, "/?q=sso%20login&kind=bug", None, None).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    let login = asked.header("location").to_owned();
    assert_eq!(login, "/login?next=%2F%3Fq%3Dsso%2520login%26kind%3Dbug");
    let form = app.web(Method::GET, &login, None, None).await;
    assert!(
        form.body.contains(r#"name="next" value="/?q=sso%20login&amp;kind=bug""#),
        "the form carries the page: {}",
        form.body
    );
    let token = app.token(Role::Viewer);
    let next = "%2F%3Fq%3Dsso%2520login%26kind%3Dbug";
    let answer = app.web(Method::POST, "/login", None, Some(&format!("token={token}&next={next}"))).await;
    assert_eq!((answer.status, answer.header("location")), (StatusCode::SEE_OTHER, "/?q=sso%20login&kind=bug"));
    let wrong = app.web(Method::POST, "/login", None, Some(&format!("token=nope&next={next}"))).await;
    assert!(wrong.body.contains(r#"name="next""#), "a failed attempt keeps the page to return to");

    for elsewhere in ["%2F%2Fevil.example%2F", "https%3A%2F%2Fevil.example%2F", "%2F%5Cevil.example", "%2Flogout"] {
        let answer = app.web(Method::POST, "/login", None, Some(&format!("token={token}&next={elsewhere}"))).await;
        assert_eq!((answer.status, answer.header("location")), (StatusCode::SEE_OTHER, "/"), "{elsewhere}");
        let form = app.web(Method::GET, &format!("/login?next={elsewhere}"), None, None).await;
        assert!(!form.body.contains(r#"name="next""#), "{elsewhere}: {}", form.body);
    }
}

#[tokio::test]
async fn bad_tokens_open_no_session() {
    let app = TestApp::new().await;
    let unknown = format!("token=chorus_{}", "A".repeat(43));
    for (form, status, says) in [
        (unknown.as_str(), StatusCode::UNAUTHORIZED, "unknown or revoked"),
        ("token=not-a-token", StatusCode::UNAUTHORIZED, "not a Chorus API token"),
        ("token=", StatusCode::BAD_REQUEST, "paste an API token"),
    ] {
        let answer = app.web(Method::POST, "/login", None, Some(form)).await;
        assert_eq!(answer.status, status, "{form}: {}", answer.body);
        assert!(answer.body.contains(says), "{form}: {}", answer.body);
        assert!(answer.headers.get("set-cookie").is_none(), "{form}");
    }
    let forged = app.web(Method::GET, "/", Some(&format!("chorus_session={}", "B".repeat(43))), None).await;
    assert_eq!(forged.status, StatusCode::SEE_OTHER, "an id the store does not know is no session");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::new().await;
    let browser = app.sign_in(Role::Viewer).await;
    let form = format!("csrf={}", browser.csrf);
    let answer = app.web(Method::POST, "/logout", Some(&browser.cookie), Some(&form)).await;
    assert_eq!((answer.status, answer.header("location")), (StatusCode::SEE_OTHER, "/login"));
    assert!(answer.header("set-cookie").contains("Max-Age=0"));
    let after = app.web(Method::GET, "/requests", Some(&browser.cookie), None).await;
    assert_eq!(
        (after.status, after.header("location")),
        (StatusCode::SEE_OTHER, "/login?next=%2Frequests"),
        "the old cookie is dead"
    );
}

#[tokio::test]
async fn a_form_without_the_right_csrf_token_is_refused() {
    let app = TestApp::new().await;
    let csm = app.sign_in(Role::Csm).await;
    let other = app.sign_in(Role::Csm).await;
    let (item, acme) = (triage_item(&app).await, account_id(&app, "Acme Corp").await);
    let uri = format!("/triage/{item}/account");
    for form in [
        format!("account={acme}"),
        format!("account={acme}&csrf="),
        format!("account={acme}&csrf=wrong"),
        format!("account={acme}&csrf={}", other.csrf),
    ] {
        let answer = app.web(Method::POST, &uri, Some(&csm.cookie), Some(&form)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{form}: {}", answer.body);
        assert!(answer.body.contains("CSRF"), "{}", answer.body);
        assert!(in_triage(&app, item).await, "nothing was linked: {form}");
    }
    let answer =
        app.web(Method::POST, &uri, Some(&csm.cookie), Some(&format!("account={acme}&csrf={}", csm.csrf))).await;
    assert_eq!((answer.status, answer.header("location")), (StatusCode::SEE_OTHER, &*format!("/triage?linked={item}")));
    assert!(!in_triage(&app, item).await, "the item left the queue");
    let linked = app.store.items_by_id(&[item], chorus_store::Raw::Omit).await.expect("read");
    assert_eq!(linked[0].account_id, Some(acme));
}

#[tokio::test]
async fn a_pm_adds_a_triage_item_to_a_request() {
    let app = TestApp::new().await;
    let pm = app.sign_in(Role::Pm).await;
    let item = triage_item(&app).await;
    let request = app
        .store
        .create_request(&chorus_store::NewRequest {
            title: "SSO".into(),
            description: String::new(),
            anchor_item_id: None,
        })
        .await
        .expect("request");
    let page = app.web(Method::GET, "/triage", Some(&pm.cookie), None).await;
    assert!(page.body.contains(&format!(r#"action="/triage/{item}/request""#)), "a pm gets the request form");
    assert!(!page.body.contains(&format!(r#"action="/triage/{item}/account""#)), "but not the account form");
    let form = format!("request={}&csrf={}", request.id, pm.csrf);
    let answer = app.web(Method::POST, &format!("/triage/{item}/request"), Some(&pm.cookie), Some(&form)).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let links = app.store.request_links(request.id).await.expect("links");
    assert_eq!(links.iter().map(|l| l.item_id).collect::<Vec<_>>(), [item]);
    let empty = format!("request=&csrf={}", pm.csrf);
    let answer = app.web(Method::POST, &format!("/triage/{item}/request"), Some(&pm.cookie), Some(&empty)).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "no request picked");
}

#[tokio::test]
async fn a_viewer_gets_no_forms_and_is_refused_if_it_posts_anyway() {
    let app = TestApp::new().await;
    let viewer = app.sign_in(Role::Viewer).await;
    let item = triage_item(&app).await;
    let page = app.web(Method::GET, "/triage", Some(&viewer.cookie), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Login loop"), "a viewer sees the queue");
    assert!(!page.body.contains(r#"action="/triage/"#), "without any linking form");
    let connectors = app.web(Method::GET, "/connectors", Some(&viewer.cookie), None).await;
    assert!(!connectors.body.contains("Sync now"));
    let acme = account_id(&app, "Acme Corp").await;
    let form = format!("account={acme}&csrf={}", viewer.csrf);
    let answer = app.web(Method::POST, &format!("/triage/{item}/account"), Some(&viewer.cookie), Some(&form)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(in_triage(&app, item).await);
}

#[tokio::test]
async fn logins_are_rate_limited_per_client() {
    let web = WebSettings { logins_per_minute: NonZeroU32::new(3).expect("non-zero"), ..WebSettings::default() };
    let app = TestApp::with_web(web).await;
    let wrong = format!("token=chorus_{}", "C".repeat(43));
    for _ in 0..3 {
        let answer = app.web(Method::POST, "/login", None, Some(&wrong)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let good = format!("token={}", app.token(Role::Admin));
    let answer = app.web(Method::POST, "/login", None, Some(&good)).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "even a good token waits: {}", answer.body);
    assert_eq!(answer.header("retry-after"), "60");
    assert!(answer.headers.get("set-cookie").is_none());
}

#[tokio::test]
async fn a_session_ends_when_it_expires() {
    let web = WebSettings { session_ttl: Duration::ZERO, ..WebSettings::default() };
    let app = TestApp::with_web(web).await;
    let form = format!("token={}", app.token(Role::Viewer));
    let answer = app.web(Method::POST, "/login", None, Some(&form)).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let cookie = answer.header("set-cookie").split(';').next().expect("cookie").to_owned();
    let page = app.web(Method::GET, "/", Some(&cookie), None).await;
    assert_eq!((page.status, page.header("location")), (StatusCode::SEE_OTHER, "/login"), "expired at once");
}

#[tokio::test]
async fn revoking_the_token_ends_its_sessions() {
    let app = TestApp::new().await;
    let browser = app.sign_in(Role::Pm).await;
    let pm = app.store.api_tokens().await.expect("tokens").into_iter().find(|t| t.role == Role::Pm).expect("pm");
    app.store.revoke_api_token(pm.id).await.expect("revoke");
    let page = app.web(Method::GET, "/requests", Some(&browser.cookie), None).await;
    assert_eq!((page.status, page.header("location")), (StatusCode::SEE_OTHER, "/login?next=%2Frequests"));
}

#[tokio::test]
async fn a_login_posted_from_another_site_is_refused() {
    let app = TestApp::new().await;
    let request = axum::http::Request::post("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(axum::body::Body::from(format!("token={}", app.token(Role::Admin))))
        .expect("request");
    let response = tower::ServiceExt::oneshot(app.app.clone(), request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get("set-cookie").is_none());
}

/// Asserts the page at `uri` answers 200 and shows `text`.
async fn shows(app: &TestApp, cookie: &str, uri: &str, text: &str) {
    let page = app.web(Method::GET, uri, Some(cookie), None).await;
    assert_eq!(page.status, StatusCode::OK, "{uri}");
    assert!(page.body.contains(text), "{uri} should show {text} as text: {}", page.body);
}

const HOSTILE_BODY: &str = "<script>alert('body')</script><img src=x onerror=alert(2)> hostile body";

#[tokio::test]
async fn every_page_has_the_strict_policy_and_renders_hostile_text_as_text() {
    let app = TestApp::with_records(vec![
        org("org-h", "<script>alert('org')</script> Evil Inc", 9_900_000),
        item("h1", Kind::SupportTicket, "<img src=x onerror=alert(1)> hostile title", HOSTILE_BODY, Some("org-h")),
        item("h2", Kind::Bug, "<b onmouseover=alert(3)>unlinked</b> hostile", HOSTILE_BODY, None),
    ])
    .await;
    let request = app
        .store
        .create_request(&chorus_store::NewRequest {
            title: "<script>alert('request')</script> hostile request".into(),
            description: "<iframe src=//evil.example>".into(),
            anchor_item_id: None,
        })
        .await
        .expect("request");
    let h1 = app.store.item_by_external_id("extra", "h1").await.expect("read").expect("synced");
    app.store.link_item_request(h1.id, request.id, chorus_core::LinkProvenance::Manual).await.expect("link");
    let evil = account_id(&app, "<script>alert('org')</script> Evil Inc").await;
    let admin = app.sign_in(Role::Admin).await;
    let pages = [
        "/".to_owned(),
        "/?q=hostile".to_owned(),
        "/requests".to_owned(),
        format!("/requests/{}", request.id),
        format!("/accounts/{evil}"),
        "/triage".to_owned(),
        "/connectors".to_owned(),
        "/requests/424242".to_owned(),
        "/?q=%22unclosed".to_owned(),
    ];
    for uri in &pages {
        let page = app.web(Method::GET, uri, Some(&admin.cookie), None).await;
        assert_eq!(page.header("content-security-policy"), CONTENT_SECURITY_POLICY, "{uri}");
        assert_eq!(page.header("x-content-type-options"), "nosniff", "{uri}");
        assert!(page.header("content-type").starts_with("text/html"), "{uri}");
        let lower = page.body.to_lowercase();
        for tag in ["<script", "<img", "<iframe", "<b onmouseover", " style="] {
            assert!(!lower.contains(tag), "{uri} renders {tag}: {}", page.body);
        }
    }
    shows(&app, &admin.cookie, "/?q=hostile", "&lt;script&gt;alert('body')&lt;/script&gt;").await;
    shows(&app, &admin.cookie, &format!("/requests/{}", request.id), "&lt;script&gt;alert('request')&lt;/script&gt;")
        .await;
    shows(
        &app,
        &admin.cookie,
        &format!("/requests/{}", request.id),
        "&lt;img src=x onerror=alert(1)&gt; hostile title",
    )
    .await;
    shows(&app, &admin.cookie, &format!("/accounts/{evil}"), "&lt;script&gt;alert('org')&lt;/script&gt; Evil Inc")
        .await;
    shows(&app, &admin.cookie, "/triage", "&lt;b onmouseover=alert(3)&gt;unlinked&lt;/b&gt;").await;
    shows(&app, &admin.cookie, "/requests", "&lt;script&gt;alert('request')&lt;/script&gt;").await;
    for uri in ["/login", "/assets/chorus.css", "/api/v1/search?q=x"] {
        let answer = app.web(Method::GET, uri, None, None).await;
        assert_eq!(answer.header("content-security-policy"), CONTENT_SECURITY_POLICY, "{uri}");
    }
}

#[tokio::test]
async fn the_pages_show_what_the_api_answers() {
    let app = TestApp::new().await;
    let browser = app.sign_in(Role::Viewer).await;
    let search = app.web(Method::GET, "/?q=export", Some(&browser.cookie), None).await;
    assert!(search.body.contains(r#"<p class="muted" id="total">2 matching items</p>"#), "{}", search.body);
    assert!(search.body.contains("2 accounts"), "reach counts distinct accounts");
    assert!(search.body.contains("<mark>"), "highlights are marked");
    assert!(search.body.contains("/?q=export&amp;kind=bug"), "a facet narrows the search");
    let acme = account_id(&app, "Acme Corp").await;
    let account = app.web(Method::GET, &format!("/accounts/{acme}"), Some(&browser.cookie), None).await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("1,250,000 USD ARR"), "{}", account.body);
    assert!(account.body.contains(r#"id="volume""#), "the volume chart");
    let bad = app.web(Method::GET, "/?q=%22unclosed", Some(&browser.cookie), None).await;
    assert_eq!(bad.status, StatusCode::OK, "a bad query is shown beside the form");
    assert!(bad.body.contains("That search could not run"));
}

#[tokio::test]
async fn a_pm_sets_a_requests_status_and_others_cannot() {
    let app = TestApp::new().await;
    let request = app
        .store
        .create_request(&chorus_store::NewRequest {
            title: "SSO".into(),
            description: String::new(),
            anchor_item_id: None,
        })
        .await
        .expect("request");
    let uri = format!("/requests/{}/status", request.id);
    let (pm, csm, viewer) =
        (app.sign_in(Role::Pm).await, app.sign_in(Role::Csm).await, app.sign_in(Role::Viewer).await);
    let page = app.web(Method::GET, &format!("/requests/{}", request.id), Some(&viewer.cookie), None).await;
    assert!(!page.body.contains(&format!(r#"action="{uri}""#)), "a viewer gets no status form");
    let page = app.web(Method::GET, &format!("/requests/{}", request.id), Some(&pm.cookie), None).await;
    assert!(page.body.contains(&format!(r#"action="{uri}""#)), "a pm does");
    let refused =
        app.web(Method::POST, &uri, Some(&csm.cookie), Some(&format!("status=planned&csrf={}", csm.csrf))).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "a csm does not plan requests");
    let done = app.web(Method::POST, &uri, Some(&pm.cookie), Some(&format!("status=planned&csrf={}", pm.csrf))).await;
    assert_eq!((done.status, done.header("location")), (StatusCode::SEE_OTHER, &*format!("/requests/{}", request.id)));
    let stored = app.store.request(request.id).await.expect("read").expect("request");
    assert_eq!(stored.status, chorus_core::RequestStatus::Planned);
    let bad = app.web(Method::POST, &uri, Some(&pm.cookie), Some(&format!("status=someday&csrf={}", pm.csrf))).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
}

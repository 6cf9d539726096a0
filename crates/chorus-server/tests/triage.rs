//! The triage pickers past the first page of accounts: a find text reaches any account
//! or request, the author's domain pre-selects its account wherever it is in the list,
//! a link keeps the find texts, and a hostile text is only text.

mod support;

use axum::http::{Method, StatusCode};
use chorus_store::{AccountImport, Role};
use support::{triage_item, TestApp};

/// 540 filler accounts, then `last` (so its id is past the first 500); returns its id.
async fn many_accounts_then(app: &TestApp, last: serde_json::Value) -> i64 {
    let mut lines: Vec<serde_json::Value> =
        (1..=540).map(|n| serde_json::json!({ "name": format!("Filler {n:04}") })).collect();
    lines.push(last);
    let imports: Vec<AccountImport> =
        lines.into_iter().map(|line| serde_json::from_value(line).expect("import line")).collect();
    let ids = app.store.import_accounts(&imports).await.expect("import");
    let id = *ids.last().expect("imported");
    assert!(id > 540, "the wanted account is beyond the first 500 ({id})");
    id
}

fn option(id: i64, name: &str) -> String {
    format!(r#"<option value="{id}">{name}</option>"#)
}

#[tokio::test]
async fn an_account_beyond_the_first_500_is_found_by_name() {
    let app = TestApp::new().await;
    let zeta = many_accounts_then(&app, serde_json::json!({ "name": "Zeta Corp" })).await;
    let csm = app.sign_in(Role::Csm).await;

    let page = app.web(Method::GET, "/triage", Some(&csm.cookie), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"name="account_q""#), "a find form");
    assert!(!page.body.contains("Zeta Corp"), "not among the first 500");
    assert!(page.body.contains("find one to reach the rest"), "the page says the list is cut");

    let found = app.web(Method::GET, "/triage?account_q=zeta", Some(&csm.cookie), None).await;
    assert!(found.body.contains(&option(zeta, "Zeta Corp")), "found by a part of its name");
    assert!(!found.body.contains("Filler 0001"), "only what the text finds");
    assert!(found.body.contains(r#"name="account_q" value="zeta""#), "the form keeps the text");

    let many = app.web(Method::GET, "/triage?account_q=filler", Some(&csm.cookie), None).await;
    assert!(many.body.contains("50 of 540 accounts shown: refine the search"), "{}", many.body);

    // The row form carries the find back: the page a link returns to keeps it.
    let item = triage_item(&app).await;
    let form = format!("account={zeta}&account_q=zeta&csrf={}", csm.csrf);
    let answer = app.web(Method::POST, &format!("/triage/{item}/account"), Some(&csm.cookie), Some(&form)).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.header("location"), format!("/triage?account_q=zeta&linked={item}"));
    let linked = app.store.items_by_id(&[item], chorus_store::Raw::Omit).await.expect("read");
    assert_eq!(linked[0].account_id, Some(zeta));

    let (status, body) = app.get("/api/v1/accounts?q=zeta", Role::Viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["accounts"][0]["id"].as_i64(), body["matched"].as_u64()), (Some(zeta), Some(1)));
    assert!(body["next_cursor"].is_null());
    let (status, _) = app.get("/api/v1/accounts?q=zeta&cursor=3", Role::Viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a find is not paged");
    let long = "z".repeat(201);
    let (status, _) = app.get(&format!("/api/v1/accounts?q={long}"), Role::Viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a find text is bounded");
}

#[tokio::test]
async fn the_authors_domain_preselects_its_account_wherever_it_is() {
    let app = TestApp::new().await;
    let item = triage_item(&app).await;
    let customer = many_accounts_then(&app, serde_json::json!({ "name": "Customer Example" })).await;
    // The account learns the author's domain without the item being re-resolved (the
    // store relinks on every write it makes, so only a write behind its back leaves this).
    let pool = sqlx::SqlitePool::connect(&app.database_url()).await.expect("open");
    sqlx::query("INSERT INTO account_domains (account_id, domain, registered) VALUES ($1, 'customer.example', 'customer.example')")
        .bind(customer)
        .execute(&pool)
        .await
        .expect("domain");
    pool.close().await;
    assert!(
        app.store.triage(None, 100).await.expect("triage").iter().any(|t| t.id == item),
        "the item still waits for a person"
    );
    let csm = app.sign_in(Role::Csm).await;
    let page = app.web(Method::GET, "/triage", Some(&csm.cookie), None).await;
    assert!(
        page.body.contains(&format!(r#"<option value="{customer}" selected>Customer Example</option>"#)),
        "pre-selected though beyond the first 500"
    );
    let found = app.web(Method::GET, "/triage?account_q=filler%2000", Some(&csm.cookie), None).await;
    assert!(found.body.contains(&format!(r#"<option value="{customer}" selected>"#)), "and with any find");
}

#[tokio::test]
async fn a_request_is_found_by_title() {
    let app = TestApp::new().await;
    for title in ["SSO redirect loop", "Dark mode", "Export to SAML"] {
        let request =
            chorus_store::NewRequest { title: title.into(), description: String::new(), anchor_item_id: None };
        app.store.create_request(&request).await.expect("request");
    }
    let pm = app.sign_in(Role::Pm).await;
    let all = app.web(Method::GET, "/triage", Some(&pm.cookie), None).await;
    assert!(all.body.contains("Dark mode") && all.body.contains("SSO redirect loop"));
    let found = app.web(Method::GET, "/triage?request_q=sso", Some(&pm.cookie), None).await;
    assert!(found.body.contains(">SSO redirect loop</option>"), "case-insensitive substring of the title");
    assert!(!found.body.contains("Dark mode") && !found.body.contains("Export to SAML"), "only the matches");
    assert!(!found.body.contains(r#"name="account_q""#), "a pm finds no accounts");
    let none = app.web(Method::GET, "/triage?request_q=nothing%20like%20it", Some(&pm.cookie), None).await;
    assert!(none.body.contains("No request matches “nothing like it”."), "{}", none.body);
}

#[tokio::test]
async fn a_hostile_find_text_is_only_text() {
    let app = TestApp::new().await;
    let _zeta = many_accounts_then(&app, serde_json::json!({ "name": "Zeta Corp" })).await;
    let admin = app.sign_in(Role::Admin).await;
    for (text, shown) in [
        ("%25", "%"),
        ("_", "_"),
        ("%27%20OR%201%3D1%20--", "' OR 1=1 --"),
        ("%3Cscript%3Ealert(1)%3C%2Fscript%3E", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ] {
        let page = app
            .web(Method::GET, &format!("/triage?account_q={text}&request_q={text}"), Some(&admin.cookie), None)
            .await;
        assert_eq!(page.status, StatusCode::OK, "{text}: {}", page.body);
        assert!(!page.body.contains("<script>"), "{text} is escaped");
        assert!(!page.body.contains("Filler 0001"), "{text} matches no account");
        assert!(page.body.contains(&format!("No account matches “{shown}”.")), "{text}: {}", page.body);
    }
    let long = "a".repeat(300);
    let page = app.web(Method::GET, &format!("/triage?account_q={long}"), Some(&admin.cookie), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&format!(r#"value="{}""#, "a".repeat(200))) && !page.body.contains(&"a".repeat(201)));
}

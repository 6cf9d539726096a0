//! The web UI in a real headless Chromium, driven over WebDriver (fantoccini →
//! chromedriver, both on loopback): sign in with a token, search, open a request,
//! link a triage item to it and to an account and see the request's priority change,
//! and read a ticket whose body is a stored-XSS payload as plain text with no script
//! run. Needs Debian's `chromium` and `chromium-driver` (`make tools` installs them as
//! root); without them this test fails and says how to install them.

mod support;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chorus_core::{Kind, LinkProvenance};
use chorus_store::{NewRequest, Role};
use fantoccini::{Client, ClientBuilder, Locator};
use support::{item, TestApp};

/// How long any one thing may take to appear.
const WAIT: Duration = Duration::from_secs(20);

const XSS_BODY: &str =
    "<script>window.chorusXss=1;alert(1)</script><img src=x onerror=\"window.chorusXss=2;alert(2)\"> hostile payload";

/// A program on `PATH`, or the reason the test cannot run.
fn program(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "the browser test needs `{name}`: install Chromium and its driver with \
             `apt-get install -y chromium chromium-driver` (or run `make tools` as root)"
        )
    })
}

/// chromedriver on a free loopback port, killed (with the browsers it started) on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Self {
        let binary = program("chromedriver");
        let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let mut command = Command::new(binary);
        command
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group, so dropping it ends the browsers it started too.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("start chromedriver");
        let driver = Self { child, port };
        let started = Instant::now();
        while TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_millis(200))
            .is_err()
        {
            assert!(started.elapsed() < WAIT, "chromedriver did not listen on port {port} within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium that can reach nothing but loopback.
async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let chromium = program("chromium");
    let args = [
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--no-first-run".to_owned(),
        "--no-default-browser-check".to_owned(),
        "--disable-extensions".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-domain-reliability".to_owned(),
        "--disable-client-side-phishing-detection".to_owned(),
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".to_owned(),
        "--window-size=1280,900".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": chromium.display().to_string(), "args": args }),
    );
    // chromedriver is on loopback: plain HTTP, no TLS stack.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromium session (is chromium-driver the same version as chromium?)")
}

/// Polls `check` until it holds; fails naming `what` after `WAIT`.
async fn wait_until<F, Fut>(client: &Client, what: &str, mut check: F)
where
    F: FnMut(Client) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check(client.clone()).await {
        assert!(started.elapsed() < WAIT, "timed out after {WAIT:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Saves a PNG of the page as `NAME.png` in `$CHORUS_UI_SCREENSHOTS`, when that is set
/// (for looking at the UI; the test asserts nothing about pixels).
async fn snapshot(client: &Client, name: &str) {
    let Some(dir) = std::env::var_os("CHORUS_UI_SCREENSHOTS") else { return };
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(PathBuf::from(dir).join(format!("{name}.png")), png).expect("write screenshot");
}

async fn text(client: &Client, css: &str) -> String {
    let element = client.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap_or_else(|e| {
        panic!("no `{css}` on the page: {e}");
    });
    element.text().await.expect("element text")
}

/// Everything a person does, in order.
async fn journey(client: Client, base: String, token: String, request_id: i64, item_id: i64, globex: i64) {
    // Signed out, the UI sends the browser to the login form, and back to the page it
    // asked for once signed in.
    client.goto(&format!("{base}/requests")).await.expect("open the UI");
    let field = client.wait().at_most(WAIT).for_element(Locator::Css("input#token")).await.expect("login form");
    field.send_keys(&token).await.expect("type the token");
    client.find(Locator::Css("form button[type=submit]")).await.expect("sign-in button").click().await.expect("click");
    client.wait().at_most(WAIT).for_element(Locator::Css("h1.board")).await.expect("back on the request board");
    assert_eq!(text(&client, "form.signout .role").await.to_lowercase(), "admin", "signed in with the token's role");
    client.goto(&format!("{base}/")).await.expect("open search");
    client.wait().at_most(WAIT).for_element(Locator::Css("form.search input#q")).await.expect("the search page");

    // Search.
    let query = client.find(Locator::Css("input#q")).await.expect("query box");
    query.send_keys("export").await.expect("type a query");
    client
        .find(Locator::Css("form.search button[type=submit]"))
        .await
        .expect("search button")
        .click()
        .await
        .expect("click");
    wait_until(&client, "the search for `export`", |client| async move {
        client.current_url().await.is_ok_and(|url| url.query().is_some_and(|q| q.contains("q=export")))
    })
    .await;
    let total = text(&client, "#total").await;
    snapshot(&client, "search").await;
    assert!(total.contains("matching item") && !total.starts_with('0'), "{total}");
    let hits = text(&client, "section.hits").await;
    assert!(hits.contains("Export to CSV fails"), "{hits}");

    // Open the request from the board.
    client.goto(&format!("{base}/requests")).await.expect("board");
    let link = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&format!("a.title[href='/requests/{request_id}']")))
        .await
        .expect("the request on the board");
    snapshot(&client, "requests").await;
    link.click().await.expect("open the request");
    let before = text(&client, "#score").await;
    assert_eq!(text(&client, "#request-title").await, "CSV export");

    // Triage: add the stray item to the request, then link it to its account.
    client.goto(&format!("{base}/triage")).await.expect("triage");
    let row_css = format!("tr[data-item='{item_id}']");
    let row = client.wait().at_most(WAIT).for_element(Locator::Css(&row_css)).await.expect("the item in triage");
    snapshot(&client, "triage").await;
    let picker = row.find(Locator::Css("select[name=request]")).await.expect("request picker");
    picker.select_by_value(&request_id.to_string()).await.expect("pick the request");
    row.find(Locator::Css("form[action$='/request'] button")).await.expect("button").click().await.expect("click");
    wait_until(&client, "the request link", |client| async move {
        client.current_url().await.is_ok_and(|url| url.query().is_some_and(|q| q.contains("linked=")))
    })
    .await;
    client.goto(&format!("{base}/triage")).await.expect("triage again");
    let row = client.wait().at_most(WAIT).for_element(Locator::Css(&row_css)).await.expect("still in triage");
    let picker = row.find(Locator::Css("select[name=account]")).await.expect("account picker");
    picker.select_by_value(&globex.to_string()).await.expect("pick the account");
    row.find(Locator::Css("form[action$='/account'] button")).await.expect("button").click().await.expect("click");
    wait_until(&client, "the account link", |client| async move {
        client.current_url().await.is_ok_and(|url| url.query().is_some_and(|q| q.contains("linked=")))
    })
    .await;
    assert!(client.find(Locator::Css(&row_css)).await.is_err(), "a linked item leaves the queue");

    // The request's priority moved, and Globex is among who asked.
    client.goto(&format!("{base}/requests/{request_id}")).await.expect("the request again");
    let after = text(&client, "#score").await;
    assert_ne!(before, after, "linking a new account's ask changes the priority");
    let who = text(&client, "main").await;
    snapshot(&client, "request").await;
    assert!(who.contains("Globex") && who.contains("Export for our finance team"), "{who}");

    // The account the item now belongs to, and the connectors.
    client.goto(&format!("{base}/accounts/{globex}")).await.expect("the account");
    assert_eq!(text(&client, "#account-name").await, "Globex");
    client.wait().at_most(WAIT).for_element(Locator::Css("svg#volume")).await.expect("the volume chart");
    snapshot(&client, "account").await;
    client.goto(&format!("{base}/connectors")).await.expect("the connectors");
    assert!(text(&client, "main").await.contains("gated"), "the configured connector is listed");
    snapshot(&client, "connectors").await;

    // The hostile ticket reads as text; nothing in it ran.
    client.goto(&format!("{base}/?q=hostile")).await.expect("search the hostile ticket");
    let snippet = text(&client, "article.hit .snippet").await;
    snapshot(&client, "hostile").await;
    assert!(snippet.contains("<script>window.chorusXss=1;alert(1)</script>"), "{snippet}");
    assert!(snippet.contains("<img src=x onerror="), "{snippet}");
    let ran = client
        .execute(
            "return [typeof window.chorusXss, document.querySelectorAll('img[src=\"x\"], main script').length];",
            vec![],
        )
        .await
        .expect("run a probe");
    assert_eq!(ran, serde_json::json!(["undefined", 0]), "no script from the ticket ran, no tag was made");
    assert!(client.get_alert_text().await.is_err(), "no alert opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_searches_triages_and_sees_the_priority_move() {
    let app = TestApp::with_records(vec![
        item("x1", Kind::FeatureRequest, "Export for our finance team", "We need the CSV export for boards too", None),
        item("h1", Kind::SupportTicket, "Hostile ticket", XSS_BODY, None),
    ])
    .await;
    let request = NewRequest { title: "CSV export".into(), description: String::new(), anchor_item_id: None };
    let request = app.store.create_request(&request).await.expect("request");
    let acme_bug = app.store.item_by_external_id("zd", "1").await.expect("read").expect("seeded");
    app.store.link_item_request(acme_bug.id, request.id, LinkProvenance::Manual).await.expect("link");
    let stray = app.store.item_by_external_id("extra", "x1").await.expect("read").expect("synced");
    let accounts = app.store.accounts(chorus_store::IdPage::first(10)).await.expect("accounts");
    let globex = accounts.iter().find(|a| a.name == "Globex").expect("seeded Globex").id;

    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(chorus_server::serve(
        listener,
        app.state.clone(),
        async { stopped.await.unwrap_or(()) },
        chorus_server::Timeouts::default(),
    ));

    let driver = Driver::start();
    let profile = tempfile::tempdir().expect("browser profile");
    let client = browser(&driver, profile.path()).await;
    let token = app.token(Role::Admin).to_owned();
    let outcome = tokio::spawn(journey(client.clone(), base, token, request.id, stray.id, globex)).await;
    let _ = client.close().await;
    drop(driver);
    let _ = stop.send(());
    let _ = server.await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

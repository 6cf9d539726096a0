//! End-to-end: `chorus serve` as an operator runs it — a token made with `chorus
//! tokens create` opens the API (and nothing else does), the scheduler fires the
//! connector on its cron schedule, the run shows up in the API, the index follows the
//! change log so searches (CLI and HTTP) see the synced items, and SIGTERM stops it
//! cleanly.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use chorus_sim::{FaultProfile, FeedSim, SimServer};
use support::{chorus_bin, feed_connector, Install};

/// A minimal GET over loopback; returns (status, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    get_as(port, path, None)
}

/// A GET with `token` as bearer, when given.
fn get_as(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = token.map(|token| format!("Authorization: Bearer {token}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Polls until `check` holds or the deadline passes.
fn wait_for(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_runs_connectors_on_schedule_and_the_index_follows() {
    let sim = FeedSim::seeded(21, 150);
    let server = SimServer::start_in_thread(sim.router(), FaultProfile::none()).expect("start simulator");
    let port = free_port();
    let connector = feed_connector("feed", &server.handle().url(), "")
        .replace("allow_insecure_endpoints = true", "allow_insecure_endpoints = true\nschedule = \"*/1 * * * * *\"");
    let install = Install::new(&format!("[server]\nlisten = \"127.0.0.1:{port}\"\n\n{connector}"));
    let created = install.command(&["tokens", "create", "--name", "e2e", "--role", "viewer"]).output().expect("tokens");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let token = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(token.starts_with("chorus_"), "the token is printed on stdout: {token}");
    let token = Some(token.as_str());
    let mut serve = install.command(&["serve"]).stdout(std::process::Stdio::null()).spawn().expect("spawn serve");

    wait_for("/healthz", Duration::from_secs(20), || get(port, "/healthz").is_some_and(|(s, b)| s == 200 && b == "ok"));
    wait_for("a scheduled run to succeed", Duration::from_secs(30), || {
        get_as(port, "/api/v1/runs?connector=feed", token).is_some_and(|(_, body)| body.contains("\"succeeded\""))
    });
    let (status, _) = get(port, "/api/v1/runs").expect("runs answer");
    assert_eq!(status, 401, "no token, no API");
    let (status, ready) = get(port, "/readyz").expect("readyz answers");
    assert_eq!(status, 200, "{ready}");

    // The server owns the index writer and follows the change log; the CLI reads.
    let expected = sim.truth().iter().filter(|r| !r.deleted).count();
    wait_for("the index to follow the change log", Duration::from_secs(30), || {
        let output = std::process::Command::new(chorus_bin())
            .arg("--config")
            .arg(install.config_path())
            .args(["search", "", "--format", "json", "--limit", "1"])
            .output()
            .expect("spawn search");
        serde_json::from_slice::<serde_json::Value>(&output.stdout)
            .ok()
            .and_then(|answer| answer["total"].as_u64())
            .is_some_and(|total| total as usize == expected)
    });
    let (status, answer) = get_as(port, "/api/v1/search?limit=1", token).expect("search answers");
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("json answer");
    assert_eq!(answer["total"].as_u64(), Some(expected as u64), "HTTP search sees what the CLI sees");
    let (status, _) = get(port, "/metrics").expect("metrics answer");
    assert_eq!(status, 401, "metrics need a token");
    let (_, metrics) = get_as(port, "/metrics", token).expect("metrics answer");
    assert!(metrics.contains("chorus_sync_runs_total{connector=\"feed\"}"), "{metrics}");

    // SIGTERM: a clean stop.
    let pid = serve.id().to_string();
    let term = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("send SIGTERM");
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = serve.try_wait().expect("poll serve") {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "serve exits 0 on SIGTERM: {status:?}");
}

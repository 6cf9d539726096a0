//! The HTTP stack against the simulator framework over real loopback HTTP: rate-limit
//! storms, `Retry-After` forms, 5xx bursts, timeouts, the body cap, error classification
//! and the secret-free error messages.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use chorus_sim::{ErrorBurst, FaultProfile, Latency, RateLimitFault, SimServer, Trigger};
use chorus_sync::{ConnectorError, HttpClient, HttpPolicy, HttpStack};
use url::Url;

fn policy() -> HttpPolicy {
    HttpPolicy {
        requests_per_minute: 6000,
        burst: 100,
        max_attempts: 5,
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(5),
        read_timeout: Duration::from_secs(2),
        max_body_bytes: 64 * 1024,
        ..HttpPolicy::default()
    }
}

fn client(policy: HttpPolicy) -> HttpClient {
    HttpStack::new().expect("stack builds").client("test-connector", policy)
}

fn router() -> Router {
    Router::new()
        .route("/items", get(|| async { axum::Json(serde_json::json!({"items": [1, 2, 3]})) }))
        .route("/big", get(|| async { "x".repeat(200 * 1024) }))
        .route(
            "/big-chunked",
            get(|| async {
                let chunks = (0..50).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 8 * 1024]));
                Body::from_stream(futures::stream::iter(chunks))
            }),
        )
        .route(
            "/missing",
            get(|headers: axum::http::HeaderMap| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                (StatusCode::NOT_FOUND, format!("{{\"error\": \"no such thing\", \"you_sent\": \"{auth}\"}}"))
            }),
        )
        .route("/forbidden", get(|| async { (StatusCode::FORBIDDEN, "{\"error\": \"forbidden\"}") }))
}

fn url(server: &SimServer, path_and_query: &str) -> Url {
    Url::parse(&format!("{}{path_and_query}", server.url())).expect("valid url")
}

#[tokio::test]
async fn rate_limit_storm_never_sends_inside_a_retry_after_window() {
    let limit = RateLimitFault::new(Trigger::EveryNth(10), Duration::from_secs(1));
    let profile = FaultProfile { rate_limit: Some(limit), ..FaultProfile::none() };
    let server = SimServer::start(router(), profile).await.expect("server starts");
    let http = client(HttpPolicy { max_attempts: 6, ..policy() });
    let started = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let http = http.clone();
            let target = url(&server, "/items");
            tokio::spawn(async move {
                for _ in 0..3 {
                    http.send(http.get(target.clone())).await?;
                }
                Ok::<_, ConnectorError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task joins").expect("every request eventually succeeds");
    }
    let log = server.requests();
    let limited: Vec<_> = log.iter().filter(|r| r.status == Some(429)).collect();
    assert!(!limited.is_empty(), "the storm happened");
    assert_eq!(log.iter().filter(|r| r.status == Some(200)).count(), 24);
    assert_eq!(server.retry_after_violations(), 0, "no request inside a Retry-After window");
    // Recount from the timestamps: a window opens when a request is answered 429; only
    // requests already in flight (arriving within a few ms) may land inside it.
    for window in &limited {
        let inside = log
            .iter()
            .filter(|r| r.at > window.at + Duration::from_millis(25) && r.at < window.at + Duration::from_millis(990))
            .count();
        assert_eq!(inside, 0, "a request left inside the window opened at {:?}", window.at - started);
    }
}

#[tokio::test]
async fn retry_after_http_date_on_a_503_is_honoured() {
    let limit = RateLimitFault {
        when: Trigger::FirstN(1),
        retry_after: Duration::from_secs(1),
        use_http_date: true,
        status: 503,
    };
    let profile = FaultProfile { rate_limit: Some(limit), ..FaultProfile::none() };
    let server = SimServer::start(router(), profile).await.expect("server starts");
    let http = client(policy());
    let response = http.send(http.get(url(&server, "/items"))).await.expect("succeeds after the pause");
    assert_eq!(response.status, 200);
    let log = server.requests();
    assert_eq!(log.iter().map(|r| r.status).collect::<Vec<_>>(), [Some(503), Some(200)]);
    assert!(log[1].at - log[0].at >= Duration::from_millis(990), "waited for the date: {:?}", log[1].at - log[0].at);
    assert_eq!(server.retry_after_violations(), 0);
}

#[tokio::test]
async fn retry_after_longer_than_max_backoff_fails_fast_and_pauses_the_connector() {
    let limit = RateLimitFault::new(Trigger::FirstN(1), Duration::from_secs(30));
    let profile = FaultProfile { rate_limit: Some(limit), ..FaultProfile::none() };
    let server = SimServer::start(router(), profile).await.expect("server starts");
    let http = client(policy());
    let error = http.send(http.get(url(&server, "/items"))).await.expect_err("too long to wait in-request");
    match &error {
        ConnectorError::RateLimited { retry_after: Some(wait), endpoint } => {
            assert!(*wait >= Duration::from_secs(29));
            assert_eq!(endpoint, "/items");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    // A clone must not send either while the pause lasts.
    let again = http.clone().send(http.get(url(&server, "/items"))).await.expect_err("still paused");
    assert!(matches!(again, ConnectorError::RateLimited { .. }));
    assert_eq!(server.requests().len(), 1, "nothing left during the pause");
}

#[tokio::test]
async fn server_error_burst_then_success() {
    let profile =
        FaultProfile { error_burst: Some(ErrorBurst { after_n: 0, len: 3, status: 500 }), ..FaultProfile::none() };
    let server = SimServer::start(router(), profile).await.expect("server starts");
    let http = client(policy());
    let body: serde_json::Value = http.send_json(http.get(url(&server, "/items"))).await.expect("succeeds");
    assert_eq!(body["items"][2], 3);
    let statuses: Vec<_> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(500), Some(200)]);
}

#[tokio::test]
async fn retries_stop_at_max_attempts_with_a_transient_error() {
    let profile =
        FaultProfile { error_burst: Some(ErrorBurst { after_n: 0, len: 100, status: 502 }), ..FaultProfile::none() };
    let server = SimServer::start(router(), profile).await.expect("server starts");
    let http = client(HttpPolicy { max_attempts: 3, ..policy() });
    let error = http.send(http.get(url(&server, "/items"))).await.expect_err("gives up");
    assert!(matches!(error, ConnectorError::Transient { .. }), "{error:?}");
    assert!(error.to_string().contains("502"), "{error}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn slow_response_times_out_as_transient_then_retries() {
    let profile = FaultProfile {
        latency: Some(Latency { min: Duration::from_secs(3), max: Duration::from_secs(3), when: Trigger::FirstN(1) }),
        ..FaultProfile::none()
    };
    let server = SimServer::start(router(), profile).await.expect("server starts");
    let http = client(HttpPolicy { read_timeout: Duration::from_millis(400), ..policy() });
    let started = Instant::now();
    let response = http.send(http.get(url(&server, "/items"))).await.expect("the retry succeeds");
    assert_eq!(response.status, 200);
    assert!(started.elapsed() < Duration::from_secs(3), "did not wait for the slow answer");
    assert_eq!(server.requests().len(), 2);

    server.set_faults(FaultProfile {
        latency: Some(Latency { min: Duration::from_secs(3), max: Duration::from_secs(3), when: Trigger::Always }),
        ..FaultProfile::none()
    });
    let http = client(HttpPolicy { read_timeout: Duration::from_millis(200), max_attempts: 2, ..policy() });
    let error = http.send(http.get(url(&server, "/items?token=abc"))).await.expect_err("times out");
    assert!(matches!(error, ConnectorError::Transient { .. }), "{error:?}");
    assert_eq!(error.to_string(), "transient failure at /items: timed out");
}

#[tokio::test]
async fn body_over_the_cap_is_permanent_without_retry() {
    let server = SimServer::start(router(), FaultProfile::none()).await.expect("server starts");
    let http = client(policy());
    for path in ["/big", "/big-chunked"] {
        let error = http.send(http.get(url(&server, path))).await.expect_err("over the cap");
        assert!(matches!(error, ConnectorError::Permanent { .. }), "{path}: {error:?}");
        assert!(error.to_string().contains("exceeds the cap of 65536 bytes"), "{error}");
    }
    assert_eq!(server.requests().len(), 2, "no retries");
    assert!(chorus_sync::telemetry::counter("chorus_http_body_too_large_total", "test-connector") >= 2);
}

#[tokio::test]
async fn client_errors_are_permanent_forbidden_is_auth_and_messages_are_secret_free() {
    let server = SimServer::start(router(), FaultProfile::none()).await.expect("server starts");
    let token = "tok-SUPERSECRET-123";
    let http = client(policy())
        .with_auth(chorus_sync::auth::shared(chorus_sync::BearerAuth::new(chorus_core::Secret::new(token))));
    let error = http.send(http.get(url(&server, "/missing?api_key=QUERYSECRET"))).await.expect_err("404");
    let message = error.to_string();
    assert!(matches!(error, ConnectorError::Permanent { .. }), "{error:?}");
    assert!(message.contains("/missing") && message.contains("404"), "{message}");
    assert!(message.contains("no such thing"), "quotes the body: {message}");
    assert!(!message.contains("SUPERSECRET"), "{message}");
    assert!(!message.contains("QUERYSECRET") && !message.contains("api_key"), "{message}");
    assert!(!format!("{error:?}").contains("SUPERSECRET"));

    let error = http.send(http.get(url(&server, "/forbidden"))).await.expect_err("403");
    assert!(matches!(error, ConnectorError::Auth { .. }), "{error:?}");
    assert_eq!(server.requests().len(), 2, "neither is retried");
    assert!(!format!("{http:?}").contains("SUPERSECRET"));
}

#[tokio::test]
async fn connection_refused_is_transient_and_names_no_query() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let http = client(HttpPolicy { max_attempts: 2, ..policy() });
    let target = Url::parse(&format!("http://{addr}/items?secret=QUERYSECRET")).expect("url");
    let error = http.send(http.get(target)).await.expect_err("nothing listens");
    assert!(matches!(error, ConnectorError::Transient { .. }), "{error:?}");
    assert!(!error.to_string().contains("QUERYSECRET"), "{error}");
}

#[tokio::test]
async fn endpoint_limit_spaces_requests() {
    let server = SimServer::start(router(), FaultProfile::none()).await.expect("server starts");
    let http = client(policy()).with_endpoint_limit("exports", 240);
    for _ in 0..3 {
        http.send(http.get(url(&server, "/items"))).await.expect("ok");
    }
    let log = server.requests();
    let spacing = log[2].at - log[0].at;
    assert!(spacing >= Duration::from_millis(450), "two gaps of 250 ms, got {spacing:?}");
}

/// A log sink for one test: everything the fmt layer writes, as text.
#[derive(Clone, Default)]
struct LogSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogSink {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }
}

#[tokio::test]
async fn rate_limited_log_line_names_the_reason_and_the_reset() {
    let router = Router::new().route(
        "/limited",
        get(|| async {
            // A tab to drop, and far more than 64 characters.
            let reset = format!("2024-06-01T10:05Z\t{}", "x".repeat(100));
            (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    ("retry-after", "0".to_owned()),
                    ("ratelimit-reason", "jira-burst-based".to_owned()),
                    ("x-ratelimit-reset", reset),
                ],
                "{\"errorMessages\": [\"Rate limit exceeded.\"]}",
            )
        }),
    );
    let server = SimServer::start(router, FaultProfile::none()).await.expect("server starts");
    let sink = LogSink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let http = client(HttpPolicy { max_attempts: 2, ..policy() });
    let error = http.send(http.get(url(&server, "/limited"))).await.expect_err("always limited");
    assert!(matches!(error, ConnectorError::RateLimited { .. }), "{error:?}");
    let logs = sink.text();
    let line = logs.lines().find(|l| l.contains("rate limited by source")).unwrap_or_else(|| panic!("{logs}"));
    assert!(line.contains("reason=\"jira-burst-based\""), "{line}");
    let reset = format!("reset=\"2024-06-01T10:05Z{}\"", "x".repeat(64 - "2024-06-01T10:05Z".len()));
    assert!(line.contains(&reset), "sanitized and cut at 64 characters: {line}");
}

#[tokio::test]
async fn redirects_stay_on_the_configured_origin() {
    let elsewhere = SimServer::start(router(), FaultProfile::none()).await.expect("second server");
    // `localhost` and `127.0.0.1` are different origins, as a foreign host would be.
    let foreign = format!("{}/items", elsewhere.url().replace("127.0.0.1", "localhost"));
    let redirects = Router::new()
        .route("/same", get(|| async { axum::response::Redirect::temporary("/items") }))
        .route("/away", get(move || std::future::ready(axum::response::Redirect::temporary(&foreign))))
        .merge(router());
    let server = SimServer::start(redirects, FaultProfile::none()).await.expect("server");
    let http = client(policy());

    let same: serde_json::Value = http.send_json(http.get(url(&server, "/same"))).await.expect("same-origin redirect");
    assert_eq!(same["items"], serde_json::json!([1, 2, 3]));

    let error = http.send(http.get(url(&server, "/away"))).await.expect_err("cross-origin redirect refused");
    assert!(matches!(error, ConnectorError::Permanent { .. }), "{error}");
    assert!(elsewhere.requests().is_empty(), "nothing reached the other origin");
}

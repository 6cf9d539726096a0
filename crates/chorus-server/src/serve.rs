//! `serve`: the accept loop, with a deadline on everything a client can hold open.
//!
//! A client must send its request line and headers within `Timeouts::header_read`
//! (hyper closes the connection otherwise, idle keep-alive connections included), and
//! every request is answered within `Timeouts::request` (a `408 timeout` past it). On
//! the shutdown signal the listener closes at once, connections finish the request
//! they are in, and after `Timeouts::shutdown` whatever is still open is dropped: no
//! client, idle or half-sent, can keep the process from stopping.

use std::future::Future;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::Layer as _;

use crate::{router, ApiError, AppState};

/// How long the server waits on clients. `Default` is what `chorus serve` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From accepting a connection (or the end of its last response) to the end of
    /// the next request's headers.
    pub header_read: Duration,
    /// From the end of a request's headers to its response: body read and handler.
    pub request: Duration,
    /// After the shutdown signal: how long open connections get before they are dropped.
    pub shutdown: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(30),
            shutdown: Duration::from_secs(10),
        }
    }
}

/// After a failed `accept` (out of file descriptors, mostly): a pause before the next,
/// so the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves the application on `listener` until `shutdown` completes, then drains.
///
/// Returns once every connection has finished or `timeouts.shutdown` has passed since
/// the signal, whichever comes first.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    timeouts: Timeouts,
) -> std::io::Result<()> {
    serve_router(listener, with_request_timeout(router(state), timeouts.request), shutdown, timeouts).await
}

/// The accept loop for any router (tests serve slow routes through it).
async fn serve_router(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    timeouts: Timeouts,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(timeouts.header_read);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                // The peer's address is what login attempts are counted by.
                let service = TowerToHyperService::new(Extension(ConnectInfo(peer)).layer(app.clone()));
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                connections.spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection closed with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(timeouts.shutdown, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            open = connections.len(),
            deadline_secs = timeouts.shutdown.as_secs_f64(),
            "connections still open at the shutdown deadline; dropping them"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// Answers `408 timeout` to a request not answered within `limit`.
fn with_request_timeout(app: Router, limit: Duration) -> Router {
    app.layer(middleware::from_fn(move |request: Request, next: Next| async move {
        match tokio::time::timeout(limit, next.run(request)).await {
            Ok(response) => response,
            Err(_) => timed_out(limit),
        }
    }))
}

fn timed_out(limit: Duration) -> Response {
    ApiError::Timeout(format!("the request was not answered within {}s", limit.as_secs_f64())).into_response()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    fn slow_app() -> Router {
        Router::new()
            .route("/fast", get(|| async { "ok" }))
            .route("/slow", get(|| async { tokio::time::sleep(Duration::from_secs(60)).await }))
    }

    async fn bound() -> (TcpListener, std::net::SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        (listener, addr)
    }

    /// Reads until the server closes the connection; fails past `within`.
    async fn read_to_close(stream: &mut TcpStream, within: Duration) -> String {
        let mut read = Vec::new();
        let result = tokio::time::timeout(within, stream.read_to_end(&mut read)).await;
        assert!(result.is_ok(), "the server kept the connection open past {within:?}");
        String::from_utf8_lossy(&read).into_owned()
    }

    #[tokio::test]
    async fn a_half_sent_request_does_not_hold_shutdown_past_the_deadline() {
        let (listener, addr) = bound().await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let timeouts = Timeouts {
            header_read: Duration::from_secs(60),
            request: Duration::from_secs(60),
            shutdown: Duration::from_millis(300),
        };
        let server = tokio::spawn(serve_router(listener, slow_app(), async { stopped.await.unwrap_or(()) }, timeouts));
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client.write_all(b"GET /hea").await.expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let signalled = Instant::now();
        stop.send(()).expect("server listens");
        let served = tokio::time::timeout(Duration::from_secs(5), server).await;
        let elapsed = signalled.elapsed();
        assert!(served.is_ok(), "serve did not return after the shutdown deadline");
        assert!(elapsed < Duration::from_secs(2), "serve returned after {elapsed:?}");
        read_to_close(&mut client, Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn an_idle_shutdown_returns_at_once() {
        let (listener, addr) = bound().await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_router(
            listener,
            slow_app(),
            async { stopped.await.unwrap_or(()) },
            Timeouts::default(),
        ));
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client.write_all(b"GET /fast HTTP/1.1\r\nhost: x\r\n\r\n").await.expect("write");
        let mut head = [0u8; 12];
        client.read_exact(&mut head).await.expect("response");
        assert_eq!(&head, b"HTTP/1.1 200");
        let signalled = Instant::now();
        stop.send(()).expect("server listens");
        tokio::time::timeout(Duration::from_secs(5), server).await.expect("returns").expect("join").expect("serve");
        assert!(signalled.elapsed() < Duration::from_secs(1), "a kept-alive idle connection closes at once");
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_disconnected() {
        let (listener, addr) = bound().await;
        let timeouts = Timeouts { header_read: Duration::from_millis(300), ..Timeouts::default() };
        let server = tokio::spawn(serve_router(listener, slow_app(), std::future::pending(), timeouts));
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client.write_all(b"GET /hea").await.expect("write");
        let started = Instant::now();
        read_to_close(&mut client, Duration::from_secs(3)).await;
        assert!(started.elapsed() >= Duration::from_millis(250), "closed after {:?}", started.elapsed());
        server.abort();
    }

    #[tokio::test]
    async fn a_slow_handler_is_answered_with_a_timeout() {
        use tower::ServiceExt;
        let app = with_request_timeout(slow_app(), Duration::from_millis(100));
        let request = Request::builder().uri("/slow").body(axum::body::Body::empty()).expect("request");
        let response = tokio::time::timeout(Duration::from_secs(5), app.oneshot(request))
            .await
            .expect("answered in time")
            .expect("infallible");
        assert_eq!(response.status(), axum::http::StatusCode::REQUEST_TIMEOUT);
        let body = axum::body::to_bytes(response.into_body(), 1024).await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["code"], "timeout");
    }
}

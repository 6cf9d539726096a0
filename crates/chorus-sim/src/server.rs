//! `SimServer`: serves a simulator's axum `Router` on `127.0.0.1:0` and logs every request.
//!
//! Each server wraps its router in two layers: the fault layer (`fault.rs`, outermost
//! but one) and the request log (outermost), so the log sees exactly what a client saw,
//! faults included. The log also keeps the server honest about `Retry-After`: every
//! response carrying one opens a window, and a request that arrives inside a window
//! it did not race with is flagged `early`. Invariant: the server stops accepting
//! connections when its `SimServer`/`SimThread` is shut down or dropped.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tokio::sync::oneshot;

use crate::fault::{self, FaultProfile, Faults};

/// A request that arrives this soon after a `Retry-After` was issued may have left the
/// client before the client saw it (concurrent requests), so it is not flagged.
pub const DEFAULT_IN_FLIGHT_GRACE: Duration = Duration::from_millis(25);

/// Slack at the end of a window, for HTTP-date `Retry-After` converted between clocks.
const WINDOW_END_TOLERANCE: Duration = Duration::from_millis(5);

/// Which `Authorization` scheme a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthSeen {
    None,
    Bearer,
    Basic,
    Other,
}

/// One request as the server saw it. Credentials are never stored.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// When the request arrived.
    pub at: Instant,
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    /// The status answered; `None` if the client went away first (e.g. a timeout).
    pub status: Option<u16>,
    pub auth: AuthSeen,
    /// Arrived before a `Retry-After` this server issued had elapsed.
    pub early: bool,
}

/// The shared request log of one server.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    inner: Arc<Mutex<LogState>>,
}

#[derive(Debug, Default)]
struct LogState {
    entries: Vec<LoggedRequest>,
    /// `(issued, until)` of every `Retry-After` answered.
    windows: Vec<(Instant, Instant)>,
    grace: Option<Duration>,
}

impl RequestLog {
    fn lock(&self) -> MutexGuard<'_, LogState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A snapshot of every request so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().entries.clone()
    }

    /// How many requests arrived inside a `Retry-After` window (should be zero).
    pub fn retry_after_violations(&self) -> usize {
        self.lock().entries.iter().filter(|r| r.early).count()
    }

    /// Forgets logged requests (windows stay in force).
    pub fn clear(&self) {
        self.lock().entries.clear();
    }

    /// Changes the in-flight grace (default `DEFAULT_IN_FLIGHT_GRACE`).
    pub fn set_in_flight_grace(&self, grace: Duration) {
        self.lock().grace = Some(grace);
    }

    fn arrive(&self, request: &Request) -> usize {
        let at = Instant::now();
        let mut state = self.lock();
        let grace = state.grace.unwrap_or(DEFAULT_IN_FLIGHT_GRACE);
        let early =
            state.windows.iter().any(|&(issued, until)| at >= issued + grace && at + WINDOW_END_TOLERANCE < until);
        state.entries.push(LoggedRequest {
            at,
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            query: request.uri().query().map(str::to_owned),
            status: None,
            auth: auth_seen(request.headers()),
            early,
        });
        state.entries.len() - 1
    }

    fn answer(&self, index: usize, response: &Response) {
        let now = Instant::now();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(fault::parse_retry_after);
        let mut state = self.lock();
        if let Some(entry) = state.entries.get_mut(index) {
            entry.status = Some(response.status().as_u16());
        }
        if let Some(wait) = retry_after {
            state.windows.push((now, now + wait));
        }
    }
}

fn auth_seen(headers: &HeaderMap) -> AuthSeen {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return AuthSeen::None;
    };
    let scheme = value.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
    match scheme.as_str() {
        "bearer" => AuthSeen::Bearer,
        "basic" => AuthSeen::Basic,
        _ => AuthSeen::Other,
    }
}

async fn log_layer(State(log): State<RequestLog>, request: Request, next: Next) -> Response {
    let index = log.arrive(&request);
    let response = next.run(request).await;
    log.answer(index, &response);
    response
}

/// What every running simulator exposes, whether on this runtime or in its own thread.
#[derive(Debug, Clone)]
pub struct SimHandle {
    addr: SocketAddr,
    log: RequestLog,
    faults: Faults,
}

impl SimHandle {
    /// The base URL, `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the request log.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log.requests()
    }

    /// Requests that arrived inside a `Retry-After` window this server issued.
    pub fn retry_after_violations(&self) -> usize {
        self.log.retry_after_violations()
    }

    pub fn log(&self) -> &RequestLog {
        &self.log
    }

    /// Replaces the fault profile; counters and the seeded RNG start over.
    pub fn set_faults(&self, profile: FaultProfile) {
        self.faults.set(profile);
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

/// Wraps `router` in the fault layer and the request log, as every simulator is served.
pub fn instrument(router: Router, faults: &Faults, log: &RequestLog) -> Router {
    fault::apply(router, faults).layer(middleware::from_fn_with_state(log.clone(), log_layer))
}

/// A simulator served on the current tokio runtime. Derefs to its `SimHandle`.
#[derive(Debug)]
pub struct SimServer {
    handle: SimHandle,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimServer {
    /// Serves `router` (with faults from `profile`) on `127.0.0.1:0`.
    pub async fn start(router: Router, profile: FaultProfile) -> std::io::Result<Self> {
        let (handle, listener, app) = bind(router, profile).await?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(error) = served.await {
                tracing::warn!(%error, "simulator stopped with an error");
            }
        });
        Ok(Self { handle, shutdown: Some(tx), task: Some(task) })
    }

    /// Runs `router` in a new std thread with its own single-threaded tokio runtime,
    /// for tests that block (spawn processes, use blocking clients). Blocks until bound.
    pub fn start_in_thread(router: Router, profile: FaultProfile) -> std::io::Result<SimThread> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("chorus-sim".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = ready_tx.send(Err(error));
                    return;
                }
            };
            runtime.block_on(async move {
                let (handle, listener, app) = match bind(router, profile).await {
                    Ok(bound) => bound,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(handle));
                let (drain_tx, drain_rx) = oneshot::channel::<()>();
                let served = tokio::spawn(async move {
                    let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                        let _ = drain_rx.await;
                    });
                    if let Err(error) = serving.await {
                        tracing::warn!(%error, "simulator thread stopped with an error");
                    }
                });
                let _ = stop_rx.await;
                let _ = drain_tx.send(());
                // Requests still sleeping in a latency fault are cut off with the runtime.
                let _ = tokio::time::timeout(Duration::from_secs(5), served).await;
            });
        })?;
        let handle = ready_rx.recv().map_err(|_| std::io::Error::other("simulator thread exited before binding"))??;
        Ok(SimThread { handle, shutdown: Some(stop_tx), thread: Some(thread) })
    }

    pub fn handle(&self) -> &SimHandle {
        &self.handle
    }

    /// Stops accepting connections and waits for open requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
                tracing::warn!("simulator did not stop within 5 s");
            }
        }
    }
}

impl Deref for SimServer {
    type Target = SimHandle;
    fn deref(&self) -> &SimHandle {
        &self.handle
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A simulator running in its own thread and runtime. Derefs to its `SimHandle`.
#[derive(Debug)]
pub struct SimThread {
    handle: SimHandle,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimThread {
    pub fn handle(&self) -> &SimHandle {
        &self.handle
    }

    /// Stops the server and joins its thread (open keep-alive connections are closed
    /// by the graceful shutdown).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::warn!("simulator thread panicked");
            }
        }
    }
}

impl Deref for SimThread {
    type Target = SimHandle;
    fn deref(&self) -> &SimHandle {
        &self.handle
    }
}

impl Drop for SimThread {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn bind(router: Router, profile: FaultProfile) -> std::io::Result<(SimHandle, tokio::net::TcpListener, Router)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let faults = Faults::new(profile);
    let log = RequestLog::default();
    let app = instrument(router, &faults, &log);
    Ok((SimHandle { addr, log, faults }, listener, app))
}

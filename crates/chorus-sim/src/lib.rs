//! Simulators of the source APIs on loopback, with fault injection.
//!
//! The framework every simulator builds on:
//! - `server`: `SimServer` serves any axum `Router` on `127.0.0.1:0` (or `SimThread`,
//!   in its own thread and runtime) and logs every request, flagging any that arrive
//!   inside a `Retry-After` window the server issued;
//! - `fault`: `FaultProfile`, a seeded, runtime-swappable fault layer (rate limits,
//!   5xx bursts, latency, truncated pages, expired tokens);
//! - `token`: `TokenAuthority`, an OAuth 2.0 token endpoint with rotating refresh
//!   tokens and a bearer check, plus a Basic-auth check;
//! - `clock`: `SimClock`, second-granularity "now" that tests can fix and move.
//!
//! Simulators: `feed` (the generic feed connector's source), `jira`, `zendesk`,
//! `salesforce` and `slack`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use chorus_sim::{FaultProfile, FeedSim, SimServer};
//! let feed = FeedSim::seeded(7, 250);
//! let server = SimServer::start(feed.router(), FaultProfile::none()).await?;
//! println!("feed at {}/api/items", server.url());
//! # Ok(()) }
//! ```

pub mod clock;
pub mod fault;
pub mod feed;
pub mod jira;
pub mod salesforce;
pub mod server;
pub mod slack;
pub mod token;
mod vocab;
pub mod zendesk;

pub use clock::SimClock;
pub use fault::{
    CutBody, CutForm, ErrorBurst, FaultProfile, Faults, Latency, RateLimitFault, TokenExpiry, Trigger, WrongShape,
};
pub use feed::{FeedRecord, FeedSim};
pub use server::{AuthSeen, LoggedRequest, RequestLog, SimHandle, SimServer, SimThread};
pub use token::{AuthorityConfig, JwtGrantConfig, TokenAuthority, TokenRejection};

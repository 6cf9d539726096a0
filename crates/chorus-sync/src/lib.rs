//! Chorus sync: how data gets from a source into the store.
//!
//! - `connector`: the `Connector` trait, its object-safe face and the `Registry`;
//! - `http` and `auth`: the one HTTP client stack all connectors share (`rate_limit`
//!   reads what a source says about its limits);
//! - `paging`: the run state machine every connector shares (`PageRun`,
//!   `page_stream`) and the repeated-token guard;
//! - `children`: an item's comments (and thread replies), merged, ordered and capped;
//! - `credentials`: what a connector persists (rotated refresh tokens);
//! - `engine`: runs a connector, committing each page with its cursor;
//! - `endpoint`: the rule on plain-HTTP and loopback endpoints;
//! - `telemetry`: typed events with counters.

pub mod auth;
pub mod children;
pub mod connector;
pub mod credentials;
pub mod endpoint;
pub mod engine;
mod error;
pub mod http;
pub mod paging;
mod rate_limit;
pub mod scheduler;
pub mod telemetry;

pub use auth::{BasicAuth, BearerAuth, ClientAuth, OAuthConfig, OAuthRefresh};
pub use connector::{
    Connector, ConnectorContext, Credentials, DynConnector, DynPage, Factory, Page, Registry, SyncMode, Unmapped,
};
pub use error::ConnectorError;
pub use http::{HttpClient, HttpPolicy, HttpResponse, HttpStack};
pub use paging::{page_stream, PageRun, RepeatGuard};

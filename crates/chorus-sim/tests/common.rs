//! Shared helpers for the simulator tests.

use std::time::Duration;

/// A plain HTTP client for tests (connectors use chorus-sync's stack instead).
#[allow(clippy::disallowed_methods)]
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("test client builds")
}

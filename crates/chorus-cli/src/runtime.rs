//! What every command needs: logging, the loaded config, the store, the connectors.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chorus_config::{Config, ConnectorConfig};
use chorus_store::Store;
use chorus_sync::engine::{this_process, Engine};
use chorus_sync::http::HttpStack;
use chorus_sync::{ConnectorContext, Credentials, DynConnector, Registry};

/// Logs to stderr; `RUST_LOG` wins over `-v`.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,chorus=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// A loaded installation: config, store, connector registry and HTTP stack.
pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub registry: Registry,
    http: HttpStack,
}

impl App {
    /// Loads and validates the config, then opens (and migrates) the store.
    pub async fn load(config_flag: Option<&Path>) -> anyhow::Result<Self> {
        let path = chorus_config::locate(config_flag);
        let registry = crate::registry::registry();
        let config = chorus_config::load(&path, &registry)?;
        Self::open(config, registry).await
    }

    pub async fn open(config: Config, registry: Registry) -> anyhow::Result<Self> {
        let store = chorus_store::open(&config.store.url)
            .await
            .with_context(|| format!("opening store {}", chorus_store::redact_url(&config.store.url)))?;
        let http = HttpStack::new().context("building the HTTP client")?;
        Ok(Self { config, store, registry, http })
    }

    /// Builds the connector a config entry describes.
    pub fn connector(&self, entry: &ConnectorConfig) -> anyhow::Result<Box<dyn DynConnector>> {
        let factory = self.registry.get(&entry.kind)?;
        let ctx = ConnectorContext {
            id: entry.id.clone(),
            http: self.http.client(&entry.id, entry.http_policy(&self.config.sync)),
            credentials: Credentials::new(entry.id.clone(), Arc::clone(&self.store)),
            allow_insecure_endpoints: entry.allow_insecure_endpoints,
        };
        factory.build(&entry.settings.0, ctx).with_context(|| format!("connector `{}`", entry.id))
    }

    /// The enabled connectors, or exactly the named ones (an unknown name is an error).
    pub fn selected(&self, names: &[String]) -> anyhow::Result<Vec<&ConnectorConfig>> {
        if names.is_empty() {
            return Ok(self.config.connectors.iter().filter(|c| c.enabled).collect());
        }
        names
            .iter()
            .map(|name| {
                self.config.connector(name).ok_or_else(|| {
                    let known: Vec<_> = self.config.connectors.iter().map(|c| c.id.as_str()).collect();
                    anyhow::anyhow!("no connector `{name}` in the config; configured: {}", known.join(", "))
                })
            })
            .collect()
    }

    pub fn engine(&self) -> Engine {
        let ttl = Duration::from_secs(self.config.sync.claim_ttl_secs);
        Engine::new(Arc::clone(&self.store), this_process(ttl))
    }
}

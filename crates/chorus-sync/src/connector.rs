//! The `Connector` trait: how a source plugs into Chorus.
//!
//! A connector is written against typed `Config` and `Cursor` types and only reads:
//! it yields `Page { records, next_cursor }` as a stream and never persists anything.
//! The engine (`engine.rs`) commits each page with its cursor in one transaction.
//!
//! `Typed<C>` blanket-implements the object-safe `DynConnector` for every `Connector`,
//! speaking JSON at the edges: it decodes the stored cursor (versioned, so a format
//! change is refused with a clear message instead of misread) and refuses a cursor
//! that moves backwards. The explicit list of factories is `Registry`, built by the
//! binary, one line per connector.

use std::fmt::Debug;
use std::marker::PhantomData;

use chorus_core::{Record, Source};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::credentials::Credentials;
use crate::http::HttpClient;
use crate::ConnectorError;

/// One page read from a source, and the cursor that resumes right after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<C> {
    pub records: Vec<Record>,
    pub next_cursor: C,
    /// What the page held that the connector could not map. The cursor moves past
    /// them, so the engine counts and names them in the run's history: nothing is
    /// skipped in silence.
    pub unmapped: Vec<Unmapped>,
}

impl<C> Page<C> {
    pub fn new(records: Vec<Record>, next_cursor: C) -> Self {
        Self { records, next_cursor, unmapped: Vec::new() }
    }

    pub fn with_unmapped(mut self, unmapped: Vec<Unmapped>) -> Self {
        self.unmapped = unmapped;
        self
    }
}

/// A source record the connector read and could not map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmapped {
    /// The source's id (or key) of the record.
    pub external_id: String,
    /// Why, in a few words (`no kind for issue type "Epic"`); never a field value that
    /// could hold a secret.
    pub reason: String,
}

/// Whether a run continues from the cursor or starts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    #[default]
    Incremental,
    /// From the beginning; connectors may also reconcile deletions they cannot see
    /// incrementally (compare the source's ids with `ConnectorContext::known_ids`).
    Full,
}

/// What a connector gets from the engine when it is built.
#[derive(Clone)]
pub struct ConnectorContext {
    /// The connector's id from `chorus.toml`.
    pub id: String,
    /// The shared HTTP stack, already rate-limited for this connector. Add auth with
    /// `HttpClient::with_auth`; never build a `reqwest::Client`.
    pub http: HttpClient,
    /// Where rotating credentials are persisted (OAuth refresh tokens).
    pub credentials: Credentials,
    /// Whether plain-HTTP and loopback endpoints are allowed for this connector.
    pub allow_insecure_endpoints: bool,
}

/// A source, written with typed configuration and cursor.
pub trait Connector: Sized + Send + Sync + 'static {
    /// The `kind` that selects this connector in `chorus.toml`.
    const KIND: &'static str;
    /// The source its items are tagged with.
    const SOURCE: Source;
    /// Bump when `Cursor`'s serialized form changes incompatibly.
    const CURSOR_VERSION: u32 = 1;

    /// The `[connectors.settings]` table, with `#[serde(deny_unknown_fields)]`.
    type Config: DeserializeOwned + schemars::JsonSchema + Send + Sync;
    /// A position in the source; pages must yield cursors that never decrease.
    type Cursor: Serialize + DeserializeOwned + PartialOrd + Clone + Debug + Send + Sync;

    /// Answers settings this connector no longer reads with an error naming what
    /// replaced them, before typed parsing (which would only say "unknown field").
    /// The shared auth vocabulary's old keys are checked for every connector
    /// (`auth::check_legacy_auth`); this is for a connector's own.
    fn legacy_settings(_settings: &serde_json::Value) -> Result<(), ConnectorError> {
        Ok(())
    }

    /// Checks the configuration without I/O (endpoints, required fields).
    fn validate(config: &Self::Config, allow_insecure_endpoints: bool) -> Result<(), ConnectorError>;

    /// Builds the connector. Called after `validate`.
    fn build(config: Self::Config, ctx: ConnectorContext) -> Result<Self, ConnectorError>;

    /// Proves the credentials work with one cheap call; returns who we are there.
    fn check(&self) -> BoxFuture<'_, Result<String, ConnectorError>>;

    /// The pages after `from` (`None`: from the beginning), in cursor order.
    fn pages(
        &self,
        from: Option<Self::Cursor>,
        mode: SyncMode,
    ) -> BoxStream<'_, Result<Page<Self::Cursor>, ConnectorError>>;
}

/// A page with its cursor in stored (versioned JSON) form.
#[derive(Debug, Clone, PartialEq)]
pub struct DynPage {
    pub records: Vec<Record>,
    pub cursor: serde_json::Value,
    pub unmapped: Vec<Unmapped>,
}

/// The object-safe face of a connector, as the engine drives it.
pub trait DynConnector: Send + Sync {
    fn id(&self) -> &str;
    fn kind(&self) -> &'static str;
    fn source(&self) -> Source;
    fn check(&self) -> BoxFuture<'_, Result<String, ConnectorError>>;
    /// Pages after the stored cursor. Fails at once on a cursor of another version or
    /// kind; the stream fails on a cursor that moves backwards.
    fn pages(
        &self,
        from: Option<&serde_json::Value>,
        mode: SyncMode,
    ) -> Result<BoxStream<'_, Result<DynPage, ConnectorError>>, ConnectorError>;
}

/// The stored form of a cursor: `{"kind", "version", "position"}`.
#[derive(Debug, Serialize, Deserialize)]
struct VersionedCursor<C> {
    kind: String,
    version: u32,
    position: C,
}

/// A typed connector behind the object-safe interface.
pub struct Typed<C: Connector> {
    id: String,
    inner: C,
}

impl<C: Connector> Typed<C> {
    pub fn new(id: impl Into<String>, inner: C) -> Self {
        Self { id: id.into(), inner }
    }

    fn decode_cursor(&self, stored: &serde_json::Value) -> Result<C::Cursor, ConnectorError> {
        let versioned: VersionedCursor<serde_json::Value> = serde_json::from_value(stored.clone()).map_err(|e| {
            ConnectorError::Config(format!("stored cursor is unreadable ({e}); run `chorus sync --full`"))
        })?;
        if versioned.kind != C::KIND || versioned.version != C::CURSOR_VERSION {
            return Err(ConnectorError::Config(format!(
                "stored cursor is for {} v{}, this connector reads {} v{}; run `chorus sync --full`",
                versioned.kind,
                versioned.version,
                C::KIND,
                C::CURSOR_VERSION
            )));
        }
        serde_json::from_value(versioned.position).map_err(|e| {
            ConnectorError::Config(format!("stored cursor does not decode ({e}); run `chorus sync --full`"))
        })
    }
}

/// Encodes a typed cursor in its stored, versioned form.
pub fn encode_cursor<C: Connector>(cursor: &C::Cursor) -> Result<serde_json::Value, ConnectorError> {
    serde_json::to_value(VersionedCursor { kind: C::KIND.to_owned(), version: C::CURSOR_VERSION, position: cursor })
        .map_err(|e| ConnectorError::permanent("cursor", format!("cursor does not serialize: {e}")))
}

impl<C: Connector> DynConnector for Typed<C> {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        C::KIND
    }

    fn source(&self) -> Source {
        C::SOURCE
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        self.inner.check()
    }

    fn pages(
        &self,
        from: Option<&serde_json::Value>,
        mode: SyncMode,
    ) -> Result<BoxStream<'_, Result<DynPage, ConnectorError>>, ConnectorError> {
        let start = from.map(|stored| self.decode_cursor(stored)).transpose()?;
        let mut previous = start.clone();
        let pages = self.inner.pages(start, mode).map(move |page| {
            let page = page?;
            if let Some(prev) = &previous {
                let advanced = matches!(
                    page.next_cursor.partial_cmp(prev),
                    Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
                );
                if !advanced {
                    return Err(ConnectorError::permanent(
                        "cursor",
                        format!("cursor moved backwards from {prev:?} to {:?}; page refused", page.next_cursor),
                    ));
                }
            }
            let cursor = encode_cursor::<C>(&page.next_cursor)?;
            previous = Some(page.next_cursor);
            Ok(DynPage { records: page.records, cursor, unmapped: page.unmapped })
        });
        Ok(pages.boxed())
    }
}

/// Builds connectors of one kind from their JSON settings.
pub trait ConnectorFactory: Send + Sync {
    fn kind(&self) -> &'static str;
    fn source(&self) -> Source;
    /// JSON Schema of the settings table.
    fn settings_schema(&self) -> schemars::Schema;
    /// Validates settings without I/O.
    fn validate(&self, settings: &serde_json::Value, allow_insecure_endpoints: bool) -> Result<(), ConnectorError>;
    fn build(
        &self,
        settings: &serde_json::Value,
        ctx: ConnectorContext,
    ) -> Result<Box<dyn DynConnector>, ConnectorError>;
}

/// The factory of a typed connector: `Factory::<JiraConnector>::boxed()`.
pub struct Factory<C>(PhantomData<fn() -> C>);

impl<C: Connector> Factory<C> {
    pub fn boxed() -> Box<dyn ConnectorFactory> {
        Box::new(Factory::<C>(PhantomData))
    }

    fn parse(settings: &serde_json::Value) -> Result<C::Config, ConnectorError> {
        let legacy = |error: ConnectorError| match error {
            ConnectorError::Config(reason) => ConnectorError::Config(format!("{} settings: {reason}", C::KIND)),
            other => other,
        };
        crate::auth::check_legacy_auth(settings).map_err(legacy)?;
        C::legacy_settings(settings).map_err(legacy)?;
        serde_json::from_value(settings.clone()).map_err(|e| {
            ConnectorError::Config(format!(
                "{} settings: {}",
                C::KIND,
                chorus_core::scrub_serde_message(&e.to_string())
            ))
        })
    }
}

impl<C: Connector> ConnectorFactory for Factory<C> {
    fn kind(&self) -> &'static str {
        C::KIND
    }

    fn source(&self) -> Source {
        C::SOURCE
    }

    fn settings_schema(&self) -> schemars::Schema {
        schemars::schema_for!(C::Config)
    }

    fn validate(&self, settings: &serde_json::Value, allow_insecure_endpoints: bool) -> Result<(), ConnectorError> {
        C::validate(&Self::parse(settings)?, allow_insecure_endpoints)
    }

    fn build(
        &self,
        settings: &serde_json::Value,
        ctx: ConnectorContext,
    ) -> Result<Box<dyn DynConnector>, ConnectorError> {
        let config = Self::parse(settings)?;
        C::validate(&config, ctx.allow_insecure_endpoints)?;
        let id = ctx.id.clone();
        Ok(Box::new(Typed::new(id, C::build(config, ctx)?)))
    }
}

/// Every connector kind the binary knows, listed explicitly.
pub struct Registry {
    factories: Vec<Box<dyn ConnectorFactory>>,
}

/// A `kind` that no factory answers to; the message lists the known kinds.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown connector kind `{kind}`; known kinds: {known}")]
pub struct UnknownKind {
    pub kind: String,
    pub known: String,
}

impl Registry {
    pub fn new(factories: Vec<Box<dyn ConnectorFactory>>) -> Self {
        debug_assert!(
            {
                let mut kinds: Vec<_> = factories.iter().map(|f| f.kind()).collect();
                kinds.sort_unstable();
                kinds.windows(2).all(|w| w[0] != w[1])
            },
            "two factories share a kind"
        );
        Self { factories }
    }

    pub fn get(&self, kind: &str) -> Result<&dyn ConnectorFactory, UnknownKind> {
        self.factories
            .iter()
            .find(|f| f.kind() == kind)
            .map(|f| f.as_ref())
            .ok_or_else(|| UnknownKind { kind: kind.to_owned(), known: self.kinds().join(", ") })
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.factories.iter().map(|f| f.kind()).collect()
    }

    pub fn factories(&self) -> impl Iterator<Item = &dyn ConnectorFactory> {
        self.factories.iter().map(|f| f.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use futures::stream;
    use serde_json::json;

    use super::*;
    use crate::auth::BasicAuthConfig;

    /// A connector that only parses settings, with one connector-specific old key.
    struct Probe;

    #[derive(Debug, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct ProbeConfig {
        #[allow(dead_code)]
        auth: ProbeAuth,
    }

    #[derive(Debug, Deserialize, schemars::JsonSchema)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum ProbeAuth {
        Basic(#[allow(dead_code)] BasicAuthConfig),
    }

    impl Connector for Probe {
        const KIND: &'static str = "probe";
        const SOURCE: Source = Source::Feed;
        type Config = ProbeConfig;
        type Cursor = u32;

        fn legacy_settings(settings: &serde_json::Value) -> Result<(), ConnectorError> {
            match settings.get("site") {
                Some(_) => Err(ConnectorError::Config("`site` was renamed: use `base_url`".into())),
                None => Ok(()),
            }
        }

        fn validate(_config: &ProbeConfig, _allow_insecure: bool) -> Result<(), ConnectorError> {
            Ok(())
        }

        fn build(_config: ProbeConfig, _ctx: ConnectorContext) -> Result<Self, ConnectorError> {
            Ok(Probe)
        }

        fn check(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
            Box::pin(async { Ok("probe".to_owned()) })
        }

        fn pages(&self, _from: Option<u32>, _mode: SyncMode) -> BoxStream<'_, Result<Page<u32>, ConnectorError>> {
            stream::empty().boxed()
        }
    }

    #[test]
    fn old_keys_are_named_before_typed_parsing() {
        let factory = Factory::<Probe>::boxed();
        let ok = json!({"auth": {"type": "basic", "email": "a@b.c", "api_token": "t"}});
        assert!(factory.validate(&ok, false).is_ok());
        let cases = [
            (json!({"auth": {"method": "api_token", "email": "a@b.c", "token": "hunter2"}}), "use `type`"),
            (json!({"auth": {"type": "oauth", "client_id": "c"}}), "oauth_refresh"),
            (json!({"site": "x", "auth": {"type": "basic", "email": "a@b.c", "api_token": "t"}}), "use `base_url`"),
        ];
        for (settings, hint) in cases {
            let message = factory.validate(&settings, false).expect_err("old key").to_string();
            assert!(
                message.contains("probe settings: auth") || message.contains("probe settings: `site`"),
                "{message}"
            );
            assert!(message.contains(hint) && !message.contains("hunter2"), "{message}");
        }
    }
}

//! Jira Cloud connector (`kind = "jira"`): issues → items, incrementally, with deletions.
//!
//! Reads issues with `POST /rest/api/3/search/jql` (`nextPageToken` paging, explicit
//! fields, comments included), ordered by `updated, key` from a lower bound derived
//! from the cursor in the calling user's time zone, read at the start of every run
//! (see `cursor`). Authenticates with
//! email + API token (Basic) or OAuth 2.0 (3LO) with rotating refresh tokens, both
//! through the shared HTTP stack's auth providers. Deleted issues never show in
//! search, so known ids are reconciled on full runs and on a schedule (see `run`).
//! Invariant: the connector only reads — the engine commits each yielded page with
//! its cursor — and every cursor it yields is ≥ the one it started from.

pub mod adf;
pub mod client;
pub mod config;
pub mod cursor;
pub mod mapping;
mod run;

use std::sync::Arc;

use chorus_core::Source;
use chorus_sync::auth::AuthProvider;
use chorus_sync::{page_stream, Connector, ConnectorContext, ConnectorError, Page, SyncMode};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::sync::OnceCell;
use url::Url;

use crate::client::{accessible_resources, oauth_root, pick_cloud_id, JiraApi};
use crate::config::{AuthConfig, Endpoints, JiraConfig};
use crate::cursor::JiraCursor;
use crate::mapping::Mapper;

pub use crate::config::{AccountFieldHolds, MappingConfig, ReconcileConfig};

/// The Jira Cloud connector.
pub struct JiraConnector {
    config: JiraConfig,
    endpoints: Endpoints,
    ctx: ConnectorContext,
    mapper: Mapper,
    session: OnceCell<Session>,
}

/// What a connector learns once per process: the API root (the OAuth cloud id
/// lookup is done once). The user's time zone is not kept here: it is read at the
/// start of every run (see `JiraConnector::zone`), so a zone changed on the site is
/// honoured by the next run of a long-lived process.
pub(crate) struct Session {
    pub(crate) api: JiraApi,
}

impl Connector for JiraConnector {
    const KIND: &'static str = "jira";
    const SOURCE: Source = Source::Jira;

    type Config = JiraConfig;
    type Cursor = JiraCursor;

    fn legacy_settings(settings: &serde_json::Value) -> Result<(), ConnectorError> {
        config::legacy_settings(settings)
    }

    fn validate(config: &JiraConfig, allow_insecure_endpoints: bool) -> Result<(), ConnectorError> {
        config.validate(allow_insecure_endpoints).map(|_| ())
    }

    fn build(config: JiraConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let endpoints = config.validate(ctx.allow_insecure_endpoints)?;
        let mapper = Mapper { site: endpoints.site.clone(), mapping: config.mapping.clone() };
        Ok(Self { config, endpoints, ctx, mapper, session: OnceCell::new() })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        Box::pin(async move {
            let session = self.session().await?;
            // One authenticated call every time, even when the session is cached.
            let myself = session.api.myself().await?;
            let zone = self.zone_from(myself.time_zone.as_deref());
            let zone = zone.map_or_else(|| "unknown time zone".to_owned(), |z| z.name().to_owned());
            let who = match (myself.display_name, myself.email_address) {
                (Some(name), Some(email)) => format!("{name} <{email}>"),
                (Some(name), None) => name,
                (None, Some(email)) => email,
                (None, None) => myself.account_id.unwrap_or_else(|| "jira user".to_owned()),
            };
            Ok(format!("{who} on {} ({zone})", self.endpoints.site.as_str().trim_end_matches('/')))
        })
    }

    fn pages(
        &self,
        from: Option<JiraCursor>,
        mode: SyncMode,
    ) -> BoxStream<'_, Result<Page<JiraCursor>, ConnectorError>> {
        page_stream(run::Run::new(self, from, mode))
    }
}

impl JiraConnector {
    /// The session, established on first use (cloud id, `myself`, time zone).
    pub(crate) async fn session(&self) -> Result<&Session, ConnectorError> {
        self.session.get_or_try_init(|| self.connect()).await
    }

    async fn connect(&self) -> Result<Session, ConnectorError> {
        let http = self.ctx.http.clone().with_auth(self.auth_provider()?);
        let root = match (&self.config.auth, &self.endpoints.oauth) {
            (AuthConfig::OauthRefresh(_), Some((_, api_base))) => {
                let cloud_id = match &self.config.cloud_id {
                    Some(id) => id.clone(),
                    None => pick_cloud_id(&accessible_resources(&http, api_base).await?, &self.endpoints.site)?,
                };
                oauth_root(api_base, &cloud_id)
            }
            _ => self.endpoints.site.clone(),
        };
        Ok(Session { api: JiraApi::new(http, root) })
    }

    /// The zone JQL dates are read in for the run about to start: `time_zone` when
    /// configured, else the API user's zone as `/myself` reports it now (one call per
    /// run). `None` when unknown: JQL bounds are then widened (see `cursor`).
    pub(crate) async fn zone(&self, session: &Session) -> Result<Option<Tz>, ConnectorError> {
        if self.config.time_zone.is_some() {
            return Ok(self.zone_from(None));
        }
        let myself = session.api.myself().await?;
        Ok(self.zone_from(myself.time_zone.as_deref()))
    }

    /// The configured zone, else `reported`, parsed; warns when neither names a zone.
    fn zone_from(&self, reported: Option<&str>) -> Option<Tz> {
        let name = self.config.time_zone.as_deref().or(reported);
        let zone = name.and_then(|name| name.parse::<Tz>().ok());
        if zone.is_none() {
            tracing::warn!(
                connector = %self.ctx.id,
                zone = name.unwrap_or("(none)"),
                "jira time zone unknown; widening the incremental window by 14 hours"
            );
        }
        zone
    }

    fn auth_provider(&self) -> Result<Arc<dyn AuthProvider>, ConnectorError> {
        auth::provider(&self.config.auth, self.endpoints.oauth.as_ref().map(|(token, _)| token), &self.ctx)
    }
}

mod auth {
    //! Builds the shared stack's auth provider for the configured credentials.
    //! Invariant: secrets leave the config only as `Secret`s handed to the provider;
    //! the OAuth refresh token rotates through `ctx.credentials` (compare-and-swap).

    use super::*;

    pub(super) fn provider(
        auth: &AuthConfig,
        token_url: Option<&Url>,
        ctx: &ConnectorContext,
    ) -> Result<Arc<dyn AuthProvider>, ConnectorError> {
        match (auth, token_url) {
            (AuthConfig::Basic(basic), _) => Ok(Arc::new(basic.provider())),
            (AuthConfig::OauthRefresh(oauth), Some(token_url)) => Ok(Arc::new(oauth.provider(token_url, ctx)?)),
            (AuthConfig::OauthRefresh(_), None) => Err(ConnectorError::Config("auth.token_url is missing".into())),
        }
    }
}

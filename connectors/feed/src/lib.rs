//! The feed connector: any tool that serves the Chorus feed protocol.
//!
//! A feed is a paged JSON list of feedback records ordered by `(updated_at, id)`:
//! `GET {base_url}/api/items?updated_since=…&page_token=…&limit=…`. Tools without a
//! dedicated connector (an in-house portal, a survey tool behind a small adapter) plug
//! in this way, and the simulator behind `make demo` and the engine's end-to-end tests
//! speaks it too. See `docs/connectors/feed.md`.
//!
//! Invariant: the cursor is the greatest `updated_at` among committed pages, and the
//! next run asks from that instant minus `overlap_secs`, INCLUSIVE: timestamps have
//! second granularity and many records share one, so an exclusive bound would lose the
//! ones after a page boundary. Re-read records are absorbed by the upsert key.

mod config;
mod mapping;

pub use config::{FeedAuth, FeedConfig};
pub use mapping::{FeedPage, FeedRecord};

use chorus_core::Source;
use chorus_sync::auth::{AuthProvider, BearerAuth, ClientAuth, OAuthConfig, OAuthRefresh};
use chorus_sync::endpoint::parse_endpoint;
use chorus_sync::{Connector, ConnectorContext, ConnectorError, HttpClient, Page, SyncMode};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use url::Url;

/// Position in a feed: the greatest `updated_at` committed so far.
#[derive(Debug, Clone, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct FeedCursor {
    pub updated_at: DateTime<Utc>,
}

/// A configured feed.
pub struct FeedConnector {
    items_url: Url,
    me_url: Url,
    page_size: u32,
    overlap: Duration,
    http: HttpClient,
}

impl Connector for FeedConnector {
    const KIND: &'static str = "feed";
    const SOURCE: Source = Source::Feed;
    type Config = FeedConfig;
    type Cursor = FeedCursor;

    fn validate(config: &FeedConfig, allow_insecure_endpoints: bool) -> Result<(), ConnectorError> {
        config.validate(allow_insecure_endpoints)
    }

    fn build(config: FeedConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let base = parse_endpoint("base_url", &config.base_url, ctx.allow_insecure_endpoints)?;
        let join = |path: &str| {
            base.join(path).map_err(|e| ConnectorError::Config(format!("base_url: cannot append {path}: {e}")))
        };
        let auth: Option<Arc<dyn AuthProvider>> = match &config.auth {
            FeedAuth::None => None,
            FeedAuth::Bearer { token } => Some(Arc::new(BearerAuth::new(token.clone()))),
            FeedAuth::Oauth { token_url, client_id, client_secret, refresh_token } => {
                let token_url = parse_endpoint("auth.token_url", token_url, ctx.allow_insecure_endpoints)?;
                let oauth = OAuthConfig {
                    token_url,
                    client_id: client_id.clone(),
                    client_secret: Some(client_secret.clone()),
                    client_auth: ClientAuth::RequestBody,
                    scopes: Vec::new(),
                };
                Some(Arc::new(OAuthRefresh::refresh_token(
                    oauth,
                    refresh_token.clone(),
                    ctx.credentials.clone(),
                    &ctx.http,
                )))
            }
        };
        let http = match auth {
            Some(auth) => ctx.http.with_auth(auth),
            None => ctx.http,
        };
        Ok(Self {
            items_url: join("api/items")?,
            me_url: join("api/me")?,
            page_size: config.page_size,
            overlap: Duration::seconds(i64::from(config.overlap_secs)),
            http,
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct Me {
                name: String,
            }
            let me: Me = self.http.send_json(self.http.get(self.me_url.clone())).await?;
            Ok(me.name)
        })
    }

    fn pages(
        &self,
        from: Option<FeedCursor>,
        _mode: SyncMode,
    ) -> BoxStream<'_, Result<Page<FeedCursor>, ConnectorError>> {
        let since = from.as_ref().map(|c| c.updated_at - self.overlap);
        let state = Walk { since, page_token: None, high_water: from.map(|c| c.updated_at), done: false };
        stream::try_unfold(state, move |walk| self.next_page(walk))
            .filter_map(|step| async move { step.transpose() })
            .boxed()
    }
}

/// Where a run is within the feed.
struct Walk {
    since: Option<DateTime<Utc>>,
    page_token: Option<String>,
    high_water: Option<DateTime<Utc>>,
    done: bool,
}

impl FeedConnector {
    /// Fetches one page; `Ok(None)` ends the stream, `Ok(Some((None, _)))` is an empty
    /// page that moves on without a commit.
    async fn next_page(&self, mut walk: Walk) -> Result<Option<(Option<Page<FeedCursor>>, Walk)>, ConnectorError> {
        if walk.done {
            return Ok(None);
        }
        let mut url = self.items_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &self.page_size.to_string());
            if let Some(since) = walk.since {
                query.append_pair("updated_since", &since.to_rfc3339_opts(SecondsFormat::Secs, true));
            }
            if let Some(token) = &walk.page_token {
                query.append_pair("page_token", token);
            }
        }
        let page: FeedPage = self.http.send_json(self.http.get(url)).await?;
        let next_token = page.next_page_token.clone().filter(|t| !t.is_empty());
        if next_token.is_some() && next_token == walk.page_token {
            // A feed that hands back the token it was given would be read forever.
            return Err(ConnectorError::malformed("/api/items", "next_page_token repeats the token just used"));
        }
        walk.page_token = next_token;
        walk.done = walk.page_token.is_none();
        if page.items.is_empty() {
            return Ok(Some((None, walk)));
        }
        let newest = page.items.iter().map(|r| r.updated_at).max();
        walk.high_water = walk.high_water.max(newest);
        let records = page.items.into_iter().map(FeedRecord::into_record).collect();
        let next_cursor = FeedCursor {
            updated_at: walk
                .high_water
                .ok_or_else(|| ConnectorError::malformed("/api/items", "page without timestamps"))?,
        };
        Ok(Some((Some(Page::new(records, next_cursor)), walk)))
    }
}

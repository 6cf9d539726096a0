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
use chorus_sync::auth::AuthProvider;
use chorus_sync::endpoint::parse_endpoint;
use chorus_sync::{
    page_stream, Connector, ConnectorContext, ConnectorError, HttpClient, Page, PageRun, RepeatGuard, SyncMode,
};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
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
            FeedAuth::None {} => None,
            FeedAuth::Bearer(bearer) => Some(Arc::new(bearer.provider())),
            FeedAuth::OauthRefresh(oauth) => Some(Arc::new(oauth.provider(&join("oauth/token")?, &ctx)?)),
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
        page_stream(Walk {
            feed: self,
            since,
            page_token: None,
            high_water: from.map(|c| c.updated_at),
            done: false,
            tokens: RepeatGuard::new("/api/items", "next_page_token"),
        })
    }
}

/// One run through the feed.
struct Walk<'a> {
    feed: &'a FeedConnector,
    since: Option<DateTime<Utc>>,
    page_token: Option<String>,
    high_water: Option<DateTime<Utc>>,
    done: bool,
    /// A feed that hands back a token it gave before would be read forever.
    tokens: RepeatGuard,
}

impl PageRun<FeedCursor> for Walk<'_> {
    /// Fetches pages until one holds records (an empty page moves on without a commit)
    /// or the feed ends.
    async fn next_page(&mut self) -> Result<Option<Page<FeedCursor>>, ConnectorError> {
        while !self.done {
            if let Some(page) = self.fetch().await? {
                return Ok(Some(page));
            }
        }
        Ok(None)
    }
}

impl Walk<'_> {
    /// One request; `None` for a page without records.
    async fn fetch(&mut self) -> Result<Option<Page<FeedCursor>>, ConnectorError> {
        let feed = self.feed;
        let mut url = feed.items_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &feed.page_size.to_string());
            if let Some(since) = self.since {
                query.append_pair("updated_since", &since.to_rfc3339_opts(SecondsFormat::Secs, true));
            }
            if let Some(token) = &self.page_token {
                query.append_pair("page_token", token);
            }
        }
        let page: FeedPage = feed.http.send_json(feed.http.get(url)).await?;
        let next_token = page.next_page_token.clone().filter(|t| !t.is_empty());
        if let Some(token) = &next_token {
            self.tokens.check(token)?;
        }
        self.page_token = next_token;
        self.done = self.page_token.is_none();
        if page.items.is_empty() {
            return Ok(None);
        }
        let newest = page.items.iter().map(|r| r.updated_at).max();
        self.high_water = self.high_water.max(newest);
        let records = page.items.into_iter().map(FeedRecord::into_record).collect();
        let next_cursor = FeedCursor {
            updated_at: self
                .high_water
                .ok_or_else(|| ConnectorError::malformed("/api/items", "page without timestamps"))?,
        };
        Ok(Some(Page::new(records, next_cursor)))
    }
}

//! Slack connector (`kind = "slack"`): the threads of configured channels as items.
//!
//! One item per thread (`mapping`). A run reads `auth.test` (the workspace URL, for
//! permalinks) and `conversations.list` (names → ids, membership), then each channel in
//! the configured order: `conversations.history` from the channel's cursor minus the
//! thread look-back (`oldest`, inclusive: the upsert key absorbs the repeat), and for
//! every parent on a page with replies, all of `conversations.replies`, so a reply
//! posted today on a thread weeks old (only its parent's `latest_reply` moves) arrives
//! with the thread. Authors come from `users.info`, cached for the run. Each history
//! page is one committed page; a channel's cursor moves only on the scan's last page,
//! to the newest message read: history comes newest first, and moving the cursor
//! earlier would skip the older, unread threads of an interrupted scan. On that last
//! page, items of the window that the scan did not see any more were deleted in Slack
//! and are tombstoned. A channel the bot cannot read (`not_in_channel`,
//! `channel_not_found`, not a member) does not stop the others: the run reads them all,
//! then fails naming every such channel and what to do. Any other error (a missing
//! scope, a refused token, a malformed page) stops the run at once, its cursor at the
//! last good page.

pub mod client;
pub mod config;
pub mod cursor;
pub mod mapping;
pub mod mrkdwn;

use std::collections::HashSet;

use chorus_core::{EntityKind, Record, Source};
use chorus_sync::endpoint::parse_endpoint;
use chorus_sync::paging::{page_stream, PageRun, RepeatGuard};
use chorus_sync::{Connector, ConnectorContext, ConnectorError, Credentials, Page, SyncMode, Unmapped};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde_json::Value;

use crate::client::{CallError, Method, SlackClient};
pub use crate::config::SlackConfig;
use crate::config::{AuthConfig, ChannelConfig};
pub use crate::cursor::{SlackCursor, Ts};
use crate::mapping::{ChannelContext, MessageRole, People};

/// A configured Slack connection.
pub struct SlackConnector {
    client: SlackClient,
    config: SlackConfig,
    credentials: Credentials,
}

impl SlackConnector {
    /// Pages of `conversations.list` until `next_cursor` is `""`.
    async fn list_channels(&self) -> Result<Vec<Value>, CallError> {
        let mut channels = Vec::new();
        let mut cursor = String::new();
        let mut guard = RepeatGuard::new("/conversations.list", "next_cursor");
        loop {
            let mut params = vec![
                ("types", "public_channel,private_channel".to_owned()),
                ("exclude_archived", "false".to_owned()),
                ("limit", "200".to_owned()),
            ];
            if !cursor.is_empty() {
                params.push(("cursor", cursor.clone()));
            }
            let page = self.client.call(Method::ConversationsList, &params).await?;
            channels.extend(page.get("channels").and_then(Value::as_array).cloned().unwrap_or_default());
            cursor = next_cursor(&page);
            if cursor.is_empty() {
                return Ok(channels);
            }
            guard.check(&cursor)?;
        }
    }

    /// Every reply of the thread of `parent` (the parent left out).
    async fn replies(&self, channel: &str, parent: Ts) -> Result<Vec<Value>, CallError> {
        let mut replies = Vec::new();
        let mut cursor = String::new();
        let mut guard = RepeatGuard::new("/conversations.replies", "next_cursor");
        loop {
            let mut params = vec![
                ("channel", channel.to_owned()),
                ("ts", parent.to_string()),
                ("limit", self.client.page_limit().to_string()),
            ];
            if !cursor.is_empty() {
                params.push(("cursor", cursor.clone()));
            }
            let page = self.client.call(Method::Replies, &params).await?;
            let messages = page.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
            replies.extend(messages.into_iter().filter(|m| mapping::ts_of(m, "ts") != Some(parent)));
            cursor = next_cursor(&page);
            if cursor.is_empty() {
                return Ok(replies);
            }
            guard.check(&cursor)?;
        }
    }

    /// Looks up the users among `ids` this run does not know yet.
    async fn learn_users(&self, people: &mut People, ids: Vec<String>) -> Result<(), CallError> {
        for id in ids {
            if people.knows(&id) {
                continue;
            }
            match self.client.call(Method::UsersInfo, &[("user", id.clone())]).await {
                Ok(answer) => people.learn(&id, answer.get("user")),
                // A user Slack does not show (deleted, another org's): unresolved.
                Err(CallError::Failed(ConnectorError::Permanent { .. })) => people.learn(&id, None),
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// `response_metadata.next_cursor`, `""` at the end: when absent, or when the page
/// says `has_more: false` (a method without `has_more` goes by the cursor alone).
fn next_cursor(page: &Value) -> String {
    if page.get("has_more").and_then(Value::as_bool) == Some(false) {
        return String::new();
    }
    page.pointer("/response_metadata/next_cursor").and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A channel as this run resolved it.
struct Target {
    context: ChannelContext,
    /// Why the channel cannot be read, found before reading it.
    blocked: Option<String>,
}

/// The scan of one channel under way.
struct Scan {
    channel: ChannelContext,
    /// `oldest` (inclusive); `None`: all history.
    window_start: Option<Ts>,
    cursor: String,
    guard: RepeatGuard,
    newest: Option<Ts>,
    seen: HashSet<Ts>,
}

/// One run over the configured channels.
struct Run<'a> {
    connector: &'a SlackConnector,
    cursor: SlackCursor,
    mode: SyncMode,
    targets: Option<Vec<Target>>,
    people: People,
    scan: Option<Scan>,
    next_index: usize,
    /// Channels that could not be read, with why (reported when all others are done).
    unreadable: Vec<String>,
    known: Option<Vec<String>>,
}

impl Run<'_> {
    async fn resolve(&mut self) -> Result<Vec<Target>, ConnectorError> {
        let connector = self.connector;
        let team_url = connector
            .client
            .call(Method::AuthTest, &[])
            .await
            .map_err(into_error)?
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let listed = connector.list_channels().await.map_err(into_error)?;
        for channel in &listed {
            if let (Some(id), Some(name)) =
                (channel.get("id").and_then(Value::as_str), channel.get("name").and_then(Value::as_str))
            {
                self.people.channel_names.insert(id.to_owned(), name.to_owned());
            }
        }
        let config = &connector.config;
        Ok(config.channels.iter().map(|wanted| target(wanted, &listed, config, team_url.clone())).collect())
    }

    /// The next page; `page_stream` asks no more after `Ok(None)` or an error.
    async fn step(&mut self) -> Result<Option<Page<SlackCursor>>, ConnectorError> {
        if self.targets.is_none() {
            self.targets = Some(self.resolve().await?);
            self.known = Some(self.connector.credentials.known_item_ids().await?);
        }
        loop {
            let mut scan = match self.scan.take() {
                Some(scan) => scan,
                None => {
                    let targets = self.targets.as_deref().unwrap_or_default();
                    let Some(target) = targets.get(self.next_index) else { break };
                    self.next_index += 1;
                    if let Some(why) = &target.blocked {
                        self.unreadable.push(why.clone());
                        continue;
                    }
                    let lookback = self.connector.config.thread_lookback_days;
                    let window_start = match self.mode {
                        SyncMode::Full => None,
                        SyncMode::Incremental => {
                            self.cursor.channels.get(&target.context.id).map(|ts| ts.minus_days(lookback))
                        }
                    };
                    Scan {
                        channel: target.context.clone(),
                        window_start,
                        cursor: String::new(),
                        guard: RepeatGuard::new("/conversations.history", "next_cursor"),
                        newest: None,
                        seen: HashSet::new(),
                    }
                }
            };
            match self.history_page(&mut scan).await {
                Ok((page, finished)) => {
                    if !finished {
                        self.scan = Some(scan);
                    }
                    return Ok(Some(page));
                }
                Err(CallError::Channel(code)) => self.unreadable.push(unreadable(&scan.channel.name, &code)),
                Err(error) => return Err(into_error(error)),
            }
        }
        if self.unreadable.is_empty() {
            return Ok(None);
        }
        Err(ConnectorError::permanent(
            "/conversations.history",
            format!("{}; the other channels were synced", self.unreadable.join("; ")),
        ))
    }

    /// Reads the next history page of `scan`, with its threads; `true` with the page
    /// when it was the scan's last.
    async fn history_page(&mut self, scan: &mut Scan) -> Result<(Page<SlackCursor>, bool), CallError> {
        let connector = self.connector;
        let channel = &scan.channel;
        let mut params = vec![("channel", channel.id.clone()), ("limit", connector.client.page_limit().to_string())];
        if let Some(start) = scan.window_start {
            params.push(("oldest", start.to_string()));
            params.push(("inclusive", "true".into()));
        }
        if !scan.cursor.is_empty() {
            params.push(("cursor", scan.cursor.clone()));
        }
        let page = connector.client.call(Method::History, &params).await?;
        let Some(messages) = page.get("messages").and_then(Value::as_array) else {
            return Err(ConnectorError::malformed("/conversations.history", "no `messages` array").into());
        };
        let mut threads = Vec::new();
        let mut vanished = Vec::new();
        let mut unmapped = Vec::new();
        for message in messages {
            let Some(ts) = mapping::ts_of(message, "ts") else {
                unmapped.push(Unmapped {
                    external_id: format!("{}:?", channel.id),
                    reason: "a message without a valid ts".into(),
                });
                continue;
            };
            let role = mapping::role(message);
            if role == MessageRole::Skip {
                continue;
            }
            let replies = if role == MessageRole::Item && mapping::has_replies(message) {
                match connector.replies(&channel.id, ts).await {
                    Ok(replies) => replies,
                    // Deleted since this page named it: the stored item stays as it is
                    // (seen, so not tombstoned now), and the next scan reads what became of it.
                    Err(CallError::ThreadGone) => {
                        tracing::warn!(channel = %channel.name, thread = %ts, "thread vanished between history and replies; left as stored");
                        vanished.push(ts);
                        continue;
                    }
                    Err(error) => return Err(error),
                }
            } else {
                Vec::new()
            };
            threads.push((ts, message, replies));
        }
        scan.seen.extend(vanished);
        let wanted = mapping::users_wanted(threads.iter().flat_map(|(_, m, r)| std::iter::once(*m).chain(r.iter())));
        connector.learn_users(&mut self.people, wanted).await?;
        let mut records = Vec::with_capacity(threads.len());
        for (ts, message, replies) in &threads {
            scan.seen.insert(*ts);
            scan.newest = scan.newest.max(Some(*ts));
            match mapping::thread(channel, message, replies, &self.people) {
                Ok(record) => records.push(record),
                Err(skipped) => unmapped.push(skipped),
            }
        }
        let next = next_cursor(&page);
        if !next.is_empty() {
            scan.guard.check(&next)?;
            scan.cursor = next;
            return Ok((Page::new(records, self.cursor.clone()).with_unmapped(unmapped), false));
        }
        // The window is read in full: what it no longer holds was deleted.
        let known = self.known.as_deref().unwrap_or_default();
        let gone = known.iter().filter(|id| {
            mapping::ts_of_external_id(&channel.id, id)
                .is_some_and(|ts| scan.window_start.is_none_or(|start| ts >= start) && !scan.seen.contains(&ts))
        });
        records.extend(gone.map(|id| Record::Deleted { entity: EntityKind::Item, external_id: id.clone() }));
        if let Some(newest) = scan.newest {
            let entry = self.cursor.channels.entry(channel.id.clone()).or_insert(newest);
            *entry = (*entry).max(newest);
        }
        Ok((Page::new(records, self.cursor.clone()).with_unmapped(unmapped), true))
    }
}

impl PageRun<SlackCursor> for Run<'_> {
    async fn next_page(&mut self) -> Result<Option<Page<SlackCursor>>, ConnectorError> {
        self.step().await
    }
}

fn into_error(error: CallError) -> ConnectorError {
    match error {
        CallError::Failed(error) => error,
        CallError::Channel(code) => ConnectorError::permanent("slack", format!("slack answered {code}")),
        CallError::ThreadGone => ConnectorError::permanent("slack", "slack answered thread_not_found"),
    }
}

/// What to tell the operator about a channel the app cannot read.
fn unreadable(name: &str, code: &str) -> String {
    match code {
        "not_in_channel" => {
            format!("cannot read #{name}: the app is not in the channel (not_in_channel); invite it with `/invite @your-app` in #{name}")
        }
        _ => format!("cannot read #{name}: slack does not show the channel to this token ({code}); check the name, or invite the app to the private channel"),
    }
}

/// The configured channel `wanted`, found in `conversations.list`.
fn target(wanted: &ChannelConfig, listed: &[Value], config: &SlackConfig, team_url: Option<String>) -> Target {
    let reference = wanted.reference();
    let field = |c: &Value, key: &str| c.get(key).and_then(Value::as_str).map(str::to_owned);
    let found = listed.iter().find(|c| {
        if wanted.is_id() {
            field(c, "id").as_deref() == Some(reference)
        } else {
            field(c, "name").is_some_and(|n| n.eq_ignore_ascii_case(reference))
        }
    });
    let kind = wanted.kind.unwrap_or(config.default_kind);
    let Some(found) = found else {
        return Target {
            context: ChannelContext {
                id: reference.to_owned(),
                name: reference.to_owned(),
                kind,
                account: None,
                team_url,
            },
            blocked: Some(unreadable(reference, "channel_not_found")),
        };
    };
    let name = field(found, "name").unwrap_or_else(|| reference.to_owned());
    let member = found.get("is_member").and_then(Value::as_bool).unwrap_or(true);
    Target {
        blocked: (!member).then(|| unreadable(&name, "not_in_channel")),
        context: ChannelContext {
            id: field(found, "id").unwrap_or_else(|| reference.to_owned()),
            name,
            kind,
            account: wanted.account.clone(),
            team_url,
        },
    }
}

impl Connector for SlackConnector {
    const KIND: &'static str = "slack";
    const SOURCE: Source = Source::Slack;

    type Config = SlackConfig;
    type Cursor = SlackCursor;

    fn validate(config: &SlackConfig, allow_insecure_endpoints: bool) -> Result<(), ConnectorError> {
        config.validate(allow_insecure_endpoints)
    }

    fn build(config: SlackConfig, ctx: ConnectorContext) -> Result<Self, ConnectorError> {
        let base = parse_endpoint("base_url", &config.base_url, ctx.allow_insecure_endpoints)?;
        let AuthConfig::Bearer(bearer) = &config.auth;
        let http = ctx.http.clone().with_auth(std::sync::Arc::new(bearer.provider()));
        let client = SlackClient::new(http, base, config.rate_mode, &config.rate_limit);
        Ok(Self { client, config, credentials: ctx.credentials.clone() })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        Box::pin(async move {
            let answer = self.client.call(Method::AuthTest, &[]).await.map_err(into_error)?;
            let text = |key: &str| answer.get(key).and_then(Value::as_str).unwrap_or("?").to_owned();
            Ok(format!("{} in {} ({})", text("user"), text("team"), text("url")))
        })
    }

    fn pages(
        &self,
        from: Option<SlackCursor>,
        mode: SyncMode,
    ) -> BoxStream<'_, Result<Page<SlackCursor>, ConnectorError>> {
        page_stream(Run {
            connector: self,
            cursor: from.unwrap_or_default(),
            mode,
            targets: None,
            people: People::default(),
            scan: None,
            next_index: 0,
            unreadable: Vec::new(),
            known: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::next_cursor;

    #[test]
    fn a_page_ends_on_an_empty_or_absent_cursor_or_has_more_false() {
        let meta = |cursor: &str| json!({"next_cursor": cursor});
        assert_eq!(next_cursor(&json!({"has_more": true, "response_metadata": meta("dXNlcjpV")})), "dXNlcjpV");
        assert_eq!(next_cursor(&json!({"response_metadata": meta("dXNlcjpV")})), "dXNlcjpV", "list has no has_more");
        assert_eq!(next_cursor(&json!({"has_more": false, "response_metadata": meta("dXNlcjpV")})), "");
        assert_eq!(next_cursor(&json!({"has_more": true, "response_metadata": meta("")})), "");
        assert_eq!(next_cursor(&json!({"has_more": true})), "");
    }
}

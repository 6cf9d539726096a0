//! The simulator's traps, over real HTTP.

use std::time::Duration;

use chrono::DateTime;
use serde_json::Value;

use super::{channels, RateMode, SlackSim, SlackSimConfig, Ts};
use crate::{FaultProfile, SimClock, SimServer};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn sim(config: SlackSimConfig) -> Result<SlackSim, Box<dyn std::error::Error>> {
    let at = DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")?.to_utc();
    Ok(SlackSim::new(config, SimClock::fixed(at)))
}

async fn get(
    server: &SimServer,
    path_and_query: &str,
    token: &str,
) -> Result<(u16, Option<String>, Value), reqwest::Error> {
    // A bare client on purpose: these tests play an arbitrary API client, not a connector.
    #[allow(clippy::disallowed_methods)]
    let client = reqwest::Client::new();
    let response = client.get(format!("{}{path_and_query}", server.url())).bearer_auth(token).send().await?;
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    Ok((status, retry_after, response.json().await?))
}

const BOT: &str = "xoxb-sim-bot-token";
const USER: &str = "xoxp-sim-user-token";

#[test]
fn ts_parses_and_orders_like_slack() {
    let a = Ts::parse("1512085950.000216");
    let b = Ts::parse("1512085950.3");
    assert_eq!(a.map(|t| t.to_string()).as_deref(), Some("1512085950.000216"));
    assert_eq!(b.map(|t| t.to_string()).as_deref(), Some("1512085950.300000"));
    assert!(a < b);
    assert_eq!(Ts::parse("1512085950").map(|t| t.micros), Some(0));
    for bad in ["", "x.1", "1.1234567", "1.-5"] {
        assert_eq!(Ts::parse(bad), None, "{bad}");
    }
}

#[tokio::test]
async fn errors_are_200_with_ok_false() -> TestResult {
    let sim = sim(SlackSimConfig::default())?;
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let (status, _, body) = get(&server, "/api/auth.test", "xoxb-wrong").await?;
    assert_eq!((status, body["ok"].as_bool(), body["error"].as_str()), (200, Some(false), Some("invalid_auth")));
    let (_, _, body) = get(&server, "/api/auth.test", "").await?;
    assert_eq!(body["error"], "not_authed");
    let path = format!("/api/conversations.history?channel={}", channels::NOT_INVITED);
    let (status, _, body) = get(&server, &path, BOT).await?;
    assert_eq!((status, body["error"].as_str()), (200, Some("not_in_channel")));
    let (_, _, body) = get(&server, &path, USER).await?;
    assert_eq!(body["ok"], true, "a user token reads every channel");
    let (_, _, body) = get(&server, "/api/conversations.history?channel=C0NOPE", BOT).await?;
    assert_eq!(body["error"], "channel_not_found");
    sim.set_scopes(&["channels:read"]);
    let path = format!("/api/conversations.history?channel={}", channels::BUGS);
    let (_, _, body) = get(&server, &path, BOT).await?;
    assert_eq!((body["error"].as_str(), body["needed"].as_str()), (Some("missing_scope"), Some("channels:history")));
    assert_eq!(body["provided"], "channels:read");
    Ok(())
}

#[tokio::test]
async fn history_pages_newest_first_and_end_with_an_empty_cursor() -> TestResult {
    let sim = sim(SlackSimConfig::default())?;
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let mut seen: Vec<Ts> = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/api/conversations.history?channel={}&limit=7&cursor={cursor}", channels::BUGS);
        let (_, _, body) = get(&server, &path, BOT).await?;
        assert_eq!(body["ok"], true, "{body}");
        let messages = body["messages"].as_array().ok_or("messages")?;
        assert!(messages.len() <= 7);
        seen.extend(messages.iter().filter_map(|m| m["ts"].as_str().and_then(Ts::parse)));
        cursor = body["response_metadata"]["next_cursor"].as_str().ok_or("next_cursor")?.to_owned();
        assert_eq!(body["has_more"].as_bool(), Some(!cursor.is_empty()));
        if cursor.is_empty() {
            break;
        }
    }
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats");
    let channel = sim.channel(channels::BUGS).ok_or("bugs")?;
    let broadcasts = channel.messages.values().flat_map(|m| m.replies.values()).filter(|r| r.subtype.is_some()).count();
    assert_eq!(seen.len(), channel.messages.len() + broadcasts, "every message once, broadcasts included");

    // `oldest` is exclusive unless `inclusive`.
    let pivot = seen[seen.len() / 2];
    let path = format!("/api/conversations.history?channel={}&limit=999&oldest={pivot}", channels::BUGS);
    let (_, _, body) = get(&server, &path, BOT).await?;
    let exclusive = body["messages"].as_array().map_or(0, Vec::len);
    let (_, _, body) = get(&server, &format!("{path}&inclusive=true"), BOT).await?;
    assert_eq!(body["messages"].as_array().map_or(0, Vec::len), exclusive + 1);
    Ok(())
}

#[tokio::test]
async fn a_late_reply_moves_only_latest_reply_and_deletions_leave_tombstones() -> TestResult {
    let sim = sim(SlackSimConfig::default())?;
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let channel = sim.channel(channels::FEATURE_REQUESTS).ok_or("channel")?;
    let old = channel
        .messages
        .values()
        .find(|m| m.subtype.is_none() && m.ts.secs < sim.clock().now().timestamp() - 30 * 86_400)
        .ok_or("an old thread")?;
    sim.clock().advance(Duration::from_secs(60));
    let reply = sim.reply(channels::FEATURE_REQUESTS, old.ts, "U0PRIYA", "late answer", false).ok_or("reply")?;
    let path = format!("/api/conversations.history?channel={}&limit=999", channels::FEATURE_REQUESTS);
    let (_, _, body) = get(&server, &path, BOT).await?;
    let parent =
        body["messages"].as_array().and_then(|m| m.iter().find(|m| m["ts"] == old.ts.to_string())).ok_or("parent")?;
    assert_eq!(parent["latest_reply"], reply.to_string());
    let path = format!("/api/conversations.replies?channel={}&ts={}&limit=2", channels::FEATURE_REQUESTS, old.ts);
    let (_, _, body) = get(&server, &path, BOT).await?;
    assert_eq!(body["messages"][0]["ts"], old.ts.to_string(), "the parent comes first");

    assert!(sim.delete(channels::FEATURE_REQUESTS, None, old.ts));
    let path = format!("/api/conversations.replies?channel={}&ts={}", channels::FEATURE_REQUESTS, old.ts);
    let (_, _, body) = get(&server, &path, BOT).await?;
    assert_eq!(body["messages"][0]["subtype"], "tombstone");
    Ok(())
}

#[tokio::test]
async fn non_marketplace_mode_caps_pages_and_allows_one_request_a_window() -> TestResult {
    let config =
        SlackSimConfig { mode: RateMode::NonMarketplace, window: Duration::from_secs(2), ..SlackSimConfig::default() };
    let sim = sim(config)?;
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let path = format!("/api/conversations.history?channel={}&limit=200", channels::BUGS);
    let (status, _, body) = get(&server, &path, BOT).await?;
    assert_eq!(status, 200);
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(15), "pages hold at most 15 messages");
    let (status, retry_after, body) = get(&server, &path, BOT).await?;
    assert_eq!((status, body["error"].as_str()), (429, Some("ratelimited")));
    let wait: u64 = retry_after.ok_or("Retry-After")?.parse()?;
    assert!((1..=2).contains(&wait), "{wait}");
    let (status, _, _) = get(&server, "/api/users.info?user=U0PRIYA", BOT).await?;
    assert_eq!(status, 200, "other methods have budgets of their own");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let (status, _, _) = get(&server, &path, BOT).await?;
    assert_eq!(status, 200, "after Retry-After the method answers again");
    assert_eq!(sim.rejections().get("conversations.history"), Some(&1));
    Ok(())
}

#[tokio::test]
async fn emails_need_their_scope_and_bots_have_none() -> TestResult {
    let sim = sim(SlackSimConfig::default())?;
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let (_, _, body) = get(&server, "/api/users.info?user=U0PRIYA", BOT).await?;
    assert_eq!(body["user"]["profile"]["email"], "priya@chorus.example");
    let (_, _, body) = get(&server, &format!("/api/users.info?user={}", super::data::NO_EMAIL_USER), BOT).await?;
    assert!(body["user"]["profile"].get("email").is_none());
    let (_, _, body) = get(&server, &format!("/api/users.info?user={}", super::data::BOT_USER), BOT).await?;
    assert_eq!(body["user"]["is_bot"], true);
    sim.set_scopes(&["users:read"]);
    let (_, _, body) = get(&server, "/api/users.info?user=U0PRIYA", BOT).await?;
    assert!(body["user"]["profile"].get("email").is_none(), "no users:read.email, no address");
    let (_, _, body) = get(&server, "/api/users.info?user=U0NOBODY", BOT).await?;
    assert_eq!(body["error"], "user_not_found");
    Ok(())
}

#[test]
fn the_workspace_has_every_trap_seeded() -> TestResult {
    let sim = sim(SlackSimConfig::default())?;
    let bugs = sim.channel(channels::BUGS).ok_or("bugs")?;
    assert!(bugs.messages.values().any(|m| m.deleted), "a tombstone");
    let features = sim.channel(channels::FEATURE_REQUESTS).ok_or("features")?;
    let kinds: Vec<Option<&str>> = features.messages.values().map(|m| m.subtype.as_deref()).collect();
    assert!(kinds.contains(&Some("bot_message")) && kinds.contains(&Some("channel_join")));
    let late = features
        .messages
        .values()
        .chain(bugs.messages.values())
        .any(|m| m.latest_reply().is_some_and(|r| r.secs - m.ts.secs > 7 * 86_400));
    assert!(late, "a reply weeks after its parent");
    assert!(features.messages.values().any(|m| m.edited.is_some()), "an edit");
    assert!(sim.channel(channels::GLOBEX_SHARED).is_some_and(|c| c.is_ext_shared));
    assert!(sim.channel(channels::ARCHIVED).is_some_and(|c| c.is_archived));
    assert!(!sim.readable_channels().contains(channels::NOT_INVITED));
    assert!(sim.users().iter().any(|u| u.email.is_none() && !u.is_bot));
    Ok(())
}

//! The simulator's traps, over real HTTP.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{ZendeskSim, ZendeskSimConfig};
use crate::{FaultProfile, SimClock, SimServer};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()).unwrap_or(DateTime::UNIX_EPOCH)
}

fn sim(limit: u32, window: Duration) -> ZendeskSim {
    let config = ZendeskSimConfig {
        tickets: 30,
        incremental_limit: limit,
        incremental_window: window,
        ..ZendeskSimConfig::default()
    };
    ZendeskSim::new(config, SimClock::fixed(at("2025-06-01T12:00:00Z")))
}

fn basic() -> String {
    let config = ZendeskSimConfig::default();
    let pair = format!("{}/token:{}", config.email, config.api_token);
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

async fn get(
    server: &SimServer,
    path_and_query: &str,
    auth: &str,
) -> Result<(u16, reqwest::header::HeaderMap, Value), reqwest::Error> {
    // A bare client on purpose: these tests play an arbitrary API client, not a connector.
    #[allow(clippy::disallowed_methods)]
    let client = reqwest::Client::new();
    let mut request = client.get(format!("{}{path_and_query}", server.url()));
    if !auth.is_empty() {
        request = request.header("authorization", auth);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, headers, body))
}

#[tokio::test]
async fn cursor_export_withholds_the_last_minute_repeats_and_shows_deletions() -> TestResult {
    let sim = sim(1000, Duration::from_secs(60));
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let auth = basic();
    let (status, headers, first) =
        get(&server, "/api/v2/incremental/tickets/cursor.json?start_time=0&per_page=10&include=users", &auth).await?;
    assert_eq!(status, 200);
    assert!(headers.contains_key("x-rate-limit") && headers.contains_key("x-rate-limit-remaining"));
    for key in ["tickets", "after_url", "before_url", "after_cursor", "before_cursor", "end_of_stream", "users"] {
        assert!(first.get(key).is_some(), "page has `{key}`");
    }
    assert_eq!(first["tickets"].as_array().map(Vec::len), Some(10));
    let after_url = first["after_url"].as_str().unwrap_or_default();
    assert!(after_url.starts_with("https://chorus-sim.zendesk.com/"), "canonical host: {after_url}");
    let last_id = first["tickets"][9]["id"].clone();
    let cursor = first["after_cursor"].as_str().unwrap_or_default().to_owned();
    let query = format!("/api/v2/incremental/tickets/cursor.json?cursor={}&per_page=10", urlencode(&cursor));
    let (_, _, second) = get(&server, &query, &auth).await?;
    assert_eq!(second["tickets"][0]["id"], last_id, "the record at the cursor is repeated");

    // An edit now is withheld for a minute.
    let boundary = sim.export_boundary().ok_or("tickets exist")?;
    assert!(sim.edit_ticket(3, |t| t.subject = "Edited".into()));
    assert!(sim.delete_ticket(4));
    let everything = "/api/v2/incremental/tickets/cursor.json?start_time=0";
    let (_, _, all) = get(&server, everything, &auth).await?;
    let ids: Vec<i64> =
        all["tickets"].as_array().map(|t| t.iter().filter_map(|t| t["id"].as_i64()).collect()).unwrap_or_default();
    assert!(!ids.contains(&3) && !ids.contains(&4), "changes of the last minute are withheld");
    let added = sim.add_ticket_at(boundary, "At the boundary", "<p>x</p>", None);
    sim.clock().advance(Duration::from_secs(61));
    let (_, _, all) = get(&server, everything, &auth).await?;
    let tickets = all["tickets"].as_array().cloned().unwrap_or_default();
    let find = |id: u64| tickets.iter().find(|t| t["id"] == id).cloned().unwrap_or(Value::Null);
    assert_eq!(find(3)["subject"], "Edited");
    assert_eq!(find(4)["status"], "deleted");
    assert_eq!(find(added)["generated_timestamp"], boundary.timestamp());
    assert_eq!(all["end_of_stream"], true);
    Ok(())
}

fn urlencode(text: &str) -> String {
    text.replace('=', "%3D").replace('+', "%2B").replace('/', "%2F")
}

#[tokio::test]
async fn organizations_export_is_time_based() -> TestResult {
    let sim = sim(1000, Duration::from_secs(60));
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let (status, _, page) =
        get(&server, "/api/v2/incremental/organizations.json?start_time=0&per_page=3", &basic()).await?;
    assert_eq!(status, 200);
    assert_eq!(page["organizations"].as_array().map(Vec::len), Some(3));
    assert_eq!(page["end_of_stream"], false);
    let end_time = page["end_time"].as_i64().ok_or("end_time")?;
    let last = page["organizations"][2]["updated_at"].as_str().map(at).ok_or("updated_at")?;
    assert_eq!(end_time, last.timestamp(), "end_time is the page's last second");
    let next = format!("/api/v2/incremental/organizations.json?start_time={end_time}");
    let (_, _, rest) = get(&server, &next, &basic()).await?;
    assert_eq!(rest["organizations"].as_array().map(Vec::len), Some(6), "the last second again, then the rest");
    assert_eq!(rest["end_of_stream"], true);
    Ok(())
}

#[tokio::test]
async fn organizations_of_one_second_come_whole_and_deleted_ones_vanish() -> TestResult {
    let sim = sim(1000, Duration::from_secs(60));
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let second = at("2025-05-01T00:00:00Z");
    let ids = sim.add_organizations_at(second, 12);
    let query = format!("/api/v2/incremental/organizations.json?start_time={}&per_page=5", second.timestamp());
    let (_, _, page) = get(&server, &query, &basic()).await?;
    assert_eq!(page["organizations"].as_array().map(Vec::len), Some(12), "a second is never split");
    assert_eq!(page["end_time"].as_i64(), Some(second.timestamp()), "end_time equals start_time");
    assert!(page["organizations"][0].get("deleted_at").is_none(), "no deleted_at in real organizations");
    assert!(sim.delete_organization(ids[0]));
    let lookup = format!("/api/v2/organizations/show_many.json?ids={},{}", ids[0], ids[1]);
    let (status, _, found) = get(&server, &lookup, &basic()).await?;
    assert_eq!(status, 200);
    let found: Vec<u64> =
        found["organizations"].as_array().ok_or("list")?.iter().filter_map(|o| o["id"].as_u64()).collect();
    assert_eq!(found, [ids[1]]);
    let too_many = (0..101).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let (status, _, _) =
        get(&server, &format!("/api/v2/organizations/show_many.json?ids={too_many}"), &basic()).await?;
    assert_eq!(status, 400);
    Ok(())
}

#[tokio::test]
async fn ticket_events_carry_comments_only_when_asked_and_repeat_the_last_second() -> TestResult {
    let config =
        ZendeskSimConfig { tickets: 30, events_page_size: 10, incremental_limit: 1000, ..ZendeskSimConfig::default() };
    let sim = ZendeskSim::new(config, SimClock::fixed(at("2025-06-01T12:00:00Z")));
    sim.purge_ticket(2);
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let path = "/api/v2/incremental/ticket_events.json";
    let (_, _, bare) = get(&server, &format!("{path}?start_time=0"), &basic()).await?;
    let children = |page: &Value| -> Vec<String> {
        let events = page["ticket_events"].as_array().cloned().unwrap_or_default();
        events
            .iter()
            .flat_map(|e| e["child_events"].as_array().cloned().unwrap_or_default())
            .filter_map(|c| c["event_type"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(!children(&bare).contains(&"Comment".to_owned()), "no comments without include");
    let mut start = 0;
    let (mut comments, mut pages, mut purged_seen) = (0, 0, false);
    loop {
        let (status, _, page) =
            get(&server, &format!("{path}?start_time={start}&include=comment_events"), &basic()).await?;
        assert_eq!(status, 200);
        pages += 1;
        let events = page["ticket_events"].as_array().ok_or("ticket_events")?;
        assert!(events.len() >= 10 || page["end_of_stream"] == true);
        purged_seen |= events.iter().any(|e| e["ticket_id"] == 2);
        comments += children(&page).iter().filter(|c| *c == "Comment").count();
        let end = page["end_time"].as_i64().ok_or("end_time")?;
        let last = events.last().and_then(|e| e["timestamp"].as_i64());
        assert_eq!(Some(end), last.or(Some(start)), "end_time is the last second");
        if page["end_of_stream"] == true || pages > 100 {
            break;
        }
        start = end;
    }
    assert!(purged_seen, "a purged ticket's events stay");
    let truth: usize = sim.truth().tickets.values().map(|t| t.comments.len()).sum();
    assert!(comments > truth, "every comment, the repeated seconds again: {comments} vs {truth}");
    let (status, _, _) =
        get(&server, &format!("{path}?start_time={}", at("2025-06-01T11:59:30Z").timestamp()), &basic()).await?;
    assert_eq!(status, 400, "too recent");
    Ok(())
}

#[tokio::test]
async fn oauth_tokens_rotate_and_expire() -> TestResult {
    let authority = crate::AuthorityConfig { max_uses: Some(2), ..crate::AuthorityConfig::default() };
    let config = ZendeskSimConfig { oauth_refresh: Some(authority.clone()), ..ZendeskSimConfig::default() };
    let sim = ZendeskSim::new(config, SimClock::fixed(at("2025-06-01T12:00:00Z")));
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    #[allow(clippy::disallowed_methods)]
    let client = reqwest::Client::new();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", authority.initial_refresh_token.as_str()),
        ("client_id", authority.client_id.as_str()),
        ("client_secret", authority.client_secret.as_str()),
    ];
    let grant: Value = client.post(format!("{}/oauth/tokens", server.url())).form(&form).send().await?.json().await?;
    let access = grant["access_token"].as_str().ok_or("access_token")?;
    assert!(grant["expires_in"].as_u64().is_some());
    assert_ne!(grant["refresh_token"].as_str(), Some(authority.initial_refresh_token.as_str()), "rotated");
    let bearer = format!("Bearer {access}");
    for expected in [200, 200, 401] {
        let (status, _, _) = get(&server, "/api/v2/incremental/organizations.json?start_time=0", &bearer).await?;
        assert_eq!(status, expected);
    }
    let again = client.post(format!("{}/oauth/tokens", server.url())).form(&form).send().await?;
    assert_eq!(again.status().as_u16(), 400, "the old refresh token died");
    assert_eq!(sim.authority().map(crate::TokenAuthority::violations), Some(1));
    Ok(())
}

#[tokio::test]
async fn a_start_time_under_a_minute_old_is_refused_by_the_sim_clock() -> TestResult {
    let sim = sim(1000, Duration::from_secs(60));
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let now = at("2025-06-01T12:00:00Z").timestamp();
    for path in ["organizations.json", "tickets/cursor.json", "users/cursor.json"] {
        let (status, headers, body) =
            get(&server, &format!("/api/v2/incremental/{path}?start_time={}", now - 59), &basic()).await?;
        assert_eq!(status, 400, "{path}");
        assert_eq!(
            body,
            serde_json::json!({"error": "InvalidValue", "description": "Too recent start_time. Use a start_time older than 1 minute"})
        );
        assert_eq!(headers.get("date").and_then(|v| v.to_str().ok()), Some("Sun, 01 Jun 2025 12:00:00 GMT"));
        let (status, _, _) =
            get(&server, &format!("/api/v2/incremental/{path}?start_time={}", now - 60), &basic()).await?;
        assert_eq!(status, 200, "{path}: a minute old is old enough");
    }
    assert_eq!(sim.too_recent_rejections(), 3);
    // A cursor is not a start_time: it may point at the newest exported record.
    let (_, _, page) = get(&server, "/api/v2/incremental/tickets/cursor.json?start_time=0", &basic()).await?;
    let cursor = page["after_cursor"].as_str().ok_or("after_cursor")?;
    let (status, _, _) =
        get(&server, &format!("/api/v2/incremental/tickets/cursor.json?cursor={}", urlencode(cursor)), &basic())
            .await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn incremental_endpoints_allow_limit_per_window() -> TestResult {
    let sim = sim(3, Duration::from_secs(2));
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let path = "/api/v2/incremental/users/cursor.json?start_time=0";
    for _ in 0..3 {
        assert_eq!(get(&server, path, &basic()).await?.0, 200);
    }
    let (status, headers, body) = get(&server, path, &basic()).await?;
    assert_eq!(status, 429);
    assert_eq!(body["error"], "APIRateLimitExceeded");
    let retry_after: u64 =
        headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).ok_or("retry-after")?;
    assert!((1..=2).contains(&retry_after));
    // Other endpoints are not limited by the incremental budget.
    assert_eq!(get(&server, "/api/v2/tickets/1/comments.json", &basic()).await?.0, 200);
    assert_eq!(sim.incremental_rejections(), 1);
    Ok(())
}

#[tokio::test]
async fn auth_accepts_email_token_and_bearer_only() -> TestResult {
    let sim = sim(1000, Duration::from_secs(60));
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let path = "/api/v2/tickets/1/comments.json?include=users";
    let (status, _, body) = get(&server, path, &basic()).await?;
    assert_eq!(status, 200);
    assert!(body["comments"][0]["html_body"].as_str().is_some_and(|h| h.contains("<p>") || h.contains("**")));
    assert_eq!(get(&server, path, "Bearer sim-oauth-token").await?.0, 200);
    assert_eq!(get(&server, path, "Bearer wrong").await?.0, 401);
    let wrong = base64::engine::general_purpose::STANDARD.encode("agent@chorus-sim.example:sim-api-token");
    assert_eq!(get(&server, path, &format!("Basic {wrong}")).await?.0, 401, "the /token suffix is required");
    let (status, _, me) = get(&server, "/api/v2/users/me.json", "").await?;
    assert_eq!(status, 200);
    assert!(me["user"]["id"].is_null(), "anonymous callers get an anonymous user");
    Ok(())
}

#[tokio::test]
async fn show_many_returns_known_users_and_refuses_over_a_hundred_ids() -> TestResult {
    let sim = sim(1000, Duration::from_secs(60));
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let known: Vec<String> = sim.users().iter().take(3).map(|u| u.id.to_string()).collect();
    let path = format!("/api/v2/users/show_many.json?ids={},1", known.join(","));
    let (status, _, body) = get(&server, &path, &basic()).await?;
    assert_eq!(status, 200);
    assert_eq!(body["users"].as_array().map(Vec::len), Some(3), "unknown ids are left out");
    assert_eq!(body["count"], 3);
    assert!(body["users"][0]["email"].is_string());
    let too_many: Vec<String> = (1..=101).map(|n| n.to_string()).collect();
    let (status, _, _) =
        get(&server, &format!("/api/v2/users/show_many.json?ids={}", too_many.join(",")), &basic()).await?;
    assert_eq!(status, 400);
    assert_eq!(sim.show_many_calls(), [4]);
    Ok(())
}

#[tokio::test]
async fn sideloads_can_be_withheld() -> TestResult {
    let config = ZendeskSimConfig { tickets: 5, sideload_users: false, ..ZendeskSimConfig::default() };
    let sim = ZendeskSim::new(config, SimClock::fixed(at("2025-06-01T12:00:00Z")));
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let path = "/api/v2/incremental/tickets/cursor.json?start_time=0&include=users";
    let (status, _, page) = get(&server, path, &basic()).await?;
    assert_eq!(status, 200);
    assert_eq!(page["tickets"].as_array().map(Vec::len), Some(5));
    assert!(page.get("users").is_none(), "no requesters sideloaded");
    Ok(())
}

#[tokio::test]
async fn the_account_limit_answers_like_zendesk() -> TestResult {
    let config = ZendeskSimConfig { tickets: 5, account_limit: Some(2), ..ZendeskSimConfig::default() };
    let sim = ZendeskSim::new(config, SimClock::fixed(at("2025-06-01T12:00:00Z")));
    let server = SimServer::start(sim.router(), FaultProfile::none()).await?;
    let path = "/api/v2/tickets/1/comments.json";
    let (status, headers, _) = get(&server, path, &basic()).await?;
    assert_eq!(status, 200);
    let header = |headers: &reqwest::header::HeaderMap, name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
    };
    assert_eq!(header(&headers, "x-rate-limit"), Some(2));
    assert_eq!(header(&headers, "x-rate-limit-remaining"), Some(1));
    assert_eq!(header(&headers, "ratelimit-limit"), Some(2));
    assert!(header(&headers, "ratelimit-reset").is_some_and(|s| (1..=60).contains(&s)));
    assert_eq!(get(&server, path, &basic()).await?.0, 200);
    let (status, headers, body) = get(&server, path, &basic()).await?;
    assert_eq!(status, 429);
    assert_eq!(body["error"], "APIRateLimitExceeded");
    assert_eq!(header(&headers, "x-rate-limit-remaining"), Some(0));
    assert!(header(&headers, "retry-after").is_some_and(|s| (1..=60).contains(&s)));
    assert_eq!(sim.account_rejections(), 1);
    Ok(())
}

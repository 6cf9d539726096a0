//! The feed simulator's wire protocol over real loopback HTTP.

mod common;

use std::collections::HashSet;

use chorus_sim::{AuthorityConfig, FaultProfile, FeedSim, SimClock, SimServer, TokenAuthority};
use chrono::{DateTime, Utc};
use serde_json::Value;

async fn get(url: &str) -> (u16, Value) {
    let response = common::client().get(url).send().await.expect("request succeeds");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Reads every page from `updated_since`, returning the items in order.
async fn read_all(base: &str, since: Option<&str>, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..1000 {
        let mut url = format!("{base}/api/items?limit={limit}");
        if let Some(since) = since {
            url.push_str(&format!("&updated_since={}", since.replace('+', "%2B")));
        }
        if let Some(token) = &token {
            url.push_str(&format!("&page_token={token}"));
        }
        let (status, body) = get(&url).await;
        assert_eq!(status, 200, "{body}");
        items.extend(body["items"].as_array().cloned().unwrap_or_default());
        match body["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => return items,
        }
    }
    panic!("pagination did not end");
}

fn fixed_clock() -> SimClock {
    SimClock::fixed(DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z").expect("literal").to_utc())
}

#[tokio::test]
async fn pagination_returns_every_record_once_in_order() {
    let feed = FeedSim::seeded_with_clock(3, 250, fixed_clock());
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    let items = read_all(&server.url(), None, 40).await;
    let ids: Vec<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids.len(), 250);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 250, "no duplicates without the fault");
    let keys: Vec<(String, String)> =
        items.iter().map(|i| (i["updated_at"].as_str().unwrap_or("").to_owned(), i["id"].to_string())).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by (updated_at, id)");
    let truth: HashSet<String> = feed.truth().into_iter().map(|r| r.id).collect();
    assert_eq!(truth, ids.iter().map(|s| (*s).to_owned()).collect::<HashSet<_>>());
}

#[tokio::test]
async fn many_records_share_a_second() {
    let feed = FeedSim::seeded_with_clock(3, 250, fixed_clock());
    let truth = feed.truth();
    let distinct: HashSet<DateTime<Utc>> = truth.iter().map(|r| r.updated_at).collect();
    assert!(distinct.len() < truth.len() * 9 / 10, "{} distinct seconds for {}", distinct.len(), truth.len());
}

#[tokio::test]
async fn lower_bound_is_inclusive_and_sees_edits_at_the_boundary() {
    let clock = fixed_clock();
    let feed = FeedSim::seeded_with_clock(5, 60, clock.clone());
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    let all = read_all(&server.url(), None, 500).await;
    let last = all.last().expect("records").clone();
    let cursor = last["updated_at"].as_str().expect("updated_at").to_owned();
    // Place an edit exactly at the cursor's second.
    let boundary = DateTime::parse_from_rfc3339(&cursor).expect("rfc3339").to_utc();
    clock.set(boundary);
    let edited = feed.edit("FB-1", |r| r.title = "edited at the boundary".into()).expect("FB-1 exists");
    assert_eq!(edited.updated_at, boundary);
    let again = read_all(&server.url(), Some(&cursor), 500).await;
    let ids: Vec<&str> = again.iter().filter_map(|i| i["id"].as_str()).collect();
    assert!(ids.contains(&last["id"].as_str().unwrap_or("?")), "inclusive bound repeats the boundary record");
    assert!(ids.contains(&"FB-1"), "an edit at the boundary second is seen: {ids:?}");
}

#[tokio::test]
async fn deletions_appear_as_tombstones_and_leave_the_truth() {
    let clock = fixed_clock();
    let feed = FeedSim::seeded_with_clock(5, 20, clock.clone());
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    clock.advance(std::time::Duration::from_secs(60));
    assert!(feed.delete("FB-3"));
    assert!(!feed.delete("FB-3"), "deleting twice is refused");
    let added = feed.add(|r| r.title = "brand new".into());
    let since = clock.now().to_rfc3339();
    let items = read_all(&server.url(), Some(&since), 100).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0]["id"], "FB-21");
    assert_eq!(items[0]["title"], "brand new");
    assert_eq!(items[1], serde_json::json!({"id": "FB-3", "deleted": true, "updated_at": "2025-06-01T12:01:00Z"}));
    assert!(feed.truth().iter().all(|r| r.id != "FB-3"));
    assert_eq!(added.id, "FB-21");
}

#[tokio::test]
async fn duplicates_fault_repeats_the_previous_last_record() {
    let feed = FeedSim::seeded_with_clock(9, 30, fixed_clock());
    feed.set_duplicates_across_pages(true);
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    let (_, first) = get(&format!("{}/api/items?limit=10", server.url())).await;
    let token = first["next_page_token"].as_str().expect("more pages");
    let (_, second) = get(&format!("{}/api/items?limit=10&page_token={token}", server.url())).await;
    assert_eq!(second["items"][0], first["items"][9]);
    let items = read_all(&server.url(), None, 10).await;
    let distinct: HashSet<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(distinct.len(), 30, "every record still served");
    assert!(items.len() > 30, "with repeats");
}

#[tokio::test]
async fn bad_parameters_are_400_not_500() {
    let feed = FeedSim::seeded(1, 5);
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    for query in ["updated_since=yesterday", "page_token=!!!", "limit=-3"] {
        let (status, body) = get(&format!("{}/api/items?{query}", server.url())).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["error"].is_string());
    }
    let (status, body) = get(&format!("{}/api/items?limit=100000", server.url())).await;
    assert_eq!((status, body["items"].as_array().map(Vec::len)), (200, Some(5)));
}

#[tokio::test]
async fn authenticated_feed_requires_a_bearer_token() {
    let authority = TokenAuthority::new(AuthorityConfig::default());
    let feed = FeedSim::seeded(1, 5).with_auth(authority.clone());
    let server = SimServer::start(feed.router(), FaultProfile::none()).await.expect("server starts");
    let client = common::client();
    let refused = client.get(format!("{}/api/me", server.url())).send().await.expect("sent");
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("www-authenticate").is_some());
    let grant: Value = client
        .post(format!("{}/oauth/token", server.url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "sim-refresh-0"),
            ("client_id", "sim-client"),
            ("client_secret", "sim-client-secret"),
        ])
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let token = grant["access_token"].as_str().expect("access token");
    let me: Value = client
        .get(format!("{}/api/me", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(me["name"], "Feed Simulator");
}

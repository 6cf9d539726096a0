//! The simulator over real HTTP: shapes, paging, the resume predicate, errors, quota
//! and sessions.

use serde_json::{json, Value};

use super::*;
use crate::{FaultProfile, SimServer};

#[tokio::test]
async fn token_answers_name_the_other_host_and_carry_no_expiry() {
    let org = Org::start(SalesforceSimConfig::default()).await;
    let answer = org
        .token_answer(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "sim-refresh-0"),
            ("client_id", "sim-client"),
            ("client_secret", "sim-client-secret"),
        ])
        .await;
    assert_eq!(answer["instance_url"], org.instance.url().as_str());
    assert_ne!(org.instance.url(), org.login.url());
    assert!(answer.get("expires_in").is_none(), "{answer}");
    let refused = org
        .token_answer(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", "a.b.c")])
        .await;
    assert!(refused.get("access_token").is_none(), "{refused}");
    assert_eq!(org.sim.jwt_grants(), 0);
}

struct Org {
    sim: SalesforceSim,
    login: SimServer,
    instance: SimServer,
    client: reqwest::Client,
    token: String,
}

impl Org {
    async fn start(config: SalesforceSimConfig) -> Self {
        let sim = SalesforceSim::new(config, SimClock::system());
        let servers = sim.start(FaultProfile::none(), FaultProfile::none()).await.expect("servers");
        let (sim, login, instance) = (servers.sim, servers.login, servers.instance);
        // A bare client on purpose: these tests play an arbitrary API client, not a connector.
        #[allow(clippy::disallowed_methods)]
        let client = reqwest::Client::new();
        let mut org = Self { sim, login, instance, client, token: String::new() };
        org.token = org.grant().await;
        org
    }

    /// The login host's answer to a token request with `form`.
    async fn token_answer(&self, form: &[(&str, &str)]) -> Value {
        let response = self.client.post(format!("{}{TOKEN_PATH}", self.login.url())).form(form).send().await;
        response.expect("token").json().await.expect("token json")
    }

    async fn grant(&self) -> String {
        let form =
            [("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "sim-client-secret")];
        let answer = self.token_answer(&form).await;
        answer["access_token"].as_str().expect("access token").to_owned()
    }

    async fn get(&self, path_and_query: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = self
            .client
            .get(format!("{}{path_and_query}", self.instance.url()))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.json().await.expect("json"))
    }

    async fn soql(&self, endpoint: &str, soql: &str) -> (u16, Value) {
        let mut url = reqwest::Url::parse("http://sim.invalid/").expect("base");
        url.set_path(&format!("/services/data/v62.0/{endpoint}"));
        url.query_pairs_mut().append_pair("q", soql);
        let url = format!("{}?{}", url.path(), url.query().unwrap_or_default());
        let (status, _, body) = self.get(&url).await;
        (status, body)
    }
}

const CASES: &str = "SELECT Id, Subject, SystemModstamp FROM Case ORDER BY SystemModstamp, Id";

#[tokio::test]
async fn pages_follow_next_records_url_in_modstamp_then_id_order() {
    let org = Org::start(SalesforceSimConfig { batch_size: 7, ..SalesforceSimConfig::default() }).await;
    let (status, first) = org.soql("query", CASES).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["totalSize"], 60);
    assert_eq!(first["done"], false);
    assert_eq!(first["records"].as_array().map(Vec::len), Some(7));
    assert_eq!(first["records"][0]["attributes"]["type"], "Case");
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut body = first;
    loop {
        for record in body["records"].as_array().expect("records") {
            let stamp = soql::parse_datetime(record["SystemModstamp"].as_str().expect("stamp")).expect("datetime");
            seen.push((stamp.to_rfc3339(), record["Id"].as_str().expect("id").to_owned()));
        }
        let Some(next) = body["nextRecordsUrl"].as_str() else { break };
        assert!(next.starts_with("/services/data/v62.0/query/01g"), "{next}");
        let (status, _, more) = org.get(next).await;
        assert_eq!(status, 200, "{more}");
        body = more;
    }
    assert_eq!(body["done"], true);
    assert_eq!(seen.len(), 60);
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]), "ordered by (SystemModstamp, Id), no repeats");
    let shared = seen.iter().filter(|(stamp, _)| seen.iter().filter(|(other, _)| other == stamp).count() > 1).count();
    assert!(shared >= 5, "several cases share one SystemModstamp ({shared})");

    // The resume predicate from the middle of a tie returns exactly the rest.
    let (stamp, id) = seen.iter().find(|(s, _)| seen.iter().filter(|(o, _)| o == s).count() > 2).expect("a tie");
    let at = soql::format_datetime(DateTime::parse_from_rfc3339(stamp).expect("rfc3339").to_utc());
    let resume = format!(
        "SELECT Id, SystemModstamp FROM Case WHERE SystemModstamp > {at} OR (SystemModstamp = {at} AND Id > '{id}') \
         ORDER BY SystemModstamp, Id"
    );
    org.sim.set_batch_size(2000);
    let (status, rest) = org.soql("query", &resume).await;
    assert_eq!(status, 200, "{rest}");
    let position = seen.iter().position(|(s, i)| s == stamp && i == id).expect("position");
    assert_eq!(rest["totalSize"].as_u64(), Some((seen.len() - position - 1) as u64));
}

#[tokio::test]
async fn the_recycle_bin_is_only_in_query_all() {
    let org = Org::start(SalesforceSimConfig::default()).await;
    let deleted = "SELECT Id, IsDeleted FROM Opportunity WHERE IsDeleted = true";
    let (_, live) = org.soql("query", deleted).await;
    assert_eq!(live["totalSize"], 0, "query never returns deleted records");
    let (_, bin) = org.soql("queryAll", deleted).await;
    assert_eq!(bin["totalSize"], 2, "{bin}");
    let (_, with_amounts) = org.soql("query", "SELECT Id, Amount, CurrencyIsoCode FROM Opportunity LIMIT 1").await;
    assert!(with_amounts["records"][0]["Amount"].is_f64(), "amounts are JSON floats");
}

#[tokio::test]
async fn errors_name_the_field_and_object_in_salesforce_shape() {
    let org = Org::start(SalesforceSimConfig::default()).await;
    org.sim.remove_field("Opportunity", "Product_Gap__c");
    let (status, body) = org.soql("query", "SELECT Id, Product_Gap__c FROM Opportunity").await;
    assert_eq!(status, 400);
    assert_eq!(body[0]["errorCode"], "INVALID_FIELD");
    let message = body[0]["message"].as_str().expect("message");
    assert!(message.contains("No such column 'Product_Gap__c' on entity 'Opportunity'"), "{message}");

    let cases = [
        ("SELECT Id FROM Case WHERE Description = 'x'", "INVALID_FIELD", "can not be filtered"),
        (
            "SELECT Id FROM Case WHERE SystemModstamp > '2024-01-01T00:00:00.000+0000'",
            "INVALID_FIELD",
            "enclosed in quotes",
        ),
        ("SELECT Id FROM Case WHERE Subject LIKE 'x%'", "MALFORMED_QUERY", "LIKE"),
        ("SELECT Id FROM Widget__c", "INVALID_TYPE", "Widget__c"),
        ("SELECT Id, CurrencyIsoCode FROM Account", "", ""),
    ];
    for (soql, code, words) in cases {
        let (status, body) = org.soql("query", soql).await;
        if code.is_empty() {
            assert_eq!(status, 200, "{soql}: {body}");
            continue;
        }
        assert_eq!((status, body[0]["errorCode"].as_str()), (400, Some(code)), "{soql}: {body}");
        assert!(body[0]["message"].as_str().is_some_and(|m| m.contains(words)), "{soql}: {body}");
    }
    org.sim.set_multi_currency(false);
    let (status, body) = org.soql("query", "SELECT Id, CurrencyIsoCode FROM Account").await;
    assert_eq!((status, body[0]["errorCode"].as_str()), (400, Some("INVALID_FIELD")), "{body}");
}

#[tokio::test]
async fn usage_is_reported_and_the_quota_refuses_past_it() {
    let org = Org::start(SalesforceSimConfig { daily_quota: 3, ..SalesforceSimConfig::default() }).await;
    for used in 1..=3 {
        let (status, headers, _) = org.get("/services/data/v62.0/limits").await;
        assert_eq!(status, 200);
        assert_eq!(headers["sforce-limit-info"], format!("api-usage={used}/3").as_str());
    }
    let (status, headers, body) = org.get("/services/data/v62.0/limits").await;
    assert_eq!(status, 403);
    assert_eq!(body, json!([{ "message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED" }]));
    assert_eq!(headers["sforce-limit-info"], "api-usage=3/3");
    assert_eq!(org.sim.quota_refusals(), 1);
}

#[tokio::test]
async fn expired_sessions_and_locators_answer_as_salesforce_does() {
    let org = Org::start(SalesforceSimConfig { batch_size: 5, ..SalesforceSimConfig::default() }).await;
    let (_, first) = org.soql("query", CASES).await;
    let next = first["nextRecordsUrl"].as_str().expect("next").to_owned();
    org.sim.expire_locators();
    let (status, _, body) = org.get(&next).await;
    assert_eq!(status, 400);
    assert_eq!(body[0]["errorCode"], "INVALID_QUERY_LOCATOR");

    org.sim.expire_sessions();
    let (status, _, body) = org.get("/services/data/v62.0/limits").await;
    assert_eq!(status, 401);
    assert_eq!(body, json!([{ "message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID" }]));
    let (status, _, _) = org.get("/services/data/v9.0/limits").await;
    assert_eq!(status, 401, "the session is checked before anything else");
    let _ = &org.login;
}

#[tokio::test]
async fn a_purged_record_is_gone_from_query_all_and_in_lists_find_the_survivors() {
    let org = Org::start(SalesforceSimConfig::default()).await;
    let ids: Vec<String> = org.sim.records("Case").keys().take(3).cloned().collect();
    assert!(ids.iter().all(|id| id.len() == 18), "ids are 18 characters, as Salesforce's: {ids:?}");
    assert!(org.sim.delete("Case", &ids[0]), "into the recycle bin");
    assert!(org.sim.purge("Case", &ids[0]), "then emptied from it");
    assert!(org.sim.purge("Case", &ids[1]), "hard-deleted while live");
    assert!(!org.sim.purge("Case", &ids[1]), "only once");
    let (_, bin) = org.soql("queryAll", "SELECT Id FROM Case WHERE IsDeleted = true").await;
    let binned: Vec<&str> = bin["records"].as_array().into_iter().flatten().filter_map(|r| r["Id"].as_str()).collect();
    assert!(!binned.contains(&ids[0].as_str()) && !binned.contains(&ids[1].as_str()), "{bin}");
    let list = ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(", ");
    let (status, found) = org.soql("query", &format!("SELECT Id FROM Case WHERE Id IN ({list})")).await;
    assert_eq!(status, 200, "{found}");
    let found: Vec<&str> = found["records"].as_array().into_iter().flatten().filter_map(|r| r["Id"].as_str()).collect();
    assert_eq!(found, vec![ids[2].as_str()]);
    let truth = org.sim.truth();
    let deleted = truth.deleted.get("Case").cloned().unwrap_or_default();
    assert!(deleted.contains(&ids[0]) && deleted.contains(&ids[1]), "the truth counts purges as deletions");
    assert!(!truth.live.get("Case").is_some_and(|live| live.contains_key(&ids[1])));
}

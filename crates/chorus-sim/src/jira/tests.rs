//! Tests of the Jira simulator: behaviour, and its responses against the vendor's
//! OpenAPI response schemas (read from `../shared/fixtures`, skipped when absent).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::*;
use crate::clock::SimClock;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).map(|t| t.to_utc()).unwrap_or_default()
}

fn sim() -> JiraSim {
    JiraSim::seeded_with_clock(7, 60, SimClock::fixed(at("2024-06-15T12:00:00Z")))
}

fn body(jql: &str, fields: &[&str], max: u32, token: Option<&str>) -> SearchBody {
    SearchBody {
        jql: Some(jql.to_owned()),
        fields: Some(fields.iter().map(|f| (*f).to_owned()).collect()),
        max_results: Some(max),
        next_page_token: token.map(str::to_owned),
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["issues"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[test]
fn pages_cover_every_match_once_in_order() {
    let sim = sim();
    let jql = "project in (PROD, SUP, IDEA) ORDER BY updated ASC, key ASC";
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = sim.search(&body(jql, &["updated"], 7, token.as_deref())).expect("search");
        seen.extend(ids(&page));
        match page["nextPageToken"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => {
                assert_eq!(page["isLast"], json!(true));
                break;
            }
        }
    }
    let mut truth: Vec<SimIssue> = sim.truth();
    truth.sort_by_key(|i| (i.updated, i.project.clone(), i.number));
    assert_eq!(seen, truth.iter().map(|i| i.id.to_string()).collect::<Vec<_>>());
}

#[test]
fn fields_default_to_id_only_and_are_honoured() {
    let sim = sim();
    let page = sim.search(&SearchBody { jql: Some("project = PROD".into()), ..SearchBody::default() }).expect("search");
    let first = &page["issues"][0];
    assert_eq!(first.as_object().map(|o| o.len()), Some(1), "{first}");
    let page = sim.search(&body("project = PROD", &["summary", "comment"], 5, None)).expect("search");
    let fields = page["issues"][0]["fields"].as_object().cloned().unwrap_or_default();
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["comment", "summary"]);
}

#[test]
fn dates_are_read_in_the_users_zone_at_minute_granularity() {
    let sim = sim();
    let edited = sim.clock().now();
    sim.edit("PROD-1", |i| i.summary = "edited".into());
    // 12:00Z is 05:00 in Los Angeles (PDT): "05:00" includes it, "05:01" does not.
    let hits = |bound: &str| {
        ids(&sim
            .search(&body(&format!("project = PROD AND updated >= \"{bound}\""), &["id"], 100, None))
            .expect("search"))
    };
    assert_eq!(edited, at("2024-06-15T12:00:00Z"));
    assert!(!hits("2024-06-15 05:00").is_empty());
    assert!(hits("2024-06-15 05:01").is_empty());
    // Read as UTC, the bound would be 7 hours late and miss the edit.
    assert!(hits("2024-06-15 12:00").is_empty());
}

#[test]
fn traps_answer_like_jira() {
    let sim = sim();
    let unbounded = sim.search(&body("ORDER BY updated", &["id"], 10, None)).expect_err("unbounded");
    assert_eq!(unbounded.0, StatusCode::BAD_REQUEST);
    assert!(sim.search(&body("project = PROD", &["id"], 10, Some("garbage"))).is_err());
    assert!(sim.search(&body("assignee = currentUser()", &["id"], 10, None)).is_err());
    assert_eq!(sim.comments("NOPE-1", 0, 10).expect_err("missing").0, StatusCode::NOT_FOUND);
}

#[test]
fn mutations_are_visible_and_deletions_vanish() {
    let sim = sim();
    let added = sim.add("SUP", |i| i.summary = "brand new".into());
    assert_eq!(sim.issue(&added.key()).map(|i| i.summary), Some("brand new".to_owned()));
    assert!(sim.delete("PROD-2"));
    assert!(!sim.delete("PROD-2"));
    let page = sim.search(&body("key in (PROD-3, PROD-4)", &["id"], 10, None)).expect("search");
    assert_eq!(ids(&page).len(), 2);
    let comment = sim.add_comment("PROD-3", data::agents()[0].clone(), "hello", false).expect("comment");
    let page = sim.comments("PROD-3", 0, 5000).expect("comments");
    assert_eq!(
        page["comments"].as_array().and_then(|c| c.last()).map(|c| c["id"].clone()),
        Some(json!(comment.id.to_string()))
    );
}

fn bulk(ids_or_keys: &[&str]) -> BulkFetchBody {
    BulkFetchBody {
        issue_ids_or_keys: Some(ids_or_keys.iter().map(|i| (*i).to_owned()).collect()),
        fields: Some(vec!["project".into()]),
        fields_by_keys: Some(false),
        ..BulkFetchBody::default()
    }
}

#[test]
fn jql_naming_a_deleted_issue_is_refused_like_jira() {
    let sim = sim();
    let gone = sim.issue("PROD-2").expect("seeded").id.to_string();
    let kept = sim.issue("PROD-3").expect("seeded").id.to_string();
    let by_id = format!("project = PROD AND id in ({kept}, {gone})");
    assert_eq!(ids(&sim.search(&body(&by_id, &["id"], 10, None)).expect("both exist")).len(), 2);
    assert!(sim.delete("PROD-2"));
    let (status, error) = sim.search(&body(&by_id, &["id"], 10, None)).expect_err("an unknown id");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error,
        json!({"errorMessages": [format!("An issue with key '{gone}' does not exist for field 'id'.")], "errors": {}})
    );
    // Also inside OR / NOT, and for keys; ranges and other fields are not checked.
    let (status, error) =
        sim.search(&body("project = SUP OR key not in (prod-2)", &["id"], 10, None)).expect_err("key");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["errorMessages"][0], json!("An issue with key 'prod-2' does not exist for field 'key'."));
    assert!(sim.search(&body(&format!("project = PROD AND id in ({kept})"), &["id"], 10, None)).is_ok());
    assert!(sim.search(&body("project = PROD AND id > 99999999", &["id"], 10, None)).is_ok());
}

#[test]
fn bulk_fetch_leaves_deleted_issues_out_and_reports_retriable_errors() {
    let sim = sim();
    let [a, b, c] = ["PROD-1", "SUP-1", "IDEA-1"].map(|key| sim.issue(key).expect("seeded").id);
    assert!(sim.delete("SUP-1"));
    sim.set_bulkfetch_errors(&[c]);
    let wanted = [c.to_string(), b.to_string(), "PROD-1".to_owned(), "99999999".to_owned()];
    let answer = sim.bulk_fetch(&bulk(&wanted.iter().map(String::as_str).collect::<Vec<_>>())).expect("200");
    assert_eq!(ids(&answer), [a.to_string()], "only what exists, by id or key, in id order");
    assert_eq!(answer["issues"][0]["fields"]["project"]["key"], json!("PROD"));
    assert_eq!(
        answer["issueErrors"],
        json!([{"id": c.to_string(), "errorMessage": "The issue could not be retrieved. Try again later."}])
    );
    let too_many: Vec<String> = (0..=BULK_FETCH_MAX).map(|n| (10_000 + n).to_string()).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    assert_eq!(sim.bulk_fetch(&bulk(&too_many)).expect_err("over 100").0, StatusCode::BAD_REQUEST);
    assert_eq!(sim.bulk_fetch(&bulk(&[])).expect_err("none").0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bulk_fetch_is_served_over_http() -> Result<(), Box<dyn std::error::Error>> {
    let sim = sim();
    let id = sim.issue("PROD-1").map(|i| i.id.to_string()).ok_or("seeded")?;
    let server = crate::SimServer::start(sim.router(), crate::FaultProfile::none()).await?;
    // A bare client on purpose: this test plays an arbitrary API client, not a connector.
    #[allow(clippy::disallowed_methods)]
    let client = reqwest::Client::new();
    let url = format!("{}/rest/api/3/issue/bulkfetch", server.url());
    let request = json!({"issueIdsOrKeys": [id, "10"], "fields": ["project"], "fieldsByKeys": false});
    let answer: Value = client.post(&url).json(&request).send().await?.error_for_status()?.json().await?;
    assert_eq!(ids(&answer), [id]);
    assert_eq!(answer["issueErrors"], json!([]));
    let unknown = client.post(&url).json(&json!({"issueIdsOrKeys": ["1"], "bogus": 1})).send().await?;
    assert_eq!(unknown.status().as_u16(), 400, "BulkFetchIssueRequestBean has no other properties");
    Ok(())
}

// --- OpenAPI response validation ------------------------------------------------------

fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: {} not found", dir.display());
        None
    }
}

/// A small validator for the parts of OpenAPI 3 schemas the Jira spec uses:
/// `$ref`, `allOf`, `type`, `properties`, `additionalProperties`, `items`,
/// `required` and `enum`. Returns every violation with its JSON path.
struct Validator<'a> {
    spec: &'a Value,
}

impl Validator<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        let mut current = schema;
        for _ in 0..16 {
            match current.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    let pointer = reference.trim_start_matches('#');
                    current = self.spec.pointer(pointer).unwrap_or(&Value::Null);
                }
                None => break,
            }
        }
        current
    }

    fn check(&self, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.check(part, value, path, errors);
            }
        }
        if value.is_null() && schema.get("nullable") == Some(&json!(true)) {
            return;
        }
        if let Some(kind) = schema.get("type").and_then(Value::as_str) {
            let ok = match kind {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "boolean" => value.is_boolean(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                _ => true,
            };
            if !ok {
                errors.push(format!("{path}: expected {kind}, got {value}"));
                return;
            }
        }
        if let (Some(options), Some(text)) = (schema.get("enum").and_then(Value::as_array), value.as_str()) {
            if !options.iter().any(|o| o.as_str() == Some(text)) {
                errors.push(format!("{path}: `{text}` not in enum"));
            }
        }
        if let Some(object) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                if let Some(name) = required.as_str() {
                    if !object.contains_key(name) {
                        errors.push(format!("{path}: missing required `{name}`"));
                    }
                }
            }
            for (name, child) in object {
                let child_path = format!("{path}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(child_schema) => self.check(child_schema, child, &child_path, errors),
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => errors.push(format!("{child_path}: not allowed by the schema")),
                        Some(extra @ Value::Object(_)) => self.check(extra, child, &child_path, errors),
                        _ => {}
                    },
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (index, child) in array.iter().enumerate() {
                self.check(items, child, &format!("{path}[{index}]"), errors);
            }
        }
    }

    fn response_schema(&self, path: &str, method: &str) -> &Value {
        let pointer =
            format!("/paths/{}/{method}/responses/200/content/application~1json/schema", path.replace('/', "~1"));
        self.spec.pointer(&pointer).unwrap_or(&Value::Null)
    }
}

#[test]
fn responses_match_the_vendor_openapi_schemas() {
    let Some(dir) = fixtures() else {
        return;
    };
    let raw =
        std::fs::read_to_string(dir.join("openapi/jira-cloud-platform-swagger-v3.v3.json")).expect("spec readable");
    let spec: Value = serde_json::from_str(&raw).expect("spec parses");
    let validator = Validator { spec: &spec };
    let sim = sim();
    sim.set_embedded_comments(2);
    let fields = [
        "summary",
        "issuetype",
        "status",
        "priority",
        "labels",
        "description",
        "comment",
        "reporter",
        "creator",
        "created",
        "updated",
        "project",
        ORGANIZATIONS_FIELD,
    ];
    let first =
        sim.search(&body("project in (PROD, SUP) ORDER BY updated ASC, key ASC", &fields, 5, None)).expect("search");
    let token = first["nextPageToken"].as_str().map(str::to_owned);
    assert!(token.is_some());
    let ids_only =
        sim.search(&SearchBody { jql: Some("project = IDEA".into()), ..SearchBody::default() }).expect("search");
    let busiest = sim.truth().into_iter().max_by_key(|i| i.comments.len()).map(|i| i.key()).unwrap_or_default();
    sim.set_bulkfetch_errors(&[10_003]);
    let bulk_fetched = sim.bulk_fetch(&bulk(&["10001", "10002", "10003", "99999999"])).expect("bulk fetch");
    let cases = [
        ("/rest/api/3/search/jql", "post", first.clone()),
        ("/rest/api/3/search/jql", "get", ids_only),
        ("/rest/api/3/myself", "get", sim.myself()),
        ("/rest/api/3/issue/{issueIdOrKey}/comment", "get", sim.comments(&busiest, 0, 3).expect("comments")),
        ("/rest/api/3/issue/bulkfetch", "post", bulk_fetched),
    ];
    for (path, method, response) in cases {
        let schema = validator.response_schema(path, method);
        assert!(!schema.is_null(), "no schema for {method} {path}");
        let mut errors = Vec::new();
        validator.check(schema, &response, "$", &mut errors);
        assert!(errors.is_empty(), "{method} {path}: {errors:#?}");
    }
    // The validator does catch drift.
    let mut drifted = first.clone();
    drifted["total"] = json!(3);
    drifted["issues"][0]["id"] = json!(10001);
    let mut errors = Vec::new();
    validator.check(validator.response_schema("/rest/api/3/search/jql", "post"), &drifted, "$", &mut errors);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    // The embedded comment page is a PageOfComments too.
    let page = &first["issues"][0]["fields"]["comment"];
    let mut errors = Vec::new();
    validator.check(&json!({"$ref": "#/components/schemas/PageOfComments"}), page, "$.comment", &mut errors);
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn issue_shape_matches_the_recorded_fixture() {
    let Some(dir) = fixtures() else {
        return;
    };
    let raw = std::fs::read_to_string(dir.join("jira/airbyte_issues_airbyteio.json")).expect("fixture readable");
    let recorded: Value = serde_json::from_str(&raw).expect("fixture parses");
    let recorded_issue = &recorded["issues"][0];
    let sim = sim();
    let page = sim.search(&body("project = PROD", &["*all"], 1, None)).expect("search");
    let ours = &page["issues"][0];
    // Every field our issues send exists in the recording with the same JSON type,
    // recursively for the objects the connector reads.
    for name in ["issuetype", "status", "priority", "reporter", "project", "comment", "description"] {
        let (a, b) = (&ours["fields"][name], &recorded_issue["fields"][name]);
        for key in a.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            assert!(b.get(&key).is_some(), "fields.{name}.{key} is not in the recording");
            assert_eq!(
                std::mem::discriminant(&a[&key]),
                std::mem::discriminant(&b[&key]),
                "fields.{name}.{key} type differs"
            );
        }
    }
    for key in ["created", "updated"] {
        let ours = ours["fields"][key].as_str().unwrap_or_default();
        assert!(DateTime::parse_from_str(ours, "%Y-%m-%dT%H:%M:%S%.3f%z").is_ok(), "{key}: {ours}");
    }
}

#[tokio::test]
async fn rate_limits_answer_with_jiras_headers() -> Result<(), Box<dyn std::error::Error>> {
    let sim = sim();
    let server = crate::SimServer::start(sim.router(), crate::FaultProfile::none()).await?;
    // A bare client on purpose: this test plays an arbitrary API client, not a connector.
    #[allow(clippy::disallowed_methods)]
    let client = reqwest::Client::new();
    let url = format!("{}/rest/api/3/myself", server.url());
    let unlimited = client.get(&url).send().await?;
    assert!(unlimited.headers().get("x-ratelimit-limit").is_none(), "no limit, no headers");

    sim.set_rate_limit(Some(JiraRateLimit::burst(5, std::time::Duration::from_secs(30))));
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(client.get(&url).send().await?);
    }
    let header = |r: &reqwest::Response, name: &str| {
        r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned).unwrap_or_default()
    };
    assert_eq!(
        (header(&answers[0], "x-ratelimit-limit"), header(&answers[0], "x-ratelimit-remaining")),
        ("5".into(), "4".into())
    );
    assert_eq!(header(&answers[3], "x-ratelimit-nearlimit"), "", "20 % left is not yet near");
    assert_eq!(header(&answers[4], "x-ratelimit-nearlimit"), "true");
    let refused = &answers[5];
    assert_eq!(refused.status().as_u16(), 429);
    let retry_after: u64 = header(refused, "retry-after").parse()?;
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(header(refused, "x-ratelimit-remaining"), "0");
    assert_eq!(header(refused, "ratelimit-reason"), "jira-burst-based");
    let reset = header(refused, "x-ratelimit-reset");
    assert!(chrono::NaiveDateTime::parse_from_str(&reset, "%Y-%m-%dT%H:%MZ").is_ok(), "ISO 8601 minute: {reset}");
    let body: Value = client.get(&url).send().await?.json().await?;
    assert!(body["errorMessages"][0].is_string(), "{body}");

    let overloaded = JiraRateLimit {
        status: 503,
        reason: "jira-quota-tenant-based".into(),
        ..JiraRateLimit::burst(0, std::time::Duration::from_secs(30))
    };
    sim.set_rate_limit(Some(overloaded));
    let refused = client.get(&url).send().await?;
    assert_eq!(refused.status().as_u16(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(header(&refused, "ratelimit-reason"), "jira-quota-tenant-based");
    assert_eq!(sim.rate_limit_rejections(), 3);
    Ok(())
}

#[tokio::test]
async fn the_points_quota_refuses_with_an_iso_reset_and_no_retry_after() -> Result<(), Box<dyn std::error::Error>> {
    let sim = sim();
    let server = crate::SimServer::start(sim.router(), crate::FaultProfile::none()).await?;
    // A bare client on purpose: this test plays an arbitrary API client, not a connector.
    #[allow(clippy::disallowed_methods)]
    let client = reqwest::Client::new();
    let header = |r: &reqwest::Response, name: &str| {
        r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned).unwrap_or_default()
    };
    // 1 point for the request, 1 per issue returned: a search of 3 issues costs 4.
    sim.set_quota(Some(JiraQuota::hourly(6)));
    let search = format!("{}/rest/api/3/search/jql", server.url());
    let body = json!({"jql": "project = PROD", "fields": ["summary"], "maxResults": 3});
    let first = client.post(&search).json(&body).send().await?;
    assert_eq!(first.status().as_u16(), 200);
    assert_eq!(header(&first, "beta-ratelimit-policy"), "\"tenant-app-quota\";q=6;w=3600");
    assert!(header(&first, "beta-ratelimit").starts_with("\"tenant-app-quota\";r=5;t="), "charged before the answer");
    let myself = format!("{}/rest/api/3/myself", server.url());
    let second = client.get(&myself).send().await?;
    assert!(header(&second, "beta-ratelimit").starts_with("\"tenant-app-quota\";r=1;"), "the 3 issues were charged");
    let third = client.get(&myself).send().await?;
    assert_eq!(third.status().as_u16(), 200, "the last point");
    let refused = client.get(&myself).send().await?;
    assert_eq!(refused.status().as_u16(), 429);
    assert!(!refused.headers().contains_key("retry-after"), "a quota 429 may carry the reset alone");
    assert_eq!(header(&refused, "ratelimit-reason"), "jira-quota-tenant-based");
    let reset = header(&refused, "x-ratelimit-reset");
    let at = DateTime::parse_from_rfc3339(&reset)
        .map(|t| t.to_utc())
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(&reset, "%Y-%m-%dT%H:%MZ").map(|t| t.and_utc()))?;
    let ahead = at - Utc::now();
    assert!(ahead > chrono::TimeDelta::minutes(59) && ahead <= chrono::TimeDelta::minutes(61), "{reset}");
    assert_eq!(sim.rate_limit_rejections(), 1);

    // A new window (the hour has passed) serves again.
    sim.set_quota(Some(JiraQuota::hourly(6)));
    assert_eq!(client.get(&myself).send().await?.status().as_u16(), 200);
    Ok(())
}

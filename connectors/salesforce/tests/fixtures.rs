//! Every vendor fixture in `../shared/fixtures/salesforce` parses and maps, or is
//! recognized as the error or the unused endpoint it is.
//!
//! The files are read in place (see `PROVENANCE.md` there); without them the test
//! prints a notice and passes.

use std::path::{Path, PathBuf};

use chorus_connector_salesforce::auth::checked_instance_url;
use chorus_connector_salesforce::client::{error_code, QueryPage};
use chorus_connector_salesforce::config::MappingConfig;
use chorus_connector_salesforce::cursor::Object;
use chorus_connector_salesforce::mapping::{datetime, Mapper, OrgShape};
use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/salesforce");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: {} is absent (vendor fixtures are not part of the repository)", dir.display());
        None
    }
}

fn mapper() -> Mapper {
    Mapper {
        mapping: MappingConfig::default(),
        shape: OrgShape { multi_currency: false, blockers: true },
        instance_url: "https://na1.salesforce.com".into(),
    }
}

#[test]
fn every_fixture_parses_maps_or_is_recognized() -> TestResult {
    let Some(dir) = fixtures() else { return Ok(()) };
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let text = std::fs::read_to_string(&path)?;
        let body: Value = serde_json::from_str(&text)?;
        seen += 1;
        match name.as_str() {
            "restforce_query_paginated_first_page_response.json"
            | "restforce_query_paginated_last_page_response.json"
            | "restforce_query_empty_response.json" => {
                let page: QueryPage = serde_json::from_value(body)?;
                assert_eq!(page.done, page.next_records_url.is_none(), "{name}");
                if let Some(next) = &page.next_records_url {
                    assert!(next.starts_with("/services/data/"), "{name}: a path relative to instance_url");
                }
                for record in &page.records {
                    // Records without Id or SystemModstamp are reported, never dropped in silence.
                    let unmapped = mapper().map(Object::Case, record).expect_err("no Id");
                    assert!(unmapped.reason.contains("no Id"), "{name}: {unmapped:?}");
                }
            }
            "restforce_query_error_response.json" | "restforce_write_error_response.json" => {
                assert_eq!(error_code(&text), Some("INVALID_FIELD"), "{name}");
                assert!(body[0]["message"].is_string(), "{name}");
            }
            "restforce_expired_session_response.json" => {
                assert_eq!(error_code(&text), Some("INVALID_SESSION_ID"), "{name}");
            }
            "restforce_auth_success_response.json" | "restforce_refresh_success_response.json" => {
                assert!(body["access_token"].is_string(), "{name}");
                assert!(body.get("expires_in").is_none(), "{name}: Salesforce sends no expires_in");
                let instance = body["instance_url"].as_str().ok_or("instance_url")?;
                let url = checked_instance_url(instance, false)?;
                assert_eq!(url.host_str(), Some("na1.salesforce.com"), "{name}");
            }
            "restforce_auth_error_response.json" | "restforce_refresh_error_response.json" => {
                assert_eq!(body["error"], "invalid_grant", "{name}: an OAuth error, the grant refused");
            }
            "restforce_get_deleted_success_response.json" => {
                // The connector reads deletions through queryAll; the datetimes still parse.
                let deleted = &body["deletedRecords"][0];
                assert!(datetime(deleted, "deletedDate").is_some(), "{name}");
                assert!(datetime(&body, "latestDateCovered").is_some(), "{name}");
            }
            "restforce_get_updated_success_response.json" => {
                assert!(datetime(&body, "latestDateCovered").is_some(), "{name}");
                assert!(body["ids"]
                    .as_array()
                    .is_some_and(|ids| ids.iter().all(|id| id.as_str().is_some_and(|id| id.len() == 18))));
            }
            "restforce_list_view_results_success_response.json" => {
                // List views are not read; their records are columns, not query records.
                assert!(body["records"][0]["columns"].is_array(), "{name}");
            }
            other => return Err(format!("fixture {other} is not handled by this test").into()),
        }
    }
    assert_eq!(seen, 13, "every fixture was read");
    Ok(())
}

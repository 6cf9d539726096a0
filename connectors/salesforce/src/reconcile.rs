//! The purged-record check: a record purged from the recycle bin (emptied after 15
//! days, hard-deleted, or `emptyRecycleBin`) is gone from `queryAll` too, so no query
//! of the run ever reports its deletion. The connector asks which of the Accounts,
//! Cases and blocker Opportunities it knows still exist, `SELECT Id FROM <Object>
//! WHERE Id IN (...)` with `BATCH` ids a request, and tombstones the rest.
//!
//! It runs after every query of the run, on full runs and when the schedule in the
//! cursor says so (`ReconcilePosition::due`); each batch is one page whose cursor
//! records how far the check got (`Object/Id` keys in string order), so a stopped
//! check resumes after its last committed batch. Invariant: a tombstone only ever
//! comes from a complete 2xx answer (every `nextRecordsUrl` followed) to the batch's
//! query; an error or malformed answer fails the page and tombstones nothing, and an id
//! that is not a Salesforce id is never asked for, so it is never tombstoned either.

use std::collections::HashSet;

use chorus_core::Record;
use chorus_sync::{ConnectorError, Credentials};
use serde_json::json;

use crate::client::{Locator, SalesforceClient};
use crate::cursor::Object;
use crate::mapping::Mapper;

/// Ids per `IN (...)` list: about 5 KB of URL, far below Salesforce's limits.
pub const BATCH: usize = 200;

/// The suffix of a blocker item's external id after its Opportunity's id.
const BLOCKER_SUFFIX: &str = ":blocker";

/// The batches a check has still to ask for, the next one last.
#[derive(Debug, Default)]
pub struct Check {
    batches: Vec<(Object, Vec<String>)>,
}

/// The key a check orders and resumes by.
pub fn key(object: Object, id: &str) -> String {
    format!("{}/{id}", object.name())
}

impl Check {
    /// The known live records of the `enabled` objects to check: those of the store
    /// after `after` (in key order), less those this run's queries just returned
    /// (`seen` keys: they exist). Contacts are not checked (the store lists no known
    /// contact ids), nor Opportunities without a blocker (likewise).
    pub async fn plan(
        credentials: &Credentials,
        enabled: impl Fn(Object) -> bool,
        seen: &HashSet<String>,
        after: Option<&str>,
    ) -> Result<Self, ConnectorError> {
        let accounts = credentials.known_account_ids().await?.into_iter().map(|id| (Object::Account, id));
        let items = credentials.known_item_ids().await?.into_iter().map(|id| match id.strip_suffix(BLOCKER_SUFFIX) {
            Some(opportunity) => (Object::Opportunity, opportunity.to_owned()),
            None => (Object::Case, id),
        });
        let mut known: Vec<(String, Object, String)> = accounts
            .chain(items)
            .filter(|(object, id)| enabled(*object) && is_salesforce_id(id))
            .map(|(object, id)| (key(object, &id), object, id))
            .filter(|(key, _, _)| after.is_none_or(|after| key.as_str() > after) && !seen.contains(key))
            .collect();
        known.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut batches: Vec<(Object, Vec<String>)> = Vec::new();
        for (_, object, id) in known {
            match batches.last_mut() {
                Some((last, ids)) if *last == object && ids.len() < BATCH => ids.push(id),
                _ => batches.push((object, vec![id])),
            }
        }
        batches.reverse();
        Ok(Self { batches })
    }

    /// Checks the next batch: the tombstones of its ids the org no longer returns,
    /// and the batch's greatest key (`None` when there was no batch left).
    pub async fn next_batch(
        &mut self,
        client: &SalesforceClient,
        mapper: &Mapper,
    ) -> Result<Option<(Vec<Record>, String)>, ConnectorError> {
        let Some((object, ids)) = self.batches.last() else { return Ok(None) };
        let list = ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(", ");
        let soql = format!("SELECT Id FROM {} WHERE Id IN ({list})", object.name());
        let mut page = client.query(&soql, false).await?;
        let mut existing: HashSet<String> = HashSet::new();
        loop {
            existing.extend(page.records.iter().filter_map(|r| r.get("Id")?.as_str().map(str::to_owned)));
            match page.next_records_url.take().filter(|_| !page.done) {
                Some(next) => {
                    page = client.more(&next).await.map_err(|error| match error {
                        Locator::Failed(error) => error,
                        Locator::Expired => ConnectorError::transient(
                            "/services/data/query",
                            "the deletion check's query locator expired (INVALID_QUERY_LOCATOR); the next run asks again",
                        ),
                    })?;
                }
                None => break,
            }
        }
        let mut records = Vec::new();
        for id in ids.iter().filter(|id| !existing.contains(*id)) {
            records.extend(mapper.deleted(*object, &json!({ "Id": id })).unwrap_or_default());
        }
        let last = ids.last().map(|id| key(*object, id)).unwrap_or_default();
        self.batches.pop();
        Ok(Some((records, last)))
    }

    /// Whether every batch was checked.
    pub fn is_done(&self) -> bool {
        self.batches.is_empty()
    }
}

/// A Salesforce record id: 15 or 18 ASCII letters and digits (safe inside a quoted
/// SOQL literal as it is).
fn is_salesforce_id(id: &str) -> bool {
    matches!(id.len(), 15 | 18) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_salesforce_ids_are_asked_for() {
        assert!(is_salesforce_id("500000000000001AAA") && is_salesforce_id("500000000000001"));
        assert!(!is_salesforce_id("") && !is_salesforce_id("500') OR Id != ('x") && !is_salesforce_id("5000"));
        assert!(key(Object::Account, "001") < key(Object::Case, "001"), "objects sort by name");
    }
}

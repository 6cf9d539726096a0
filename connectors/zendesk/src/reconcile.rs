//! The deleted-organization check: real Zendesk organization objects carry no
//! `deleted_at`, and a deleted organization simply stops appearing in the export, so
//! the connector asks `organizations/show_many.json` which of the organizations it
//! knows still exist, `SHOW_MANY_MAX` ids a request, and tombstones the rest.
//!
//! It runs after the organizations export on full runs and when the schedule in the
//! cursor says so (`ReconcilePosition::due`); each batch is one page whose cursor
//! records how far the check got, so a stopped check resumes after its last committed
//! batch. Invariant: a tombstone only ever comes from a 2xx answer that parsed as an
//! organization list naming the batch's survivors; an error or malformed answer fails
//! the page (nothing of that batch is tombstoned), and an id that is not a Zendesk id
//! (not numeric) is never asked for, so it is never tombstoned either.

use std::collections::HashSet;

use chorus_core::{EntityKind, Record};
use chorus_sync::{ConnectorError, Credentials};

use crate::client::{ZendeskClient, SHOW_MANY_MAX};

/// The batches a check has still to ask for, the next one last.
#[derive(Debug, Default)]
pub struct Check {
    batches: Vec<Vec<String>>,
}

impl Check {
    /// The known live organizations to check: those of the store after `after` (in
    /// string order, the store's order), less those this run's export just returned
    /// (`seen`: they exist).
    pub async fn plan(
        credentials: &Credentials,
        seen: &HashSet<String>,
        after: Option<&str>,
    ) -> Result<Self, ConnectorError> {
        let known = credentials.known_account_ids().await?;
        let (numeric, other): (Vec<String>, Vec<String>) = known
            .into_iter()
            .filter(|id| after.is_none_or(|after| id.as_str() > after))
            .partition(|id| is_zendesk_id(id));
        if !other.is_empty() {
            tracing::debug!(count = other.len(), "zendesk accounts with a non-numeric id are not checked");
        }
        let pending: Vec<String> = numeric.into_iter().filter(|id| !seen.contains(id)).collect();
        let mut batches: Vec<Vec<String>> = pending.chunks(SHOW_MANY_MAX).map(<[String]>::to_vec).collect();
        batches.reverse();
        Ok(Self { batches })
    }

    /// Checks the next batch: the tombstones of its ids Zendesk no longer returns, and
    /// the batch's greatest id (`None` when there was no batch left).
    pub async fn next_batch(
        &mut self,
        client: &ZendeskClient,
    ) -> Result<(Vec<Record>, Option<String>), ConnectorError> {
        let Some(batch) = self.batches.last() else {
            return Ok((Vec::new(), None));
        };
        let existing = client.existing_organizations(batch).await?;
        let records = batch
            .iter()
            .filter(|id| !existing.contains(*id))
            .map(|id| Record::Deleted { entity: EntityKind::Account, external_id: id.clone() })
            .collect();
        let last = batch.last().cloned();
        self.batches.pop();
        Ok((records, last))
    }

    /// Whether every batch was checked.
    pub fn is_done(&self) -> bool {
        self.batches.is_empty()
    }
}

/// Zendesk organization ids are positive integers.
fn is_zendesk_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_numeric_ids_are_checked() {
        assert!(is_zendesk_id("360000000001"));
        assert!(!is_zendesk_id("") && !is_zendesk_id("o1") && !is_zendesk_id("1,2") && !is_zendesk_id("-1"));
    }
}

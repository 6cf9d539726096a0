//! The owners of the external ids an account import batch names, read once per batch.
//!
//! An import line is matched to an account by its external ids first; asking the database
//! for each id of each line cost a statement per id. Invariant: the map answers exactly as
//! `account_external_ids` would inside the import transaction, because it is loaded from
//! that table for every id the batch names and `point_at` is the only writer of the table
//! while the batch runs.

use std::collections::HashMap;

use chorus_core::ExternalId;

use super::account_fields::{AccountFields, StoredFields};
use super::{fetch_by_external_ids, get, placeholders, Dialect, Tx};
use crate::{AccountImport, Result};

/// Who owns the external ids a batch of imports names: loaded with a few queries per
/// connector, then kept current by `point_at`, the only writer of `account_external_ids`
/// in an import transaction, so it answers as `find_by_external` would, statement-free.
#[derive(Debug)]
pub(crate) struct ExternalOwners {
    dialect: Dialect,
    /// The account of each known id, and the record's own fields (JSON) if stored.
    owners: HashMap<(String, String), (i64, Option<String>)>,
}

impl ExternalOwners {
    pub(crate) async fn load(tx: &mut Tx, dialect: Dialect, imports: &[AccountImport]) -> Result<Self> {
        let mut wanted: HashMap<&str, Vec<&str>> = HashMap::new();
        for external in imports.iter().flat_map(|import| &import.external_ids) {
            wanted.entry(external.connector.as_str()).or_default().push(external.id.as_str());
        }
        let mut owners = HashMap::new();
        for (connector, ids) in wanted {
            let template = "SELECT external_id, account_id, record_fields FROM account_external_ids \
                            WHERE connector = $1 AND external_id IN ({ids})";
            for row in fetch_by_external_ids(tx, dialect, template, connector, &ids).await? {
                let owner = (get(&row, "account_id")?, get(&row, "record_fields")?);
                owners.insert((connector.to_owned(), get(&row, "external_id")?), owner);
            }
        }
        Ok(Self { dialect, owners })
    }

    pub(crate) fn owner(&self, external: &ExternalId) -> Option<i64> {
        self.owners.get(&(external.connector.clone(), external.id.clone())).map(|(account_id, _)| *account_id)
    }

    /// Points external ids at an account in one statement (no hash: an import is not a
    /// source record), each carrying the line's `fields` over what it stored before. An
    /// id listed twice keeps its last listing, as row by row would.
    pub(crate) async fn point_at(
        &mut self,
        tx: &mut Tx,
        account_id: i64,
        externals: &[ExternalId],
        fields: &AccountFields,
        now: i64,
    ) -> Result<()> {
        let mut distinct: Vec<&ExternalId> = Vec::with_capacity(externals.len());
        for external in externals.iter().rev() {
            if !distinct.iter().any(|kept| kept.connector == external.connector && kept.id == external.id) {
                distinct.push(external);
            }
        }
        if distinct.is_empty() {
            return Ok(());
        }
        let mut stored = Vec::with_capacity(distinct.len());
        for external in &distinct {
            let before = self.owners.get(&(external.connector.clone(), external.id.clone()));
            stored.push(StoredFields::applied(fields, before.and_then(|(_, json)| json.as_deref()), now)?.to_json()?);
        }
        let values: Vec<String> = (0..distinct.len())
            .map(|row| {
                let first = 1 + row * 6;
                format!("({}, NULL, 'import', ${}, ${})", placeholders(first, 4), first + 4, first + 5)
            })
            .collect();
        // A mapping that stays on its account keeps how it joined; one that moves joined
        // by this import.
        let text = format!(
            "INSERT INTO account_external_ids (connector, source, external_id, account_id, content_hash, \
             matched_by, joined_at, record_fields) VALUES {} ON CONFLICT (connector, external_id) DO UPDATE SET \
             matched_by = CASE WHEN account_external_ids.account_id = excluded.account_id \
               THEN account_external_ids.matched_by ELSE excluded.matched_by END, \
             joined_at = CASE WHEN account_external_ids.account_id = excluded.account_id \
               THEN account_external_ids.joined_at ELSE excluded.joined_at END, \
             source = excluded.source, account_id = excluded.account_id, \
             content_hash = excluded.content_hash, record_fields = excluded.record_fields",
            values.join(", ")
        );
        let sql = self.dialect.sql(&text);
        let mut query = sqlx::query(&sql);
        for (external, json) in distinct.iter().zip(&stored) {
            query = query
                .bind(&external.connector)
                .bind(external.source.as_str())
                .bind(&external.id)
                .bind(account_id)
                .bind(now)
                .bind(json);
        }
        query.execute(&mut **tx).await?;
        for (external, json) in distinct.into_iter().zip(stored) {
            self.owners.insert((external.connector.clone(), external.id.clone()), (account_id, Some(json)));
        }
        Ok(())
    }
}

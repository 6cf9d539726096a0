//! The account graph: id claims between sources, merges, splits, kept-apart records,
//! provenance reads, and the one-time re-keying of domains to registered domains.
//!
//! Invariants: a merge moves everything that points at the merged-away account (source
//! records, domains, contacts, every item link, children) in the same transaction and
//! leaves it soft-deleted with `merged_into` naming the survivor, so nothing is lost and
//! an old id still says where it went; records a person split apart are kept apart by
//! every automatic match (`kept_apart`), and only a person's merge brings them together.

use std::collections::{BTreeSet, HashMap};

use crate::drivers::AnyPool;
use chorus_core::source_id::{salesforce_id18, salesforce_id_key};
use chorus_core::{domain, Source, SourceRef};

use super::account_fields::{AccountFields, StoredFields};
use super::accounts::{self, complete_accounts, ACCOUNT_SELECT};
use super::resolve::relink;
use super::{get, micros, now_micros, parse_json, parse_text, time_from, to_json, Appends, ChangeSet, SqlStore, Tx};
use crate::{AccountDetail, AccountSource, ChangeEntity, JoinedBy, RecordKey, Result, StoreError};

/// The key an account domain matches by: its registered domain, `""` (matches nothing)
/// for free mail or a bare public suffix.
pub(crate) fn domain_key(domain: &str) -> String {
    domain::account_domain(domain).unwrap_or_default()
}

/// The canonical form of another source's id, as `account_same_as` keeps it.
pub(crate) fn ref_key(source: Source, id: &str) -> Option<String> {
    match source {
        Source::Salesforce => salesforce_id_key(id),
        _ => Some(id.trim().to_owned()).filter(|id| !id.is_empty()),
    }
}

/// The stored spellings a reference may match: for Salesforce both id forms.
fn ref_spellings(source: Source, id: &str) -> Vec<String> {
    match source {
        Source::Salesforce => [salesforce_id_key(id), salesforce_id18(id)].into_iter().flatten().collect(),
        _ => vec![id.trim().to_owned()],
    }
}

/// Replaces what a record says it is (`same_as`).
pub(crate) async fn set_same_as(tx: &mut Tx, connector: &str, external_id: &str, refs: &[SourceRef]) -> Result<()> {
    sqlx::query("DELETE FROM account_same_as WHERE connector = $1 AND external_id = $2")
        .bind(connector)
        .bind(external_id)
        .execute(&mut **tx)
        .await?;
    for reference in refs {
        let Some(key) = ref_key(reference.source, &reference.id) else { continue };
        sqlx::query(
            "INSERT INTO account_same_as (connector, external_id, source, id_key) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (connector, external_id, source, id_key) DO NOTHING",
        )
        .bind(connector)
        .bind(external_id)
        .bind(reference.source.as_str())
        .bind(key)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The live accounts that are the same company by id: those holding a record `refs`
/// names, and those whose records name this record (`source`, `external_id`). Ascending.
pub(crate) async fn same_by_id(tx: &mut Tx, source: Source, external_id: &str, refs: &[SourceRef]) -> Result<Vec<i64>> {
    let mut found = BTreeSet::new();
    for reference in refs {
        for spelling in ref_spellings(reference.source, &reference.id) {
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT x.account_id FROM account_external_ids x JOIN accounts a ON a.id = x.account_id \
                 WHERE a.deleted_at IS NULL AND x.source = $1 AND x.external_id = $2",
            )
            .bind(reference.source.as_str())
            .bind(spelling)
            .fetch_all(&mut **tx)
            .await?;
            found.extend(ids);
        }
    }
    if let Some(key) = ref_key(source, external_id) {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT x.account_id FROM account_same_as s JOIN account_external_ids x \
             ON x.connector = s.connector AND x.external_id = s.external_id \
             JOIN accounts a ON a.id = x.account_id \
             WHERE a.deleted_at IS NULL AND s.source = $1 AND s.id_key = $2",
        )
        .bind(source.as_str())
        .bind(key)
        .fetch_all(&mut **tx)
        .await?;
        found.extend(ids);
    }
    Ok(found.into_iter().collect())
}

/// Whether a person kept record `record` apart from any record of `account_id`.
pub(crate) async fn record_kept_apart(tx: &mut Tx, record: &RecordKey, account_id: i64) -> Result<bool> {
    let hit: Option<i64> = sqlx::query_scalar(
        "SELECT x.account_id FROM account_kept_apart k JOIN account_external_ids x \
         ON x.connector = k.other_connector AND x.external_id = k.other_external_id \
         WHERE k.connector = $1 AND k.external_id = $2 AND x.account_id = $3 LIMIT 1",
    )
    .bind(&record.connector)
    .bind(&record.external_id)
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(hit.is_some())
}

/// Whether a person kept any record of one account apart from any record of the other.
pub(crate) async fn accounts_kept_apart(tx: &mut Tx, one: i64, other: i64) -> Result<bool> {
    let hit: Option<i64> = sqlx::query_scalar(
        "SELECT x.account_id FROM account_kept_apart k \
         JOIN account_external_ids x ON x.connector = k.connector AND x.external_id = k.external_id \
         JOIN account_external_ids y ON y.connector = k.other_connector AND y.external_id = k.other_external_id \
         WHERE x.account_id = $1 AND y.account_id = $2 LIMIT 1",
    )
    .bind(one)
    .bind(other)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(hit.is_some())
}

/// Moves everything of `loser` onto `winner` and keeps `loser` as merged into it. The
/// winner keeps its fields; the loser's fill the winner's blanks — except ARR and its
/// currency, which are the CRM's: when only the loser holds a Salesforce record, its
/// amount wins, so the merged ARR does not depend on which source arrived first.
pub(crate) async fn merge_into(
    tx: &mut Tx,
    winner: i64,
    loser: i64,
    joined: JoinedBy,
    changes: &mut ChangeSet,
    now: i64,
) -> Result<()> {
    debug_assert_ne!(winner, loser);
    let crm: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT account_id FROM account_external_ids WHERE account_id IN ($1, $2) AND source = $3",
    )
    .bind(winner)
    .bind(loser)
    .bind(Source::Salesforce.as_str())
    .fetch_all(&mut **tx)
    .await?;
    let crm_arr_from_loser = i64::from(crm.contains(&loser) && !crm.contains(&winner));
    sqlx::query(
        "UPDATE account_external_ids SET account_id = $1, matched_by = $3, joined_at = $4 WHERE account_id = $2",
    )
    .bind(winner)
    .bind(loser)
    .bind(joined.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO account_domains (account_id, domain, registered) \
         SELECT $1, domain, registered FROM account_domains WHERE account_id = $2 \
         ON CONFLICT (account_id, domain) DO NOTHING",
    )
    .bind(winner)
    .bind(loser)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM account_domains WHERE account_id = $1").bind(loser).execute(&mut **tx).await?;
    let contacts: Vec<i64> =
        sqlx::query_scalar("UPDATE contacts SET account_id = $1 WHERE account_id = $2 RETURNING id")
            .bind(winner)
            .bind(loser)
            .fetch_all(&mut **tx)
            .await?;
    for contact in contacts {
        changes.touch(ChangeEntity::Contact, contact, false);
    }
    let items: Vec<i64> =
        sqlx::query_scalar("UPDATE item_account_links SET account_id = $1 WHERE account_id = $2 RETURNING item_id")
            .bind(winner)
            .bind(loser)
            .fetch_all(&mut **tx)
            .await?;
    for item in items {
        changes.touch(ChangeEntity::Item, item, false);
    }
    let children: Vec<i64> = sqlx::query_scalar(
        "UPDATE accounts SET parent_id = $1, updated_at = $3 WHERE parent_id = $2 AND id <> $1 RETURNING id",
    )
    .bind(winner)
    .bind(loser)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    for child in children {
        changes.touch(ChangeEntity::Account, child, false);
    }
    sqlx::query(
        "UPDATE accounts SET \
         arr_minor = CASE WHEN arr_minor = 0 OR $4 = 1 THEN (SELECT l.arr_minor FROM accounts l WHERE l.id = $2) ELSE arr_minor END, \
         currency = CASE WHEN arr_minor = 0 OR $4 = 1 THEN (SELECT l.currency FROM accounts l WHERE l.id = $2) ELSE currency END, \
         segment = COALESCE(segment, (SELECT l.segment FROM accounts l WHERE l.id = $2)), \
         plan = COALESCE(plan, (SELECT l.plan FROM accounts l WHERE l.id = $2)), \
         lifecycle_stage = COALESCE(lifecycle_stage, (SELECT l.lifecycle_stage FROM accounts l WHERE l.id = $2)), \
         csm_owner = COALESCE(csm_owner, (SELECT l.csm_owner FROM accounts l WHERE l.id = $2)), \
         renewal_date = COALESCE(renewal_date, (SELECT l.renewal_date FROM accounts l WHERE l.id = $2)), \
         parent_id = CASE WHEN parent_id = $2 THEN NULL ELSE COALESCE(parent_id, \
           (SELECT l.parent_id FROM accounts l WHERE l.id = $2 AND l.parent_id <> $1)) END, \
         updated_at = $3, deleted_at = NULL WHERE id = $1",
    )
    .bind(winner)
    .bind(loser)
    .bind(now)
    .bind(crm_arr_from_loser)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE accounts SET merged_into = $1, parent_id = NULL, deleted_at = $3, updated_at = $3 \
         WHERE id = $2 OR merged_into = $2",
    )
    .bind(winner)
    .bind(loser)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    changes.touch(ChangeEntity::Account, winner, false);
    changes.touch(ChangeEntity::Account, loser, true);
    Ok(())
}

/// A live account, or the error that says why not (merged away: into which).
pub(crate) async fn live_account(tx: &mut Tx, id: i64) -> Result<()> {
    let row = sqlx::query("SELECT deleted_at, merged_into FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Err(StoreError::NotFound { what: "account", id }) };
    let deleted: Option<i64> = get(&row, "deleted_at")?;
    let merged: Option<i64> = get(&row, "merged_into")?;
    match (deleted, merged) {
        (None, _) => Ok(()),
        (Some(_), Some(into)) => Err(StoreError::Conflict(format!("account {id} was merged into {into}"))),
        (Some(_), None) => Err(StoreError::Conflict(format!("account {id} is deleted"))),
    }
}

/// The stored fields of `keys`, or `None` when any of them was written before records
/// kept their own fields.
fn own_fields(
    fields: &HashMap<RecordKey, Option<(Source, StoredFields)>>,
    keys: &[&RecordKey],
) -> Option<Vec<(Source, StoredFields)>> {
    keys.iter().map(|key| fields.get(*key).cloned().flatten()).collect()
}

/// Gives each half of a split the fields of the records it now holds (`AccountFields::fold`).
/// The staying account keeps a field none of its records carries unless only the records
/// that left brought it; a half with a record stored before its fields were kept is
/// left as it is (the old account keeps its values, the new one fills at its records'
/// next sync).
async fn refold_split(
    tx: &mut Tx,
    staying_id: i64,
    created_id: i64,
    staying: &Option<Vec<(Source, StoredFields)>>,
    moving: &Option<Vec<(Source, StoredFields)>>,
    now: i64,
) -> Result<()> {
    let moved = moving.as_deref().map(AccountFields::fold);
    if let Some(records) = staying {
        let current = AccountFields::of_account(tx, staying_id).await?;
        let left_with_them = moved.clone().unwrap_or_default();
        let kept = AccountFields::fold(records).or(current.without(&left_with_them));
        kept.replace(tx, staying_id, now).await?;
    }
    if let Some(fields) = moved {
        fields.replace(tx, created_id, now).await?;
    }
    Ok(())
}

/// The domains a record brought, as stored with its mapping.
fn record_domains(text: Option<String>) -> Result<Vec<String>> {
    text.map(|text| parse_json("account_external_ids", &text)).transpose().map(Option::unwrap_or_default)
}

impl SqlStore {
    pub(crate) async fn merge_accounts_tx(&self, into: i64, from: i64) -> Result<()> {
        if into == from {
            return Err(StoreError::Conflict(format!("account {into} cannot be merged into itself")));
        }
        let now = now_micros();
        let mut tx = self.begin_write(Appends::Changes).await?;
        live_account(&mut tx, into).await?;
        live_account(&mut tx, from).await?;
        let mut changes = ChangeSet::default();
        merge_into(&mut tx, into, from, JoinedBy::Merge, &mut changes, now).await?;
        // A person's merge is the word that the two are one: forget what kept them apart.
        sqlx::query(
            "DELETE FROM account_kept_apart WHERE \
             EXISTS (SELECT 1 FROM account_external_ids x WHERE x.account_id = $1 \
               AND x.connector = account_kept_apart.connector AND x.external_id = account_kept_apart.external_id) \
             AND EXISTS (SELECT 1 FROM account_external_ids y WHERE y.account_id = $1 \
               AND y.connector = account_kept_apart.other_connector \
               AND y.external_id = account_kept_apart.other_external_id)",
        )
        .bind(into)
        .execute(&mut *tx)
        .await?;
        relink(&mut tx, self.dialect, &[into], &[], &mut changes, now).await?;
        changes.write(&mut tx, self.dialect, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn split_account_tx(&self, account_id: i64, records: &[RecordKey]) -> Result<i64> {
        let moving: BTreeSet<&RecordKey> = records.iter().collect();
        if moving.is_empty() {
            return Err(StoreError::Conflict("a split names at least one source record".into()));
        }
        let now = now_micros();
        let mut tx = self.begin_write(Appends::Changes).await?;
        live_account(&mut tx, account_id).await?;
        let rows = sqlx::query(
            "SELECT connector, source, external_id, record_name, record_domains, record_fields \
             FROM account_external_ids WHERE account_id = $1 ORDER BY connector, external_id",
        )
        .bind(account_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut held: HashMap<RecordKey, (Option<String>, Vec<String>)> = HashMap::new();
        let mut fields: HashMap<RecordKey, Option<(Source, StoredFields)>> = HashMap::new();
        for row in &rows {
            let key = RecordKey { connector: get(row, "connector")?, external_id: get(row, "external_id")? };
            held.insert(key.clone(), (get(row, "record_name")?, record_domains(get(row, "record_domains")?)?));
            let source: String = get(row, "source")?;
            let stored: Option<String> = get(row, "record_fields")?;
            let own = match stored {
                Some(json) => Some((parse_text("account_external_ids", &source)?, StoredFields::parse(&json)?)),
                None => None,
            };
            fields.insert(key, own);
        }
        if let Some(missing) = moving.iter().find(|key| !held.contains_key(key)) {
            return Err(StoreError::Conflict(format!("account {account_id} holds no source record {missing}")));
        }
        if moving.len() == held.len() {
            return Err(StoreError::Conflict(format!(
                "a split must leave account {account_id} at least one of its {} source record(s)",
                held.len()
            )));
        }
        let staying: Vec<&RecordKey> = held.keys().filter(|key| !moving.contains(key)).collect();
        let old_name: String =
            sqlx::query_scalar("SELECT name FROM accounts WHERE id = $1").bind(account_id).fetch_one(&mut *tx).await?;
        let name = moving
            .iter()
            .find_map(|key| held.get(*key).and_then(|(name, _)| name.clone()))
            .unwrap_or_else(|| format!("{old_name} (split)"));
        let currency: String = sqlx::query_scalar("SELECT currency FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_one(&mut *tx)
            .await?;
        let created = accounts::insert_plain(&mut tx, &name, &currency, now).await?;

        let mut changes = ChangeSet::default();
        let mut moved_domains: BTreeSet<String> = BTreeSet::new();
        for key in &moving {
            sqlx::query(
                "UPDATE account_external_ids SET account_id = $3, matched_by = $4, joined_at = $5, \
                 content_hash = NULL WHERE connector = $1 AND external_id = $2",
            )
            .bind(&key.connector)
            .bind(&key.external_id)
            .bind(created)
            .bind(JoinedBy::Split.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some((_, domains)) = held.get(*key) {
                moved_domains.extend(domains.iter().cloned());
            }
            let contacts: Vec<i64> = sqlx::query_scalar(
                "UPDATE contacts SET account_id = $3 WHERE account_id = $4 AND id IN \
                 (SELECT contact_id FROM contact_external_ids WHERE connector = $1 AND account_external_id = $2) \
                 RETURNING id",
            )
            .bind(&key.connector)
            .bind(&key.external_id)
            .bind(created)
            .bind(account_id)
            .fetch_all(&mut *tx)
            .await?;
            for contact in contacts {
                changes.touch(ChangeEntity::Contact, contact, false);
            }
            for other in &staying {
                for (a, b) in [(*key, *other), (*other, *key)] {
                    sqlx::query(
                        "INSERT INTO account_kept_apart (connector, external_id, other_connector, \
                         other_external_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (connector, external_id, other_connector, other_external_id) DO NOTHING",
                    )
                    .bind(&a.connector)
                    .bind(&a.external_id)
                    .bind(&b.connector)
                    .bind(&b.external_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        // The records that stay are read again in full by their next sync.
        sqlx::query("UPDATE account_external_ids SET content_hash = NULL WHERE account_id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        let staying_domains: BTreeSet<String> =
            staying.iter().filter_map(|key| held.get(*key)).flat_map(|(_, domains)| domains.iter().cloned()).collect();
        let moved: Vec<String> = moved_domains.into_iter().collect();
        accounts::add_domains(&mut tx, created, &moved).await?;
        for domain in moved.iter().filter(|domain| !staying_domains.contains(*domain)) {
            sqlx::query("DELETE FROM account_domains WHERE account_id = $1 AND domain = $2")
                .bind(account_id)
                .bind(domain)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE accounts SET updated_at = $2 WHERE id = $1")
            .bind(account_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let moving_keys: Vec<&RecordKey> = moving.iter().copied().collect();
        refold_split(
            &mut tx,
            account_id,
            created,
            &own_fields(&fields, &staying),
            &own_fields(&fields, &moving_keys),
            now,
        )
        .await?;
        // Both accounts' ARR, segment and stage may have moved: the index and the ranking
        // follow the change log.
        changes.touch(ChangeEntity::Account, account_id, false);
        changes.touch(ChangeEntity::Account, created, false);
        relink(&mut tx, self.dialect, &[account_id, created], &[], &mut changes, now).await?;
        changes.write(&mut tx, self.dialect, now).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Fills the registered-domain keys of rows written before they were kept, once: the
    /// `registered` column of account domains, and items' author domains (stored as
    /// registered domains since). A few statements per distinct domain.
    pub(crate) async fn rekey_domains(&self) -> Result<()> {
        const STEP: &str = "registered_domains";
        let done: Option<String> = sqlx::query_scalar("SELECT value FROM store_meta WHERE name = $1")
            .bind(STEP)
            .fetch_optional(&self.reader)
            .await?;
        if done.is_some() {
            return Ok(());
        }
        let mut tx = self.begin_write(Appends::Nothing).await?;
        let domains: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT domain FROM account_domains WHERE registered IS NULL")
                .fetch_all(&mut *tx)
                .await?;
        for found in domains {
            sqlx::query("UPDATE account_domains SET registered = $1 WHERE domain = $2 AND registered IS NULL")
                .bind(domain_key(&found))
                .bind(&found)
                .execute(&mut *tx)
                .await?;
        }
        let authors: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT author_domain FROM items WHERE author_domain IS NOT NULL")
                .fetch_all(&mut *tx)
                .await?;
        for found in authors {
            let registered = domain::account_domain(&found);
            if registered.as_deref() != Some(found.as_str()) {
                sqlx::query("UPDATE items SET author_domain = $1 WHERE author_domain = $2")
                    .bind(registered)
                    .bind(&found)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query("INSERT INTO store_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(STEP)
            .bind(micros(chrono::Utc::now()).to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Most `merged_into` hops followed to the live account (merges flatten chains, so one
/// is usual; the bound only guards against a loop in damaged data).
const MAX_MERGE_HOPS: usize = 16;

/// An account with its provenance; a merged-away one says where it went.
pub(crate) async fn account_detail(pool: &AnyPool, id: i64) -> Result<Option<AccountDetail>> {
    let sql = format!("{ACCOUNT_SELECT} WHERE id = $1");
    let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(pool).await? else {
        return Ok(None);
    };
    let deleted_at: Option<i64> = get(&row, "deleted_at")?;
    let mut merged_into: Option<i64> = get(&row, "merged_into")?;
    for _ in 0..MAX_MERGE_HOPS {
        let Some(next) = merged_into else { break };
        let further: Option<Option<i64>> = sqlx::query_scalar("SELECT merged_into FROM accounts WHERE id = $1")
            .bind(next)
            .fetch_optional(pool)
            .await?;
        match further.flatten() {
            Some(again) if again != next => merged_into = Some(again),
            _ => break,
        }
    }
    let mut account = complete_accounts(pool, &[row]).await?.remove(0);
    debug_assert_eq!(account.id, id);
    account.merged_into = merged_into;

    let rows = sqlx::query(
        "SELECT x.connector, x.source, x.external_id, x.matched_by, x.joined_at, x.record_name, x.record_domains \
         FROM account_external_ids x WHERE x.account_id = $1 ORDER BY x.joined_at, x.connector, x.external_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let claims = sqlx::query(
        "SELECT s.connector, s.external_id, s.source, s.id_key FROM account_same_as s \
         JOIN account_external_ids x ON x.connector = s.connector AND x.external_id = s.external_id \
         WHERE x.account_id = $1",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let mut same_as: HashMap<(String, String), Vec<String>> = HashMap::new();
    for claim in &claims {
        let key = (get(claim, "connector")?, get(claim, "external_id")?);
        let source: String = get(claim, "source")?;
        let id_key: String = get(claim, "id_key")?;
        same_as.entry(key).or_default().push(format!("{source}:{id_key}"));
    }
    let mut sources = Vec::with_capacity(rows.len());
    for row in &rows {
        let source: String = get(row, "source")?;
        let joined: Option<String> = get(row, "matched_by")?;
        let joined_at: Option<i64> = get(row, "joined_at")?;
        let connector: String = get(row, "connector")?;
        let external_id: String = get(row, "external_id")?;
        sources.push(AccountSource {
            source: parse_text("account_external_ids", &source)?,
            joined_by: JoinedBy::parse(joined.as_deref()),
            joined_at: joined_at.map(|at| time_from("account_external_ids", at)).transpose()?,
            name: get(row, "record_name")?,
            domains: record_domains(get(row, "record_domains")?)?,
            same_as: same_as.remove(&(connector.clone(), external_id.clone())).unwrap_or_default(),
            connector,
            external_id,
        });
    }
    let children: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE parent_id = $1 AND deleted_at IS NULL ORDER BY id")
            .bind(id)
            .fetch_all(pool)
            .await?;
    let apart = sqlx::query(
        "SELECT DISTINCT k.other_connector, k.other_external_id FROM account_kept_apart k \
         JOIN account_external_ids x ON x.connector = k.connector AND x.external_id = k.external_id \
         WHERE x.account_id = $1 ORDER BY k.other_connector, k.other_external_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let kept_apart = apart
        .iter()
        .map(|row| {
            Ok(RecordKey { connector: get(row, "other_connector")?, external_id: get(row, "other_external_id")? })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(AccountDetail { account, deleted: deleted_at.is_some(), sources, children, kept_apart }))
}

/// Serializes a record's domains for its mapping row.
pub(crate) fn domains_json(domains: &[String]) -> Result<String> {
    to_json("account_external_ids", &domains)
}

//! Accounts and contacts: upserts from sync records and imports, soft deletes, reads.
//!
//! An account is found by an external id `(connector, external_id)` first; a source's
//! new account merges into an existing one that shares a (non free-mail) domain, unless
//! that account already holds a different external id of the same connector; otherwise
//! it is created.
//! Invariant: a field a record leaves out (ARR, segment, ...) never erases a stored one,
//! another source's ARR never replaces the one the account's Salesforce record carries,
//! and a record identical to the last one seen from that source writes nothing.

use std::collections::HashMap;

use crate::drivers::Any;
use crate::drivers::AnyPool;
use crate::drivers::AnyRow;
use chorus_core::{account, Account, AccountRecord, Contact, ContactRecord, ExternalId, Person, Source};

use super::account_fields::{AccountFields, StoredFields};
use super::graph::{self, domain_key};
use super::items::name_key;
use super::owners::ExternalOwners;
use super::ChangeSet;
use super::{
    content_hash, date_from, date_to_text, fetch_by_ids, get, in_chunks, parse_text, placeholders, time_from, to_json,
    Tx,
};
use crate::{AccountImport, IdPage, JoinedBy, RecordKey, Result, StoreError};

pub(crate) const ACCOUNT_SELECT: &str = "SELECT id, name, arr_minor, currency, segment, lifecycle_stage, \
    csm_owner, renewal_date, parent_id, created_at, updated_at, plan, merged_into, deleted_at FROM accounts";

/// A new account with only a name and currency (a split's new half; its records fill the
/// rest when next applied).
pub(crate) async fn insert_plain(tx: &mut Tx, name: &str, currency: &str, now: i64) -> Result<i64> {
    let fields =
        AccountFields { name: Some(name.to_owned()), currency: Some(currency.to_owned()), ..Default::default() };
    fields.insert(tx, now, now).await
}

fn normalized_domains(raw: &[String]) -> Vec<String> {
    let mut domains: Vec<String> = raw.iter().filter_map(|d| account::normalize_domain(d)).collect();
    domains.sort();
    domains.dedup();
    domains
}

/// The keys an account may be matched on: the registered domains of its domains, never
/// free-mail ones (`gmail.com` is shared by unrelated companies).
fn matchable(domains: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = domains.iter().map(|domain| domain_key(domain)).filter(|key| !key.is_empty()).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// An external id's mapping: the account, the hash of the record last seen and the
/// record's own fields (JSON; `None` when written before they were kept).
struct Mapping {
    account_id: i64,
    hash: Option<String>,
    deleted_at: Option<i64>,
    fields: Option<String>,
}

async fn find_by_external(tx: &mut Tx, connector: &str, external_id: &str) -> Result<Option<Mapping>> {
    let row = sqlx::query(
        "SELECT x.account_id, x.content_hash, x.record_fields, a.deleted_at FROM account_external_ids x \
         JOIN accounts a ON a.id = x.account_id WHERE x.connector = $1 AND x.external_id = $2",
    )
    .bind(connector)
    .bind(external_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| {
        Ok(Mapping {
            account_id: get(&row, "account_id")?,
            hash: get(&row, "content_hash")?,
            deleted_at: get(&row, "deleted_at")?,
            fields: get(&row, "record_fields")?,
        })
    })
    .transpose()
}

/// The oldest live account sharing a registered domain with `domains` (free-mail ones
/// never match) that holds no external id of any of `connectors` (a connector's two
/// records are two accounts even when they share a domain) and none that a person kept
/// apart from `records`.
async fn find_by_domains(
    tx: &mut Tx,
    domains: &[String],
    connectors: &[&str],
    records: &[RecordKey],
) -> Result<Option<i64>> {
    let mut candidates: Vec<i64> = Vec::new();
    for chunk in in_chunks(&matchable(domains)) {
        let sql = format!(
            "SELECT DISTINCT d.account_id FROM account_domains d JOIN accounts a ON a.id = d.account_id \
             WHERE a.deleted_at IS NULL AND d.registered IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query_scalar::<Any, i64>(&sql);
        for domain in chunk {
            query = query.bind(domain);
        }
        candidates.extend(query.fetch_all(&mut **tx).await?);
    }
    candidates.sort_unstable();
    candidates.dedup();
    for id in candidates {
        let mut taken = false;
        for connector in connectors {
            let owned: Option<i64> = sqlx::query_scalar(
                "SELECT account_id FROM account_external_ids WHERE account_id = $1 AND connector = $2 LIMIT 1",
            )
            .bind(id)
            .bind(*connector)
            .fetch_optional(&mut **tx)
            .await?;
            if owned.is_some() {
                taken = true;
                break;
            }
        }
        for record in records {
            if !taken && graph::record_kept_apart(tx, record, id).await? {
                taken = true;
            }
        }
        if !taken {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

async fn find_by_name(tx: &mut Tx, key: &str) -> Result<Option<i64>> {
    let id = sqlx::query_scalar::<Any, Option<i64>>(
        "SELECT MIN(id) FROM accounts WHERE deleted_at IS NULL AND name_key = $1",
    )
    .bind(key)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

pub(crate) async fn add_domains(tx: &mut Tx, account_id: i64, domains: &[String]) -> Result<()> {
    for domain in domains {
        sqlx::query(
            "INSERT INTO account_domains (account_id, domain, registered) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id, domain) DO NOTHING",
        )
        .bind(account_id)
        .bind(domain)
        .bind(domain_key(domain))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// How a record joined its account, and what it carried: its mapping's provenance.
struct Joined<'a> {
    by: JoinedBy,
    name: &'a str,
    domains: &'a [String],
    at: i64,
}

/// Maps a record to its account, with the record's own fields (JSON). A mapping that
/// stays on its account keeps how and when it joined; one that moves (or is new) records
/// the new join.
async fn set_external_id(
    tx: &mut Tx,
    account_id: i64,
    external: &ExternalId,
    hash: Option<&str>,
    joined: &Joined<'_>,
    fields: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO account_external_ids (connector, source, external_id, account_id, content_hash, \
         matched_by, joined_at, record_name, record_domains, record_fields) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (connector, external_id) DO UPDATE SET \
         matched_by = CASE WHEN account_external_ids.account_id = excluded.account_id \
           THEN account_external_ids.matched_by ELSE excluded.matched_by END, \
         joined_at = CASE WHEN account_external_ids.account_id = excluded.account_id \
           THEN account_external_ids.joined_at ELSE excluded.joined_at END, \
         source = excluded.source, account_id = excluded.account_id, \
         content_hash = excluded.content_hash, record_name = excluded.record_name, \
         record_domains = excluded.record_domains, record_fields = excluded.record_fields",
    )
    .bind(&external.connector)
    .bind(external.source.as_str())
    .bind(&external.id)
    .bind(account_id)
    .bind(hash)
    .bind(joined.by.as_str())
    .bind(joined.at)
    .bind(joined.name)
    .bind(graph::domains_json(joined.domains)?)
    .bind(fields)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// ARR and its currency are the CRM's: another source's record leaves them on an
/// account whose Salesforce record carries an ARR (or was stored before records kept
/// their fields), as a merge and a split's refold do. The record's own copy keeps them.
async fn keep_crm_arr(tx: &mut Tx, source: Source, account_id: i64, fields: &mut AccountFields) -> Result<()> {
    if source == Source::Salesforce || fields.arr_minor.is_none() {
        return Ok(());
    }
    let crm: Vec<Option<String>> =
        sqlx::query_scalar("SELECT record_fields FROM account_external_ids WHERE account_id = $1 AND source = $2")
            .bind(account_id)
            .bind(Source::Salesforce.as_str())
            .fetch_all(&mut **tx)
            .await?;
    let mut carries = false;
    for stored in &crm {
        carries |= match stored {
            Some(json) => StoredFields::parse(json)?.fields.arr_minor.is_some(),
            None => true,
        };
    }
    if carries {
        fields.arr_minor = None;
        fields.currency = None;
    }
    Ok(())
}

/// Upserts an account record; returns the account id when anything was written.
///
/// A record new to the store joins, in this order: the account of a record it says it
/// is, or of one that says it is this record (`same_as`: ids beat domains); the oldest
/// account sharing a registered domain; else a new account. Once placed, any other
/// account the id claims tie it to is merged in (the oldest survives), unless a person
/// kept their records apart.
pub(crate) async fn upsert_account_record(
    tx: &mut Tx,
    connector: &str,
    source: Source,
    record: &AccountRecord,
    changes: &mut ChangeSet,
    now: i64,
) -> Result<Option<i64>> {
    let hash = content_hash([Some(to_json("accounts", record)?.as_str())]);
    let mapping = find_by_external(tx, connector, &record.external_id).await?;
    if let Some(Mapping { hash: Some(stored), deleted_at: None, .. }) = &mapping {
        if *stored == hash {
            return Ok(None);
        }
    }
    let parent_id = match &record.parent_external_id {
        Some(parent) => find_by_external(tx, connector, parent).await?.map(|m| m.account_id),
        None => None,
    };
    // A parent not synced yet: remember no hash, so the same record is applied again
    // (and linked) once the parent exists.
    let unresolved = record.parent_external_id.is_some() && parent_id.is_none();
    let domains = normalized_domains(&record.domains);
    let name = record.name.trim().to_owned();
    let mut fields = AccountFields {
        name: Some(name.clone()),
        arr_minor: record.arr_minor,
        currency: record.currency.clone(),
        segment: record.segment.clone(),
        lifecycle_stage: record.lifecycle_stage,
        csm_owner: record.csm_owner.clone(),
        renewal_date: record.renewal_date.map(date_to_text),
        parent_id,
        plan: record.plan.clone(),
    };
    let stored = StoredFields::applied(&fields, mapping.as_ref().and_then(|m| m.fields.as_deref()), now)?.to_json()?;
    let own = RecordKey { connector: connector.to_owned(), external_id: record.external_id.clone() };
    let mut same = Vec::new();
    for id in graph::same_by_id(tx, source, &record.external_id, &record.same_as).await? {
        if !graph::record_kept_apart(tx, &own, id).await? {
            same.push(id);
        }
    }
    let (account_id, joined_by) = match mapping {
        Some(mapping) => {
            keep_crm_arr(tx, source, mapping.account_id, &mut fields).await?;
            fields.update(tx, mapping.account_id, now).await?;
            (mapping.account_id, JoinedBy::Created)
        }
        None => {
            let (found, by) = match same.first() {
                Some(id) => (Some(*id), JoinedBy::SameAs),
                None => {
                    (find_by_domains(tx, &domains, &[connector], std::slice::from_ref(&own)).await?, JoinedBy::Domain)
                }
            };
            match found {
                Some(existing) => {
                    // Joined an account another source created: that one keeps its name.
                    fields.name = None;
                    keep_crm_arr(tx, source, existing, &mut fields).await?;
                    fields.update(tx, existing, now).await?;
                    (existing, by)
                }
                None => (fields.insert(tx, now, now).await?, JoinedBy::Created),
            }
        }
    };
    let external = ExternalId { connector: connector.to_owned(), source, id: record.external_id.clone() };
    let joined = Joined { by: joined_by, name: &name, domains: &domains, at: now };
    set_external_id(tx, account_id, &external, Some(if unresolved { "" } else { &hash }), &joined, &stored).await?;
    graph::set_same_as(tx, connector, &record.external_id, &record.same_as).await?;
    add_domains(tx, account_id, &domains).await?;

    let mut survivor = account_id;
    for other in same.into_iter().filter(|id| *id != account_id) {
        if graph::accounts_kept_apart(tx, survivor, other).await? {
            continue;
        }
        let (winner, loser) = (survivor.min(other), survivor.max(other));
        graph::merge_into(tx, winner, loser, JoinedBy::SameAs, changes, now).await?;
        survivor = winner;
    }
    Ok(Some(survivor))
}

/// Creates or updates one imported account, matched by external id, then domain, then
/// (only for a line with neither) name. A line whose external ids belong to different
/// accounts is refused. `known` answers for the batch's external ids and learns this line's.
pub(crate) async fn import_account(
    tx: &mut Tx,
    known: &mut ExternalOwners,
    import: &AccountImport,
    now: i64,
) -> Result<i64> {
    let domains = normalized_domains(&import.domains);
    let mut owners: Vec<(i64, &ExternalId)> = Vec::new();
    for external in &import.external_ids {
        if let Some(account_id) = known.owner(external) {
            owners.push((account_id, external));
        }
    }
    if let Some((first, first_external)) = owners.first() {
        if let Some((other, other_external)) = owners.iter().find(|(id, _)| id != first) {
            return Err(StoreError::Conflict(format!(
                "import of `{}`: external id {}:{} belongs to account {first} but {}:{} to account {other}",
                import.name.trim(),
                first_external.connector,
                first_external.id,
                other_external.connector,
                other_external.id,
            )));
        }
    }
    let mut found = owners.first().map(|(id, _)| *id);
    if found.is_none() {
        let connectors: Vec<&str> = import.external_ids.iter().map(|x| x.connector.as_str()).collect();
        let records: Vec<RecordKey> = import
            .external_ids
            .iter()
            .map(|x| RecordKey { connector: x.connector.clone(), external_id: x.id.clone() })
            .collect();
        found = find_by_domains(tx, &domains, &connectors, &records).await?;
    }
    if found.is_none() && import.domains.is_empty() && import.external_ids.is_empty() {
        found = find_by_name(tx, &name_key(&import.name)).await?;
    }
    if let Some(parent) = import.parent_id {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM accounts WHERE id = $1").bind(parent).fetch_optional(&mut **tx).await?;
        if exists.is_none() {
            return Err(StoreError::NotFound { what: "parent account", id: parent });
        }
    }
    let fields = AccountFields {
        name: Some(import.name.trim().to_owned()),
        arr_minor: import.arr_minor,
        currency: import.currency.clone(),
        segment: import.segment.clone(),
        lifecycle_stage: import.lifecycle_stage,
        csm_owner: import.csm_owner.clone(),
        renewal_date: import.renewal_date.map(date_to_text),
        parent_id: import.parent_id,
        plan: import.plan.clone(),
    };
    let account_id = match found {
        Some(id) => {
            fields.update(tx, id, now).await?;
            id
        }
        None => fields.insert(tx, import.created_at.map_or(now, super::micros), now).await?,
    };
    known.point_at(tx, account_id, &import.external_ids, &fields, now).await?;
    add_domains(tx, account_id, &domains).await?;
    Ok(account_id)
}

/// Upserts a contact record by email; returns `(id, email)` when anything was written.
pub(crate) async fn upsert_contact_record(
    tx: &mut Tx,
    connector: &str,
    source: Source,
    record: &ContactRecord,
    now: i64,
) -> Result<Option<(i64, String)>> {
    let person = Person { email: Some(record.email.clone()), name: None };
    let Some(email) = person.normalized_email() else {
        tracing::warn!(connector, external_id = %record.external_id, "contact without a usable email skipped");
        return Ok(None);
    };
    let hash = content_hash([Some(to_json("contacts", record)?.as_str())]);
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT x.content_hash FROM contact_external_ids x JOIN contacts c ON c.id = x.contact_id \
         WHERE x.connector = $1 AND x.external_id = $2 AND c.deleted_at IS NULL",
    )
    .bind(connector)
    .bind(&record.external_id)
    .fetch_optional(&mut **tx)
    .await?
    .flatten();
    if stored.as_deref() == Some(hash.as_str()) {
        return Ok(None);
    }
    let account_id = match &record.account_external_id {
        Some(external) => find_by_external(tx, connector, external).await?.map(|m| m.account_id),
        None => None,
    };
    // An org not synced yet: remember no hash, so the same record links it later.
    let unresolved = record.account_external_id.is_some() && account_id.is_none();
    // No org in the record: the user left it, so unlink them from an account of this
    // connector (a link another connector made is not this record's to drop).
    let contact_id = sqlx::query_scalar::<Any, i64>(
        "INSERT INTO contacts (email, name, account_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (email) DO UPDATE SET \
         name = COALESCE(excluded.name, contacts.name), \
         account_id = CASE WHEN excluded.account_id IS NOT NULL THEN excluded.account_id \
         WHEN $5 = 1 AND contacts.account_id IN \
         (SELECT account_id FROM account_external_ids WHERE connector = $6) THEN NULL \
         ELSE contacts.account_id END, \
         updated_at = excluded.updated_at, deleted_at = NULL RETURNING id",
    )
    .bind(&email)
    .bind(&record.name)
    .bind(account_id)
    .bind(now)
    .bind(i64::from(record.account_external_id.is_none()))
    .bind(connector)
    .fetch_one(&mut **tx)
    .await?;
    let hash = if unresolved { String::new() } else { hash };
    sqlx::query(
        "INSERT INTO contact_external_ids (connector, source, external_id, contact_id, content_hash, \
         account_external_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (connector, external_id) DO UPDATE SET \
         source = excluded.source, contact_id = excluded.contact_id, \
         content_hash = excluded.content_hash, account_external_id = excluded.account_external_id",
    )
    .bind(connector)
    .bind(source.as_str())
    .bind(&record.external_id)
    .bind(contact_id)
    .bind(&hash)
    .bind(&record.account_external_id)
    .execute(&mut **tx)
    .await?;
    Ok(Some((contact_id, email)))
}

/// Removes a connector's claim on an account: the account is soft-deleted when that was
/// its last external id (the mapping is kept so the record can revive it), otherwise
/// only the mapping goes. Returns `(account id, soft-deleted)` when anything changed.
pub(crate) async fn delete_account(
    tx: &mut Tx,
    connector: &str,
    external_id: &str,
    now: i64,
) -> Result<Option<(i64, bool)>> {
    let Some(mapping) = find_by_external(tx, connector, external_id).await? else {
        return Ok(None);
    };
    if mapping.deleted_at.is_some() {
        return Ok(None);
    }
    let others: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM account_external_ids WHERE account_id = $1 \
         AND NOT (connector = $2 AND external_id = $3)",
    )
    .bind(mapping.account_id)
    .bind(connector)
    .bind(external_id)
    .fetch_one(&mut **tx)
    .await?;
    if others == 0 {
        sqlx::query("UPDATE accounts SET deleted_at = $2, updated_at = $2 WHERE id = $1")
            .bind(mapping.account_id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        return Ok(Some((mapping.account_id, true)));
    }
    sqlx::query("DELETE FROM account_external_ids WHERE connector = $1 AND external_id = $2")
        .bind(connector)
        .bind(external_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE accounts SET updated_at = $2 WHERE id = $1")
        .bind(mapping.account_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(Some((mapping.account_id, false)))
}

/// Soft-deletes the contact an external id maps to; returns `(id, email)` if it was live.
pub(crate) async fn delete_contact(
    tx: &mut Tx,
    connector: &str,
    external_id: &str,
    now: i64,
) -> Result<Option<(i64, String)>> {
    let row = sqlx::query(
        "UPDATE contacts SET deleted_at = $3, updated_at = $3 WHERE deleted_at IS NULL AND id IN \
         (SELECT contact_id FROM contact_external_ids WHERE connector = $1 AND external_id = $2) \
         RETURNING id, email",
    )
    .bind(connector)
    .bind(external_id)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| Ok((get(&row, "id")?, get(&row, "email")?))).transpose()
}

// --- reads -----------------------------------------------------------------------------

/// Which external-id table to read.
#[derive(Debug, Clone, Copy)]
enum ExternalIds {
    Account,
    Contact,
}

/// The external ids of the given accounts or contacts, by owner id.
async fn external_ids_of(pool: &AnyPool, kind: ExternalIds, ids: &[i64]) -> Result<HashMap<i64, Vec<ExternalId>>> {
    let (table, sql) = match kind {
        ExternalIds::Account => (
            "account_external_ids",
            "SELECT account_id AS owner_id, connector, source, external_id FROM account_external_ids \
             WHERE account_id IN ({ids}) ORDER BY account_id, connector, external_id",
        ),
        ExternalIds::Contact => (
            "contact_external_ids",
            "SELECT contact_id AS owner_id, connector, source, external_id FROM contact_external_ids \
             WHERE contact_id IN ({ids}) ORDER BY contact_id, connector, external_id",
        ),
    };
    let mut externals: HashMap<i64, Vec<ExternalId>> = HashMap::new();
    for row in fetch_by_ids(pool, sql, ids).await? {
        let source: String = get(&row, "source")?;
        let external = ExternalId {
            connector: get(&row, "connector")?,
            source: parse_text(table, &source)?,
            id: get(&row, "external_id")?,
        };
        externals.entry(get(&row, "owner_id")?).or_default().push(external);
    }
    Ok(externals)
}

pub(crate) fn account_from_row(row: &AnyRow) -> Result<Account> {
    const TABLE: &str = "accounts";
    let stage: Option<String> = get(row, "lifecycle_stage")?;
    let renewal: Option<String> = get(row, "renewal_date")?;
    Ok(Account {
        id: get(row, "id")?,
        name: get(row, "name")?,
        domains: Vec::new(),
        arr_minor: get(row, "arr_minor")?,
        currency: get(row, "currency")?,
        segment: get(row, "segment")?,
        plan: get(row, "plan")?,
        lifecycle_stage: stage.map(|stage| parse_text(TABLE, &stage)).transpose()?,
        csm_owner: get(row, "csm_owner")?,
        renewal_date: renewal.map(|date| date_from(TABLE, &date)).transpose()?,
        parent_id: get(row, "parent_id")?,
        merged_into: get(row, "merged_into")?,
        external_ids: Vec::new(),
        created_at: time_from(TABLE, get(row, "created_at")?)?,
        updated_at: time_from(TABLE, get(row, "updated_at")?)?,
    })
}

/// Decodes account rows and fills their domains and external ids.
pub(crate) async fn complete_accounts(pool: &AnyPool, rows: &[AnyRow]) -> Result<Vec<Account>> {
    let mut accounts = rows.iter().map(account_from_row).collect::<Result<Vec<_>>>()?;
    let ids: Vec<i64> = accounts.iter().map(|account| account.id).collect();
    let mut domains: HashMap<i64, Vec<String>> = HashMap::new();
    let sql = "SELECT account_id, domain FROM account_domains WHERE account_id IN ({ids}) \
               ORDER BY account_id, domain";
    for row in fetch_by_ids(pool, sql, &ids).await? {
        domains.entry(get(&row, "account_id")?).or_default().push(get(&row, "domain")?);
    }
    let mut externals = external_ids_of(pool, ExternalIds::Account, &ids).await?;
    for account in &mut accounts {
        account.domains = domains.remove(&account.id).unwrap_or_default();
        account.external_ids = externals.remove(&account.id).unwrap_or_default();
    }
    Ok(accounts)
}

/// Live accounts in id order.
pub(crate) async fn accounts_page(pool: &AnyPool, page: IdPage) -> Result<Vec<Account>> {
    let sql = format!("{ACCOUNT_SELECT} WHERE deleted_at IS NULL AND id > $1 ORDER BY id LIMIT $2");
    let rows = sqlx::query(&sql).bind(page.after_id).bind(i64::from(page.limit)).fetch_all(pool).await?;
    complete_accounts(pool, &rows).await
}

/// Accounts by id, soft-deleted ones included, in id order.
pub(crate) async fn accounts_by_id(pool: &AnyPool, ids: &[i64]) -> Result<Vec<Account>> {
    let sql = format!("{ACCOUNT_SELECT} WHERE id IN ({{ids}})");
    let mut rows = fetch_by_ids(pool, &sql, ids).await?;
    let mut keyed = rows.drain(..).map(|row| Ok((get::<i64>(&row, "id")?, row))).collect::<Result<Vec<_>>>()?;
    keyed.sort_by_key(|(id, _)| *id);
    keyed.dedup_by_key(|(id, _)| *id);
    let rows: Vec<AnyRow> = keyed.into_iter().map(|(_, row)| row).collect();
    complete_accounts(pool, &rows).await
}

/// Live contacts in id order, with their external ids.
pub(crate) async fn contacts_page(pool: &AnyPool, page: IdPage) -> Result<Vec<Contact>> {
    let rows = sqlx::query(
        "SELECT id, email, name, account_id FROM contacts WHERE deleted_at IS NULL AND id > $1 \
         ORDER BY id LIMIT $2",
    )
    .bind(page.after_id)
    .bind(i64::from(page.limit))
    .fetch_all(pool)
    .await?;
    let mut contacts = rows
        .iter()
        .map(|row| {
            Ok(Contact {
                id: get(row, "id")?,
                email: get(row, "email")?,
                name: get(row, "name")?,
                account_id: get(row, "account_id")?,
                external_ids: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let ids: Vec<i64> = contacts.iter().map(|contact| contact.id).collect();
    let mut externals = external_ids_of(pool, ExternalIds::Contact, &ids).await?;
    for contact in &mut contacts {
        contact.external_ids = externals.remove(&contact.id).unwrap_or_default();
    }
    Ok(contacts)
}

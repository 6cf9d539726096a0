//! Opportunities (pipeline): upserts and tombstones from sync records, and reads by account.
//!
//! An opportunity is keyed by `(connector, external_id)` and names its account by the
//! source's id; the account is resolved through `account_external_ids` when read.
//! Invariants: a record identical to the stored one writes nothing; an older copy (its
//! source time before the stored one) never overwrites a newer one, and never revives a
//! tombstone; a tombstoned opportunity comes back when its source serves it again at
//! the same or a newer version (restored from the recycle bin).

use crate::drivers::{AnyPool, AnyRow};
use chorus_core::OpportunityRecord;

use super::{content_hash, date_from, date_to_text, get, micros, time_from, to_json, Tx};
use crate::{Opportunity, Result};

const TABLE: &str = "opportunities";

/// What writing one opportunity record did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Written {
    /// Identical to the stored one, or an older copy.
    Unchanged,
    /// Inserted, changed or tombstoned; the accounts whose pipeline changed (those
    /// synced already: the old and the new one when it moved).
    Changed { accounts: Vec<i64> },
}

/// The account an opportunity's source account id maps to, if it was synced.
async fn account_of(tx: &mut Tx, connector: &str, account_external_id: Option<&str>) -> Result<Option<i64>> {
    let Some(external_id) = account_external_id else { return Ok(None) };
    let id =
        sqlx::query_scalar("SELECT account_id FROM account_external_ids WHERE connector = $1 AND external_id = $2")
            .bind(connector)
            .bind(external_id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(id)
}

/// Upserts one opportunity record.
pub(crate) async fn upsert(tx: &mut Tx, connector: &str, record: &OpportunityRecord, now: i64) -> Result<Written> {
    let hash = content_hash([Some(to_json(TABLE, record)?.as_str())]);
    let source_updated = micros(record.updated_at);
    let stored = sqlx::query(
        "SELECT content_hash, source_updated_at, deleted_at, account_external_id FROM opportunities \
         WHERE connector = $1 AND external_id = $2",
    )
    .bind(connector)
    .bind(&record.external_id)
    .fetch_optional(&mut **tx)
    .await?;
    let previous_account: Option<String> = match &stored {
        Some(row) => {
            let stored_hash: String = get(row, "content_hash")?;
            let stored_updated: i64 = get(row, "source_updated_at")?;
            let deleted_at: Option<i64> = get(row, "deleted_at")?;
            if (stored_hash == hash && deleted_at.is_none()) || source_updated < stored_updated {
                return Ok(Written::Unchanged);
            }
            get(row, "account_external_id")?
        }
        None => None,
    };
    sqlx::query(
        "INSERT INTO opportunities (connector, external_id, name, account_external_id, amount_minor, currency, \
         stage, probability, close_date, closed, won, blocker_external_id, source_updated_at, content_hash, \
         created_at, updated_at, deleted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, NULL) \
         ON CONFLICT (connector, external_id) DO UPDATE SET name = excluded.name, \
         account_external_id = excluded.account_external_id, amount_minor = excluded.amount_minor, \
         currency = excluded.currency, stage = excluded.stage, probability = excluded.probability, \
         close_date = excluded.close_date, closed = excluded.closed, won = excluded.won, \
         blocker_external_id = excluded.blocker_external_id, source_updated_at = excluded.source_updated_at, \
         content_hash = excluded.content_hash, updated_at = excluded.updated_at, deleted_at = NULL",
    )
    .bind(connector)
    .bind(&record.external_id)
    .bind(record.name.trim())
    .bind(&record.account_external_id)
    .bind(record.amount_minor)
    .bind(&record.currency)
    .bind(&record.stage)
    .bind(record.probability)
    .bind(record.close_date.map(date_to_text))
    .bind(i64::from(record.closed))
    .bind(i64::from(record.won))
    .bind(&record.blocker_external_id)
    .bind(source_updated)
    .bind(&hash)
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    // An opportunity moved to another account changes the old account's pipeline too.
    let mut accounts: Vec<i64> =
        account_of(tx, connector, record.account_external_id.as_deref()).await?.into_iter().collect();
    if previous_account.is_some() && previous_account != record.account_external_id {
        accounts.extend(account_of(tx, connector, previous_account.as_deref()).await?);
    }
    Ok(Written::Changed { accounts })
}

/// Tombstones an opportunity; `Unchanged` when it was not live.
/// Tombstones an opportunity; also returns the item it named as blocked, whose requests'
/// demand must no longer count it.
pub(crate) async fn delete(
    tx: &mut Tx,
    connector: &str,
    external_id: &str,
    now: i64,
) -> Result<(Written, Option<String>)> {
    let deleted: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "UPDATE opportunities SET deleted_at = $3, updated_at = $3 \
         WHERE connector = $1 AND external_id = $2 AND deleted_at IS NULL \
         RETURNING account_external_id, blocker_external_id",
    )
    .bind(connector)
    .bind(external_id)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    match deleted {
        None => Ok((Written::Unchanged, None)),
        Some((account, blocker)) => {
            let accounts = account_of(tx, connector, account.as_deref()).await?.into_iter().collect();
            Ok((Written::Changed { accounts }, blocker))
        }
    }
}

fn from_row(row: &AnyRow) -> Result<Opportunity> {
    let close_date: Option<String> = get(row, "close_date")?;
    Ok(Opportunity {
        id: get(row, "id")?,
        connector: get(row, "connector")?,
        external_id: get(row, "external_id")?,
        account_id: get(row, "account_id")?,
        account_external_id: get(row, "account_external_id")?,
        name: get(row, "name")?,
        amount_minor: get(row, "amount_minor")?,
        currency: get(row, "currency")?,
        stage: get(row, "stage")?,
        probability: get(row, "probability")?,
        close_date: close_date.map(|date| date_from(TABLE, &date)).transpose()?,
        closed: get::<i64>(row, "closed")? != 0,
        won: get::<i64>(row, "won")? != 0,
        blocker_external_id: get(row, "blocker_external_id")?,
        source_updated_at: time_from(TABLE, get(row, "source_updated_at")?)?,
    })
}

/// The live opportunities whose source account maps to `account_id`.
pub(crate) async fn of_account(pool: &AnyPool, account_id: i64) -> Result<Vec<Opportunity>> {
    let rows = sqlx::query(
        "SELECT o.id, o.connector, o.external_id, x.account_id, o.account_external_id, o.name, o.amount_minor, \
         o.currency, o.stage, o.probability, o.close_date, o.closed, o.won, o.blocker_external_id, \
         o.source_updated_at FROM opportunities o JOIN account_external_ids x \
         ON x.connector = o.connector AND x.external_id = o.account_external_id \
         WHERE x.account_id = $1 AND o.deleted_at IS NULL ORDER BY o.close_date, o.id",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

//! An account's fields as records write them, and each source record's own copy.
//!
//! The account's fields are folded from its records: a record (or import line) writes
//! the fields it carries and keeps the others (`update`: a field a record leaves out
//! never erases one). Each record's own fields are kept with its mapping too
//! (`account_external_ids.record_fields`, JSON, with when it was last applied), so a
//! split can give each half back what its own records brought (`fold`).
//!
//! Precedence when records are folded into an account, the same the writes use: ARR and
//! its currency from a Salesforce record first (the CRM's ARR, as a merge takes it and
//! as an upsert of another source's record leaves it), then from the most recently
//! applied record that carries an ARR; every other field
//! from the most recently applied record that carries it (an upsert overwrites what its
//! record carries, so the last one applied wins).

use chorus_core::{LifecycleStage, Source};
use serde::{Deserialize, Serialize};

use super::items::name_key;
use super::{parse_json, to_json, Tx};
use crate::drivers::Any;
use crate::Result;

/// Account columns to write; `None` keeps what is stored (on insert: the default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct AccountFields {
    /// The record's name is kept apart (`record_name`), not with its fields.
    #[serde(skip)]
    pub(crate) name: Option<String>,
    pub(crate) arr_minor: Option<i64>,
    pub(crate) currency: Option<String>,
    pub(crate) segment: Option<String>,
    pub(crate) lifecycle_stage: Option<LifecycleStage>,
    pub(crate) csm_owner: Option<String>,
    /// `YYYY-MM-DD`, as the column holds it.
    pub(crate) renewal_date: Option<String>,
    pub(crate) parent_id: Option<i64>,
    pub(crate) plan: Option<String>,
}

/// One record's fields as stored with its mapping: what its applications carried (a
/// field a later one left out keeps the earlier value) and when it was last applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredFields {
    #[serde(flatten)]
    pub(crate) fields: AccountFields,
    pub(crate) applied_at: i64,
}

const TABLE: &str = "account_external_ids";

impl StoredFields {
    /// `fields` applied at `now` over what the record stored before (`stored`, its JSON).
    pub(crate) fn applied(fields: &AccountFields, stored: Option<&str>, now: i64) -> Result<Self> {
        let before = stored.map(Self::parse).transpose()?.unwrap_or_default();
        Ok(Self { fields: fields.clone().or(before.fields), applied_at: now })
    }

    pub(crate) fn parse(text: &str) -> Result<Self> {
        parse_json(TABLE, text)
    }

    pub(crate) fn to_json(&self) -> Result<String> {
        to_json(TABLE, self)
    }
}

impl AccountFields {
    /// Each field from `self`, else from `other`.
    pub(crate) fn or(self, other: Self) -> Self {
        Self {
            name: self.name.or(other.name),
            arr_minor: self.arr_minor.or(other.arr_minor),
            currency: self.currency.or(other.currency),
            segment: self.segment.or(other.segment),
            lifecycle_stage: self.lifecycle_stage.or(other.lifecycle_stage),
            csm_owner: self.csm_owner.or(other.csm_owner),
            renewal_date: self.renewal_date.or(other.renewal_date),
            parent_id: self.parent_id.or(other.parent_id),
            plan: self.plan.or(other.plan),
        }
    }

    /// `self` without the fields `carried` holds (a split's staying half drops what only
    /// the records that left brought).
    pub(crate) fn without(self, carried: &Self) -> Self {
        fn keep<T>(value: Option<T>, carried: bool) -> Option<T> {
            value.filter(|_| !carried)
        }
        Self {
            name: self.name,
            arr_minor: keep(self.arr_minor, carried.arr_minor.is_some()),
            currency: keep(self.currency, carried.arr_minor.is_some()),
            segment: keep(self.segment, carried.segment.is_some()),
            lifecycle_stage: keep(self.lifecycle_stage, carried.lifecycle_stage.is_some()),
            csm_owner: keep(self.csm_owner, carried.csm_owner.is_some()),
            renewal_date: keep(self.renewal_date, carried.renewal_date.is_some()),
            parent_id: keep(self.parent_id, carried.parent_id.is_some()),
            plan: keep(self.plan, carried.plan.is_some()),
        }
    }

    /// The account fields records give, by the precedence at the top of this module.
    pub(crate) fn fold(records: &[(Source, StoredFields)]) -> Self {
        let mut newest: Vec<&(Source, StoredFields)> = records.iter().collect();
        newest.sort_by_key(|(_, stored)| std::cmp::Reverse(stored.applied_at));
        let mut folded = newest.iter().fold(Self::default(), |folded, (_, stored)| folded.or(stored.fields.clone()));
        // ARR and its currency travel together, the CRM's first.
        let crm_first = newest
            .iter()
            .filter(|(source, _)| *source == Source::Salesforce)
            .chain(newest.iter().filter(|(source, _)| *source != Source::Salesforce));
        if let Some((_, stored)) = crm_first.into_iter().find(|(_, stored)| stored.fields.arr_minor.is_some()) {
            folded.arr_minor = stored.fields.arr_minor;
            folded.currency = stored.fields.currency.clone().or(folded.currency);
        }
        folded
    }

    pub(crate) async fn insert(&self, tx: &mut Tx, created_at: i64, now: i64) -> Result<i64> {
        let name = self.name.clone().unwrap_or_default();
        let id = sqlx::query_scalar::<Any, i64>(
            "INSERT INTO accounts (name, name_key, arr_minor, currency, segment, \
             lifecycle_stage, csm_owner, renewal_date, parent_id, created_at, updated_at, plan) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(&name)
        .bind(name_key(&name))
        .bind(self.arr_minor.unwrap_or(0))
        .bind(self.currency.clone().unwrap_or_else(|| "USD".to_owned()))
        .bind(&self.segment)
        .bind(self.lifecycle_stage.map(LifecycleStage::as_str))
        .bind(&self.csm_owner)
        .bind(&self.renewal_date)
        .bind(self.parent_id)
        .bind(created_at)
        .bind(now)
        .bind(&self.plan)
        .fetch_one(&mut **tx)
        .await?;
        Ok(id)
    }

    /// Overwrites the provided fields and revives a soft-deleted account.
    pub(crate) async fn update(&self, tx: &mut Tx, id: i64, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE accounts SET name = COALESCE($2, name), name_key = COALESCE($3, name_key), \
             arr_minor = COALESCE($4, arr_minor), currency = COALESCE($5, currency), \
             segment = COALESCE($6, segment), lifecycle_stage = COALESCE($7, lifecycle_stage), \
             csm_owner = COALESCE($8, csm_owner), renewal_date = COALESCE($9, renewal_date), \
             parent_id = COALESCE($10, parent_id), updated_at = $11, deleted_at = NULL, \
             merged_into = NULL, plan = COALESCE($12, plan) WHERE id = $1",
        )
        .bind(id)
        .bind(&self.name)
        .bind(self.name.as_deref().map(name_key))
        .bind(self.arr_minor)
        .bind(&self.currency)
        .bind(&self.segment)
        .bind(self.lifecycle_stage.map(LifecycleStage::as_str))
        .bind(&self.csm_owner)
        .bind(&self.renewal_date)
        .bind(self.parent_id)
        .bind(now)
        .bind(&self.plan)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Sets every field but the name to these values: a missing one is cleared (ARR to
    /// 0; the currency alone is kept). A parent merged away is its survivor; an account
    /// is never its own parent.
    pub(crate) async fn replace(&self, tx: &mut Tx, id: i64, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE accounts SET arr_minor = $2, currency = COALESCE($3, currency), segment = $4, \
             lifecycle_stage = $5, csm_owner = $6, renewal_date = $7, \
             parent_id = (SELECT COALESCE(p.merged_into, p.id) FROM accounts p \
               WHERE p.id = $8 AND COALESCE(p.merged_into, p.id) <> $1), \
             plan = $9, updated_at = $10 WHERE id = $1",
        )
        .bind(id)
        .bind(self.arr_minor.unwrap_or(0))
        .bind(&self.currency)
        .bind(&self.segment)
        .bind(self.lifecycle_stage.map(LifecycleStage::as_str))
        .bind(&self.csm_owner)
        .bind(&self.renewal_date)
        .bind(self.parent_id)
        .bind(&self.plan)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The fields an account holds now (its name left out).
    pub(crate) async fn of_account(tx: &mut Tx, id: i64) -> Result<Self> {
        let row = sqlx::query(
            "SELECT arr_minor, currency, segment, lifecycle_stage, csm_owner, renewal_date, parent_id, plan \
             FROM accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
        let stage: Option<String> = super::get(&row, "lifecycle_stage")?;
        Ok(Self {
            name: None,
            arr_minor: Some(super::get(&row, "arr_minor")?),
            currency: Some(super::get(&row, "currency")?),
            segment: super::get(&row, "segment")?,
            lifecycle_stage: stage.map(|stage| super::parse_text("accounts", &stage)).transpose()?,
            csm_owner: super::get(&row, "csm_owner")?,
            renewal_date: super::get(&row, "renewal_date")?,
            parent_id: super::get(&row, "parent_id")?,
            plan: super::get(&row, "plan")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(applied_at: i64, fields: AccountFields) -> StoredFields {
        StoredFields { fields, applied_at }
    }

    #[test]
    fn the_crm_arr_wins_and_the_newest_record_gives_the_rest() {
        let crm = AccountFields {
            arr_minor: Some(900),
            currency: Some("EUR".into()),
            segment: Some("enterprise".into()),
            ..AccountFields::default()
        };
        let desk = AccountFields {
            arr_minor: Some(100),
            currency: Some("USD".into()),
            segment: Some("smb".into()),
            plan: Some("pro".into()),
            ..AccountFields::default()
        };
        let folded = AccountFields::fold(&[(Source::Salesforce, stored(1, crm)), (Source::Zendesk, stored(2, desk))]);
        assert_eq!((folded.arr_minor, folded.currency.as_deref()), (Some(900), Some("EUR")));
        assert_eq!(folded.segment.as_deref(), Some("smb"), "the record applied last wins");
        assert_eq!(folded.plan.as_deref(), Some("pro"), "a field only one record carries is kept");
    }

    #[test]
    fn stored_fields_keep_what_a_later_application_leaves_out() -> Result<()> {
        let first = AccountFields { segment: Some("smb".into()), arr_minor: Some(5), ..AccountFields::default() };
        let json = StoredFields::applied(&first, None, 1)?.to_json()?;
        let second = AccountFields { arr_minor: Some(7), ..AccountFields::default() };
        let again = StoredFields::applied(&second, Some(&json), 2)?;
        assert_eq!(
            (again.fields.arr_minor, again.fields.segment.as_deref(), again.applied_at),
            (Some(7), Some("smb"), 2)
        );
        Ok(())
    }
}

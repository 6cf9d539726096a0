//! Hand-made links and imports: creating requests, linking items to accounts by hand,
//! importing accounts (request links and the rest of a request's life: `requests`).
//!
//! Invariant: a manual account link replaces whatever link an item had and is never
//! replaced by automatic resolution; a request link's provenance only moves away from
//! `manual` when a person says so (never here); every write appends its change.

use chorus_core::{LinkProvenance, Request, RequestStatus};

use super::owners::ExternalOwners;
use super::requests::{request_from_row, REQUEST_SELECT};
use super::resolve::relink;
use super::{accounts, demand, now_micros, Appends, ChangeSet, SqlStore, Tx};
use crate::{AccountImport, ChangeEntity, IdPage, NewRequest, Result, StoreError};

pub(crate) async fn require(tx: &mut Tx, table: &'static str, what: &'static str, id: i64) -> Result<()> {
    let sql = format!("SELECT id FROM {table} WHERE id = $1");
    let found: Option<i64> = sqlx::query_scalar(&sql).bind(id).fetch_optional(&mut **tx).await?;
    found.map(|_| ()).ok_or(StoreError::NotFound { what, id })
}

impl SqlStore {
    pub(crate) async fn import_accounts_tx(&self, imports: &[AccountImport]) -> Result<Vec<i64>> {
        let now = now_micros();
        let mut tx = self.begin_write(Appends::Changes).await?;
        let mut changes = ChangeSet::default();
        let mut ids = Vec::with_capacity(imports.len());
        let mut known = ExternalOwners::load(&mut tx, self.dialect, imports).await?;
        for import in imports {
            let id = accounts::import_account(&mut tx, &mut known, import, now).await?;
            changes.touch(ChangeEntity::Account, id, false);
            ids.push(id);
        }
        let mut touched = ids.clone();
        touched.sort_unstable();
        touched.dedup();
        relink(&mut tx, self.dialect, &touched, &[], &mut changes, now).await?;
        demand::refresh_for_items(&mut tx, self.dialect, &changes.ids(ChangeEntity::Item), now).await?;
        changes.write(&mut tx, self.dialect, now).await?;
        tx.commit().await?;
        Ok(ids)
    }

    pub(crate) async fn create_request_tx(&self, request: &NewRequest) -> Result<Request> {
        let now = now_micros();
        let mut tx = self.begin_write(Appends::Changes).await?;
        if let Some(anchor) = request.anchor_item_id {
            require(&mut tx, "items", "item", anchor).await?;
        }
        let sql = "INSERT INTO requests (title, description, status, anchor_item_id, created_at, \
                   updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id, title, description, \
                   status, anchor_item_id, merged_into, created_at, updated_at";
        let row = sqlx::query(sql)
            .bind(&request.title)
            .bind(&request.description)
            .bind(RequestStatus::Open.as_str())
            .bind(request.anchor_item_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let created = request_from_row(&row)?;
        demand::refresh_requests(&mut tx, self.dialect, &[created.id], now).await?;
        let mut changes = ChangeSet::default();
        changes.touch(ChangeEntity::Request, created.id, false);
        changes.write(&mut tx, self.dialect, now).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub(crate) async fn requests_page(&self, page: IdPage) -> Result<Vec<Request>> {
        let sql = format!("{REQUEST_SELECT} WHERE id > $1 ORDER BY id LIMIT $2");
        let rows = sqlx::query(&sql).bind(page.after_id).bind(i64::from(page.limit)).fetch_all(&self.reader).await?;
        rows.iter().map(request_from_row).collect()
    }

    pub(crate) async fn link_item_account_tx(&self, item_id: i64, account_id: i64) -> Result<()> {
        let now = now_micros();
        let mut tx = self.begin_write(Appends::Changes).await?;
        require(&mut tx, "items", "item", item_id).await?;
        // Checked in the link's own transaction: a merge committing between a caller's
        // check and this write cannot leave an item on a merged-away account.
        super::graph::live_account(&mut tx, account_id).await?;
        sqlx::query(
            "INSERT INTO item_account_links (item_id, account_id, provenance, linked_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (item_id) DO UPDATE SET \
             account_id = excluded.account_id, provenance = excluded.provenance, \
             linked_at = excluded.linked_at",
        )
        .bind(item_id)
        .bind(account_id)
        .bind(LinkProvenance::Manual.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        demand::refresh_for_items(&mut tx, self.dialect, &[item_id], now).await?;
        let mut changes = ChangeSet::default();
        changes.touch(ChangeEntity::Item, item_id, false);
        changes.write(&mut tx, self.dialect, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

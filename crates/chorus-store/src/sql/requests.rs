//! Requests and their links: rename, status and ship, merge, promote a Jira issue,
//! link and unlink items, remembered rejections, and the two automatic paths a commit
//! takes — issue-key mentions and the anchoring issue's status.
//!
//! Invariants: a manual link is never replaced or removed by an automatic one (a key
//! mention only adds links; a merge keeps the strongest provenance); a merged request
//! keeps its row, points to the survivor and owns no link; every write refreshes the
//! demand of the requests it touches (`demand`) and appends its changes, in the same
//! transaction.

use std::collections::HashMap;

use chorus_core::{mentioned_issue_keys, LinkProvenance, Money, Request, RequestStatus};

use super::demand;
use super::{corrupt, get, in_chunks, parse_text, placeholders, time_from, Appends, ChangeSet, Dialect, SqlStore, Tx};
use crate::drivers::{AnyPool, AnyRow};
use crate::{ChangeEntity, MergeOutcome, RequestLink, Result, StoreError};

pub(crate) const REQUEST_SELECT: &str = "SELECT id, title, description, status, anchor_item_id, merged_into, \
    created_at, updated_at FROM requests";

pub(crate) fn request_from_row(row: &AnyRow) -> Result<Request> {
    const TABLE: &str = "requests";
    let status: String = get(row, "status")?;
    Ok(Request {
        id: get(row, "id")?,
        title: get(row, "title")?,
        description: get(row, "description")?,
        status: parse_text::<RequestStatus>(TABLE, &status)?,
        anchor_item_id: get(row, "anchor_item_id")?,
        merged_into: get(row, "merged_into")?,
        created_at: time_from(TABLE, get(row, "created_at")?)?,
        updated_at: time_from(TABLE, get(row, "updated_at")?)?,
    })
}

async fn request_in(tx: &mut Tx, id: i64) -> Result<Request> {
    let sql = format!("{REQUEST_SELECT} WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await?;
    row.as_ref().map(request_from_row).transpose()?.ok_or(StoreError::NotFound { what: "request", id })
}

/// The request, which must not have been merged away (its survivor is named).
async fn live_request(tx: &mut Tx, id: i64) -> Result<Request> {
    let request = request_in(tx, id).await?;
    match request.merged_into {
        Some(survivor) => Err(StoreError::Conflict(format!("request {id} was merged into request {survivor}"))),
        None => Ok(request),
    }
}

pub(crate) async fn request_by_id(pool: &AnyPool, id: i64) -> Result<Option<Request>> {
    let sql = format!("{REQUEST_SELECT} WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await?;
    row.as_ref().map(request_from_row).transpose()
}

/// Links one item to one request inside `tx`, snapshotting the ARR of the item's
/// account. An existing manual link is left as it is, and an automatic provenance never
/// replaces a person's (`manual`, `suggestion`). Returns whether anything was written.
pub(crate) async fn link_in(
    tx: &mut Tx,
    item_id: i64,
    request_id: i64,
    provenance: LinkProvenance,
    now: i64,
) -> Result<bool> {
    let guard = if provenance.is_automatic() {
        "item_request_links.provenance NOT IN ('manual', 'suggestion')"
    } else {
        "item_request_links.provenance <> 'manual'"
    };
    let sql = format!(
        "INSERT INTO item_request_links (item_id, request_id, provenance, linked_at, arr_at_ask_minor, \
         arr_at_ask_currency) \
         SELECT $1, $2, $3, $4, a.arr_minor, a.currency FROM items i \
         LEFT JOIN item_account_links l ON l.item_id = i.id \
         LEFT JOIN accounts a ON a.id = l.account_id AND a.deleted_at IS NULL WHERE i.id = $1 \
         ON CONFLICT (item_id, request_id) DO UPDATE SET provenance = excluded.provenance, \
         linked_at = excluded.linked_at WHERE {guard} \
         AND item_request_links.provenance <> excluded.provenance"
    );
    let written = sqlx::query(&sql)
        .bind(item_id)
        .bind(request_id)
        .bind(provenance.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(written > 0)
}

/// Links every item of `item_ids` whose text mentions an issue key that anchors a live
/// request to that request (provenance `key_mention`). Only keys of synced issues can
/// anchor a request, so only keys of the configured Jira projects ever link. An item
/// never links to the request it anchors itself.
pub(crate) async fn link_mentions(
    tx: &mut Tx,
    dialect: Dialect,
    item_ids: &[i64],
    changes: &mut ChangeSet,
    now: i64,
) -> Result<Vec<i64>> {
    let anchored: Option<i64> =
        sqlx::query_scalar("SELECT id FROM requests WHERE anchor_item_id IS NOT NULL AND merged_into IS NULL LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
    if anchored.is_none() || item_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut mentions: Vec<(i64, String)> = Vec::new();
    for chunk in in_chunks(item_ids) {
        let sql = format!(
            "SELECT id, item_key, title, body, comments FROM items WHERE deleted_at IS NULL AND id IN ({})",
            placeholders(1, chunk.len())
        );
        let sql = dialect.sql(&sql);
        let mut query = sqlx::query(&sql);
        for id in &chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let id: i64 = get(&row, "id")?;
            let own_key: Option<String> = get(&row, "item_key")?;
            let title: String = get(&row, "title")?;
            let body: String = get(&row, "body")?;
            let comments: String = get(&row, "comments")?;
            for text in [title, body, comments] {
                for key in mentioned_issue_keys(&text) {
                    if own_key.as_deref() != Some(key.as_str()) && !mentions.contains(&(id, key.clone())) {
                        mentions.push((id, key));
                    }
                }
            }
        }
    }
    let mut keys: Vec<&str> = mentions.iter().map(|(_, key)| key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut anchors: HashMap<String, Vec<i64>> = HashMap::new();
    for chunk in in_chunks(&keys) {
        let sql = format!(
            "SELECT i.item_key, r.id FROM items i JOIN requests r ON r.anchor_item_id = i.id \
             WHERE r.merged_into IS NULL AND i.deleted_at IS NULL AND i.item_key IN ({})",
            placeholders(1, chunk.len())
        );
        let sql = dialect.sql(&sql);
        let mut query = sqlx::query(&sql);
        for key in &chunk {
            query = query.bind(*key);
        }
        for row in query.fetch_all(&mut **tx).await? {
            anchors.entry(get(&row, "item_key")?).or_default().push(get(&row, "id")?);
        }
    }
    let mut touched = Vec::new();
    for (item_id, key) in &mentions {
        for request_id in anchors.get(key).into_iter().flatten() {
            if link_in(tx, *item_id, *request_id, LinkProvenance::KeyMention, now).await? {
                changes.touch(ChangeEntity::Item, *item_id, false);
                changes.touch(ChangeEntity::Request, *request_id, false);
                touched.push(*request_id);
            }
        }
    }
    Ok(touched)
}

/// Lets each anchoring issue among `item_ids` set its request's status (`Done` ships
/// it); a status that says nothing the request can use leaves it as it is.
pub(crate) async fn follow_anchors(
    tx: &mut Tx,
    dialect: Dialect,
    item_ids: &[i64],
    changes: &mut ChangeSet,
    now: i64,
) -> Result<()> {
    for chunk in in_chunks(item_ids) {
        let sql = format!(
            "SELECT r.id, r.status, i.status AS issue_status FROM requests r JOIN items i ON i.id = r.anchor_item_id \
             WHERE r.merged_into IS NULL AND i.deleted_at IS NULL AND r.anchor_item_id IN ({})",
            placeholders(1, chunk.len())
        );
        let sql = dialect.sql(&sql);
        let mut query = sqlx::query(&sql);
        for id in &chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let id: i64 = get(&row, "id")?;
            let current: String = get(&row, "status")?;
            let issue: String = get(&row, "issue_status")?;
            let Some(status) = RequestStatus::from_issue_status(&issue) else { continue };
            if status.as_str() != current {
                set_status_in(tx, id, status, now).await?;
                changes.touch(ChangeEntity::Request, id, false);
            }
        }
    }
    Ok(())
}

async fn set_status_in(tx: &mut Tx, id: i64, status: RequestStatus, now: i64) -> Result<()> {
    let shipped_at = (status == RequestStatus::Shipped).then_some(now);
    sqlx::query(
        "UPDATE requests SET status = $2, updated_at = $3, \
         shipped_at = CASE WHEN $4 IS NULL THEN NULL ELSE COALESCE(shipped_at, $4) END WHERE id = $1",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(now)
    .bind(shipped_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn link_from_row(row: &AnyRow) -> Result<RequestLink> {
    const TABLE: &str = "item_request_links";
    let provenance: String = get(row, "provenance")?;
    let minor: Option<i64> = get(row, "arr_at_ask_minor")?;
    let currency: Option<String> = get(row, "arr_at_ask_currency")?;
    let arr_at_ask = match (minor, currency) {
        (Some(minor), Some(currency)) => {
            Some(Money::parse(minor, &currency).map_err(|e| corrupt(TABLE, e.to_string()))?)
        }
        _ => None,
    };
    Ok(RequestLink {
        item_id: get(row, "item_id")?,
        request_id: get(row, "request_id")?,
        provenance: parse_text(TABLE, &provenance)?,
        linked_at: time_from(TABLE, get(row, "linked_at")?)?,
        arr_at_ask,
    })
}

impl SqlStore {
    pub(crate) async fn rename_request_tx(&self, id: i64, title: &str, description: Option<&str>) -> Result<Request> {
        let title = title.trim();
        if title.is_empty() {
            return Err(StoreError::Conflict("a request title cannot be empty".into()));
        }
        let now = super::now_micros();
        let mut tx = self.begin_write(Appends::Changes).await?;
        live_request(&mut tx, id).await?;
        sqlx::query(
            "UPDATE requests SET title = $2, description = COALESCE($3, description), updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(title)
        .bind(description)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let mut changes = ChangeSet::default();
        changes.touch(ChangeEntity::Request, id, false);
        changes.write(&mut tx, self.dialect, now).await?;
        let request = request_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(request)
    }

    pub(crate) async fn set_request_status_tx(&self, id: i64, status: RequestStatus) -> Result<Request> {
        let now = super::now_micros();
        let mut tx = self.begin_write(Appends::Changes).await?;
        live_request(&mut tx, id).await?;
        set_status_in(&mut tx, id, status, now).await?;
        let mut changes = ChangeSet::default();
        changes.touch(ChangeEntity::Request, id, false);
        changes.write(&mut tx, self.dialect, now).await?;
        let request = request_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(request)
    }

    /// Moves every link and rejection of `from` to `into`, then marks `from` merged.
    pub(crate) async fn merge_requests_tx(&self, from: i64, into: i64) -> Result<MergeOutcome> {
        if from == into {
            return Err(StoreError::Conflict(format!("request {from} cannot be merged into itself")));
        }
        let now = super::now_micros();
        let mut tx = self.begin_write(Appends::Changes).await?;
        let source = live_request(&mut tx, from).await?;
        let target = live_request(&mut tx, into).await?;
        let items: Vec<i64> = sqlx::query_scalar("SELECT item_id FROM item_request_links WHERE request_id = $1")
            .bind(from)
            .fetch_all(&mut *tx)
            .await?;
        // The stronger provenance wins where the item is linked to both: manual, then
        // an accepted suggestion, then whichever automatic one the survivor has.
        let moved_links = sqlx::query(
            "INSERT INTO item_request_links (item_id, request_id, provenance, linked_at, arr_at_ask_minor, \
             arr_at_ask_currency) SELECT item_id, $2, provenance, linked_at, arr_at_ask_minor, arr_at_ask_currency \
             FROM item_request_links WHERE request_id = $1 AND true \
             ON CONFLICT (item_id, request_id) DO UPDATE SET provenance = excluded.provenance \
             WHERE (excluded.provenance = 'manual' AND item_request_links.provenance <> 'manual') \
             OR (excluded.provenance = 'suggestion' AND item_request_links.provenance NOT IN ('manual', 'suggestion'))",
        )
        .bind(from)
        .bind(into)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM item_request_links WHERE request_id = $1").bind(from).execute(&mut *tx).await?;
        let moved_rejections = sqlx::query(
            "INSERT INTO request_link_rejections (request_id, item_id, rejected_at) \
             SELECT $2, item_id, rejected_at FROM request_link_rejections WHERE request_id = $1 AND true \
             ON CONFLICT (request_id, item_id) DO NOTHING",
        )
        .bind(from)
        .bind(into)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM request_link_rejections WHERE request_id = $1").bind(from).execute(&mut *tx).await?;
        if target.anchor_item_id.is_none() && source.anchor_item_id.is_some() {
            sqlx::query("UPDATE requests SET anchor_item_id = $2 WHERE id = $1")
                .bind(into)
                .bind(source.anchor_item_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE requests SET merged_into = $2, anchor_item_id = NULL, updated_at = $3 WHERE id = $1")
            .bind(from)
            .bind(into)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // Requests merged into `from` earlier now point straight at the survivor.
        sqlx::query("UPDATE requests SET merged_into = $2, updated_at = $3 WHERE merged_into = $1")
            .bind(from)
            .bind(into)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE requests SET updated_at = $2 WHERE id = $1").bind(into).bind(now).execute(&mut *tx).await?;
        demand::refresh_requests(&mut tx, self.dialect, &[from, into], now).await?;
        let mut changes = ChangeSet::default();
        changes.touch(ChangeEntity::Request, from, false);
        changes.touch(ChangeEntity::Request, into, false);
        for item in items {
            changes.touch(ChangeEntity::Item, item, false);
        }
        changes.write(&mut tx, self.dialect, now).await?;
        tx.commit().await?;
        Ok(MergeOutcome { moved_links, moved_rejections })
    }

    /// Makes the synced issue with `key` the anchor of a new request (titled like the
    /// issue, status from the issue's), links the issue itself and every live item that
    /// already mentions the key.
    pub(crate) async fn promote_issue_tx(&self, key: &str) -> Result<Request> {
        let key = key.trim();
        if mentioned_issue_keys(key) != [key] {
            return Err(StoreError::Conflict(format!("`{key}` is not an issue key (like PROD-123)")));
        }
        let now = super::now_micros();
        let mut tx = self.begin_write(Appends::Changes).await?;
        let row = sqlx::query(
            "SELECT id, title, body, status FROM items WHERE item_key = $1 AND deleted_at IS NULL \
             ORDER BY CASE WHEN source = 'jira' THEN 0 ELSE 1 END, id LIMIT 1",
        )
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("no synced issue has key `{key}`")))?;
        let anchor: i64 = get(&row, "id")?;
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM requests WHERE anchor_item_id = $1 AND merged_into IS NULL")
                .bind(anchor)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(existing) = existing {
            return Err(StoreError::Conflict(format!("`{key}` already anchors request {existing}")));
        }
        let title: String = get(&row, "title")?;
        let body: String = get(&row, "body")?;
        let issue_status: String = get(&row, "status")?;
        let status = RequestStatus::from_issue_status(&issue_status).unwrap_or(RequestStatus::Open);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO requests (title, description, status, anchor_item_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(&title)
        .bind(&body)
        .bind(status.as_str())
        .bind(anchor)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        if status == RequestStatus::Shipped {
            set_status_in(&mut tx, id, status, now).await?;
        }
        let mut changes = ChangeSet::default();
        changes.touch(ChangeEntity::Request, id, false);
        link_in(&mut tx, anchor, id, LinkProvenance::Manual, now).await?;
        changes.touch(ChangeEntity::Item, anchor, false);
        // Items synced before the promotion: a substring scan, confirmed by the parser.
        let pattern = format!("%{}%", key.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let candidates: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM items WHERE deleted_at IS NULL AND id <> $1 AND \
             (title LIKE $2 ESCAPE '\\' OR body LIKE $2 ESCAPE '\\' OR comments LIKE $2 ESCAPE '\\')",
        )
        .bind(anchor)
        .bind(&pattern)
        .fetch_all(&mut *tx)
        .await?;
        link_mentions(&mut tx, self.dialect, &candidates, &mut changes, now).await?;
        demand::refresh_requests(&mut tx, self.dialect, &[id], now).await?;
        changes.write(&mut tx, self.dialect, now).await?;
        let request = request_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(request)
    }

    pub(crate) async fn link_item_request_tx(
        &self,
        item_id: i64,
        request_id: i64,
        provenance: LinkProvenance,
    ) -> Result<()> {
        let now = super::now_micros();
        let mut tx = self.begin_write(Appends::Changes).await?;
        super::links::require(&mut tx, "items", "item", item_id).await?;
        live_request(&mut tx, request_id).await?;
        if link_in(&mut tx, item_id, request_id, provenance, now).await? {
            if provenance == LinkProvenance::Suggestion {
                sqlx::query("DELETE FROM request_link_rejections WHERE request_id = $1 AND item_id = $2")
                    .bind(request_id)
                    .bind(item_id)
                    .execute(&mut *tx)
                    .await?;
            }
            demand::refresh_requests(&mut tx, self.dialect, &[request_id], now).await?;
            let mut changes = ChangeSet::default();
            changes.touch(ChangeEntity::Item, item_id, false);
            changes.touch(ChangeEntity::Request, request_id, false);
            changes.write(&mut tx, self.dialect, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn unlink_item_request_tx(&self, item_id: i64, request_id: i64) -> Result<bool> {
        let now = super::now_micros();
        let mut tx = self.begin_write(Appends::Changes).await?;
        let removed = sqlx::query("DELETE FROM item_request_links WHERE item_id = $1 AND request_id = $2")
            .bind(item_id)
            .bind(request_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed > 0 {
            demand::refresh_requests(&mut tx, self.dialect, &[request_id], now).await?;
            let mut changes = ChangeSet::default();
            changes.touch(ChangeEntity::Item, item_id, false);
            changes.touch(ChangeEntity::Request, request_id, false);
            changes.write(&mut tx, self.dialect, now).await?;
        }
        tx.commit().await?;
        Ok(removed > 0)
    }

    /// Remembers that `item_id` is not about `request_id`; it is never suggested again.
    pub(crate) async fn reject_suggestion_tx(&self, request_id: i64, item_id: i64) -> Result<()> {
        let now = super::now_micros();
        let mut tx = self.begin_write(Appends::Nothing).await?;
        super::links::require(&mut tx, "items", "item", item_id).await?;
        live_request(&mut tx, request_id).await?;
        sqlx::query(
            "INSERT INTO request_link_rejections (request_id, item_id, rejected_at) VALUES ($1, $2, $3) \
             ON CONFLICT (request_id, item_id) DO NOTHING",
        )
        .bind(request_id)
        .bind(item_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn request_links_read(&self, request_id: i64) -> Result<Vec<RequestLink>> {
        let rows = sqlx::query(
            "SELECT item_id, request_id, provenance, linked_at, arr_at_ask_minor, arr_at_ask_currency \
             FROM item_request_links WHERE request_id = $1 ORDER BY item_id",
        )
        .bind(request_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(link_from_row).collect()
    }

    /// Items rejected for `request_id`, or requests rejected for `item_id`.
    pub(crate) async fn rejections_read(
        &self,
        request_id: Option<i64>,
        item_id: Option<i64>,
    ) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT request_id, item_id FROM request_link_rejections \
             WHERE ($1 IS NULL OR request_id = $1) AND ($2 IS NULL OR item_id = $2) ORDER BY request_id, item_id",
        )
        .bind(request_id)
        .bind(item_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(|row| Ok((get(row, "request_id")?, get(row, "item_id")?))).collect()
    }
}

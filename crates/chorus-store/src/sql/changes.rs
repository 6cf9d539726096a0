//! The change log: which entities a transaction touched, appended when it commits.
//!
//! A `ChangeSet` collects touches during one write transaction and writes one row per
//! entity (its final state: changed or deleted) just before commit, in first-touch order.
//! Because it is written inside the same transaction as the data, a follower never sees
//! data without its change row, nor a change row without its data.

use std::collections::HashMap;

use crate::drivers::AnyRow;

use super::{corrupt, get, placeholders, pow2_batches, Dialect, Tx};
use crate::{Change, ChangeEntity, Result};

/// Change rows per multi-row insert (4 binds a row; see `items::UPSERT_BATCH`).
const CHANGE_BATCH: usize = 256;

/// Entities touched by one write transaction.
#[derive(Debug, Default)]
pub(crate) struct ChangeSet {
    order: Vec<(ChangeEntity, i64)>,
    deleted: HashMap<(ChangeEntity, i64), bool>,
}

impl ChangeSet {
    /// Records that an entity changed (`deleted = false`) or was deleted.
    pub(crate) fn touch(&mut self, entity: ChangeEntity, id: i64, deleted: bool) {
        if self.deleted.insert((entity, id), deleted).is_none() {
            self.order.push((entity, id));
        }
    }

    /// Ids of the touched entities of one kind, in first-touch order.
    pub(crate) fn ids(&self, entity: ChangeEntity) -> Vec<i64> {
        self.order.iter().filter(|(e, _)| *e == entity).map(|(_, id)| *id).collect()
    }

    /// Appends one change row per touched entity.
    pub(crate) async fn write(self, tx: &mut Tx, dialect: Dialect, now: i64) -> Result<()> {
        let mut rows = self.order.iter();
        for size in pow2_batches(self.order.len(), CHANGE_BATCH) {
            let values: Vec<String> = (0..size).map(|row| format!("({})", placeholders(1 + row * 4, 4))).collect();
            let text =
                format!("INSERT INTO changes (entity, entity_id, deleted, changed_at) VALUES {}", values.join(", "));
            let sql = dialect.sql(&text);
            let mut query = sqlx::query(&sql);
            for (entity, id) in rows.by_ref().take(size) {
                let deleted = self.deleted.get(&(*entity, *id)).copied().unwrap_or(false);
                query = query.bind(entity.as_str()).bind(*id).bind(i64::from(deleted)).bind(now);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

pub(crate) fn change_from_row(row: &AnyRow) -> Result<Change> {
    let entity: String = get(row, "entity")?;
    Ok(Change {
        seq: get(row, "seq")?,
        entity: ChangeEntity::parse(&entity).ok_or_else(|| corrupt("changes", format!("unknown entity `{entity}`")))?,
        entity_id: get(row, "entity_id")?,
        deleted: get::<i64>(row, "deleted")? != 0,
    })
}

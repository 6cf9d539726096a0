//! `Credentials`: what a connector persists in the store (rotated OAuth refresh
//! tokens) and reads back (its live item and account ids, for reconciliation).
//!
//! A leaf module: `auth` and `connector` both use it, and it uses neither. Invariant:
//! a stored value changes only by compare-and-swap, so two processes rotating one
//! token cannot both win.

use std::sync::Arc;

use chorus_store::Store;

use crate::ConnectorError;

/// A connector's persisted credentials, backed by the store.
#[derive(Clone)]
pub struct Credentials {
    connector: String,
    store: Arc<dyn Store>,
}

impl Credentials {
    pub fn new(connector: impl Into<String>, store: Arc<dyn Store>) -> Self {
        Self { connector: connector.into(), store }
    }

    /// The stored value, if any.
    pub async fn get(&self, name: &str) -> Result<Option<String>, ConnectorError> {
        self.store
            .credential(&self.connector, name)
            .await
            .map_err(|e| ConnectorError::transient("credential store", e.to_string()))
    }

    /// Replaces `expected` by `new` atomically; `false` if someone else replaced it first.
    pub async fn swap(&self, name: &str, expected: Option<&str>, new: &str) -> Result<bool, ConnectorError> {
        self.store
            .swap_credential(&self.connector, name, expected, new)
            .await
            .map_err(|e| ConnectorError::transient("credential store", e.to_string()))
    }

    /// External ids of the connector's items tombstoned at or after `since`, so that
    /// reconciliation can re-check deletions it inferred.
    pub async fn deleted_item_ids_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>, ConnectorError> {
        self.store
            .deleted_external_ids_since(&self.connector, since)
            .await
            .map_err(|e| ConnectorError::transient("store", e.to_string()))
    }

    /// The stored items among `external_ids` (live ones; a tombstone or an unknown id
    /// is left out), by external id, without their raw payloads: what a connector that
    /// reads only what changed merges its news into, since an upsert replaces an item's
    /// comments whole. One store query per few hundred ids.
    pub async fn stored_items(
        &self,
        external_ids: &[String],
    ) -> Result<std::collections::HashMap<String, chorus_core::Item>, ConnectorError> {
        let ids: Vec<&str> = external_ids.iter().map(String::as_str).collect();
        let items = self
            .store
            .items_by_external_ids(&self.connector, &ids, chorus_store::Raw::Omit)
            .await
            .map_err(|e| ConnectorError::transient("store", e.to_string()))?;
        Ok(items
            .into_iter()
            .filter(|item| item.deleted_at.is_none())
            .map(|item| (item.external_id.clone(), item))
            .collect())
    }

    /// External ids of the connector's live accounts, for reconciliation: accounts
    /// soft-deleted or detached from this connector are left out.
    pub async fn known_account_ids(&self) -> Result<Vec<String>, ConnectorError> {
        self.store
            .live_account_external_ids(&self.connector)
            .await
            .map_err(|e| ConnectorError::transient("store", e.to_string()))
    }

    /// External ids of the connector's live (not deleted) items, for reconciliation.
    pub async fn known_item_ids(&self) -> Result<Vec<String>, ConnectorError> {
        self.store
            .live_external_ids(&self.connector)
            .await
            .map_err(|e| ConnectorError::transient("store", e.to_string()))
    }
}

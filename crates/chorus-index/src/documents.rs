//! Items become index documents here, and only here: the follower and the rebuild both
//! call [`Projector::project`], so the two can never index the same item differently.
//!
//! A document carries the item's own fields and, denormalized from its account, the
//! account's name, segment, lifecycle stage and ARR converted to the reporting currency
//! (`[money]`). An account whose currency has no configured rate contributes ARR 0 and
//! the currency is named in a warning (once per call): a sum is never silently 1:1.
//! Invariant: a tombstone never becomes a document; it only leaves the index.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chorus_core::{Account, ExchangeRates, Item, Money};
use chorus_store::Store;
use tantivy::TantivyDocument;

use crate::error::Result;
use crate::schema::{normalize_status, to_tantivy_date, Fields, TITLE_WEIGHT};

/// Builds item documents for one generation (its fields) in one reporting currency.
#[derive(Debug, Clone)]
pub struct Projector {
    fields: Fields,
    rates: Arc<ExchangeRates>,
}

impl Projector {
    pub fn new(fields: Fields, rates: Arc<ExchangeRates>) -> Self {
        Self { fields, rates }
    }

    /// One `(item id, document)` per item, in order: `None` for a tombstone. `accounts`
    /// is a cache by id; the accounts it lacks are read in one query and added to it
    /// (soft-deleted accounts included, so an item still linked to one keeps its
    /// account attributes whichever path indexes it).
    pub async fn project(
        &self,
        store: &Arc<dyn Store>,
        items: &[Item],
        accounts: &mut HashMap<i64, Account>,
    ) -> Result<Vec<(i64, Option<TantivyDocument>)>> {
        let missing: BTreeSet<i64> = items
            .iter()
            .filter(|item| item.deleted_at.is_none())
            .filter_map(|item| item.account_id)
            .filter(|id| !accounts.contains_key(id))
            .collect();
        if !missing.is_empty() {
            let missing: Vec<i64> = missing.into_iter().collect();
            accounts.extend(store.accounts_by_id(&missing).await?.into_iter().map(|account| (account.id, account)));
        }
        let mut unconverted = BTreeSet::new();
        let documents = items
            .iter()
            .map(|item| {
                let document = item.deleted_at.is_none().then(|| {
                    let account = item.account_id.and_then(|id| accounts.get(&id));
                    self.document(item, account, &mut unconverted)
                });
                (item.id, document)
            })
            .collect();
        if !unconverted.is_empty() {
            let currencies: Vec<String> = unconverted.into_iter().collect();
            tracing::warn!(
                currencies = %currencies.join(", "),
                reporting = %self.rates.reporting_currency,
                "accounts in a currency without an exchange rate count as ARR 0 in search; add it under [money.rates]"
            );
        }
        Ok(documents)
    }

    /// The account's ARR in minor units of the reporting currency; 0 (and its currency
    /// recorded in `unconverted`) when it cannot be converted.
    pub fn reporting_arr(&self, account: &Account, unconverted: &mut BTreeSet<String>) -> i64 {
        let converted =
            Money::parse(account.arr_minor.max(0), &account.currency).and_then(|money| self.rates.to_reporting(money));
        match converted {
            Ok(minor) => minor.max(0),
            Err(_) => {
                unconverted.insert(account.currency.trim().to_uppercase());
                0
            }
        }
    }

    /// The document of a live item and its account (if linked and known).
    fn document(&self, item: &Item, account: Option<&Account>, unconverted: &mut BTreeSet<String>) -> TantivyDocument {
        debug_assert!(item.deleted_at.is_none(), "tombstones are never indexed");
        let fields = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_i64(fields.item_id, item.id);
        doc.add_text(fields.title, &item.title);
        doc.add_text(fields.title_pairs, &item.title);
        doc.add_text(fields.body, &item.body);
        doc.add_text(fields.body_pairs, &item.body);
        for comment in &item.comments {
            doc.add_text(fields.comments, &comment.body);
            doc.add_text(fields.comments_pairs, &comment.body);
        }
        for _ in 0..TITLE_WEIGHT {
            doc.add_text(fields.words, &item.title);
        }
        doc.add_text(fields.words, &item.body);
        for comment in &item.comments {
            doc.add_text(fields.words, &comment.body);
        }
        doc.add_text(fields.kind, item.kind.as_str());
        doc.add_text(fields.source, item.source.as_str());
        doc.add_text(fields.status, normalize_status(&item.status));
        doc.add_text(fields.connector, &item.connector);
        for request_id in &item.request_ids {
            doc.add_i64(fields.request_ids, *request_id);
        }
        doc.add_bool(fields.has_request, !item.request_ids.is_empty());
        doc.add_date(fields.created_at, to_tantivy_date(item.created_at));
        doc.add_date(fields.updated_at, to_tantivy_date(item.updated_at));
        if let Some(url) = &item.url {
            doc.add_text(fields.url, url);
        }
        let Some(account_id) = item.account_id else {
            return doc;
        };
        doc.add_i64(fields.account_id, account_id);
        let account = account.filter(|account| account.id == account_id);
        doc.add_i64(fields.account_arr, account.map_or(0, |account| self.reporting_arr(account, unconverted)));
        let Some(account) = account else {
            return doc;
        };
        doc.add_text(fields.account_name, &account.name);
        if let Some(segment) = &account.segment {
            doc.add_text(fields.segment, segment);
        }
        if let Some(stage) = account.lifecycle_stage {
            doc.add_text(fields.lifecycle_stage, stage.as_str());
        }
        doc
    }
}

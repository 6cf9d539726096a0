//! Committing one sync page: records, tombstones, links, change log and cursor together.
//!
//! Invariant: everything a page does happens in one write transaction that first proves
//! the caller still holds the connector's claim and read the current cursor version; if
//! any step fails the transaction rolls back and neither records nor cursor move.

use std::collections::{HashMap, HashSet};

use chorus_core::{EntityKind, Record};

use super::items::{stored_items, tombstone, upsert_items, ItemRow, StoredItem};
use super::opportunities::{self, Written};
use super::resolve::{apply_links, links_of, relink, Resolver};
use super::runs::check_claim;
use super::{accounts, now_micros, to_json, Appends, ChangeSet, Dialect, SqlStore, Tx};
use super::{demand, requests};
use crate::{ChangeEntity, PageCommit, PageOutcome, Result, RunClaim, StoreError};

/// Item rows queued before they are written: a 1 000-record page flushes once (one round
/// of upserts, links and resolution), while memory stays bounded on larger pages.
const FLUSH_ROWS: usize = 1024;

/// The state one commit carries from record to record.
struct PageWriter<'a> {
    page: &'a PageCommit,
    dialect: Dialect,
    now: i64,
    items: HashMap<String, StoredItem>,
    links: HashMap<i64, super::resolve::Link>,
    resolver: Resolver,
    /// The page's item records, normalized once, in record order.
    rows: std::vec::IntoIter<ItemRow>,
    /// Item rows waiting to be upserted together (no external id twice).
    pending: Vec<ItemRow>,
    /// The external ids of `pending`: a record's duplicate is found in one look-up, not by
    /// comparing it with every queued row.
    pending_ids: HashSet<String>,
    changes: ChangeSet,
    touched_accounts: Vec<i64>,
    touched_emails: Vec<String>,
    /// Items the page's deleted opportunities named as blocked.
    unblocked: Vec<String>,
    outcome: PageOutcome,
}

impl SqlStore {
    pub(crate) async fn commit_page_tx(&self, claim: &RunClaim, page: &PageCommit) -> Result<PageOutcome> {
        if claim.connector != page.connector {
            return Err(StoreError::ClaimLost { connector: page.connector.clone() });
        }
        let mut tx = self.begin_write(Appends::Changes).await?;
        check_claim(&mut tx, self.dialect, claim).await?;
        let version: i64 = sqlx::query_scalar("SELECT version FROM sync_state WHERE connector = $1")
            .bind(&page.connector)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or(0);
        if version != page.expected_version {
            return Err(StoreError::CursorConflict {
                connector: page.connector.clone(),
                expected: page.expected_version,
                actual: version,
            });
        }

        let mut writer = PageWriter::prepare(&mut tx, self.dialect, page).await?;
        for record in &page.records {
            writer.apply(&mut tx, record).await?;
        }
        writer.finish(&mut tx).await?;

        let cursor = to_json("sync_state", &page.cursor)?;
        let new_version = version + 1;
        sqlx::query(
            "INSERT INTO sync_state (connector, cursor, version, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (connector) DO UPDATE SET cursor = excluded.cursor, \
             version = excluded.version, updated_at = excluded.updated_at",
        )
        .bind(&page.connector)
        .bind(cursor)
        .bind(new_version)
        .bind(writer.now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(PageOutcome { cursor_version: new_version, ..writer.outcome })
    }
}

impl<'a> PageWriter<'a> {
    /// Loads, in a few queries, what the page's items already are and link to.
    async fn prepare(tx: &mut Tx, dialect: Dialect, page: &'a PageCommit) -> Result<Self> {
        let now = now_micros();
        let external_ids: Vec<&str> = page
            .records
            .iter()
            .filter_map(|record| match record {
                Record::Item(item) => Some(item.external_id.as_str()),
                Record::Deleted { entity: EntityKind::Item, external_id } => Some(external_id.as_str()),
                _ => None,
            })
            .collect();
        let items = stored_items(tx, dialect, &page.connector, &external_ids).await?;
        let ids: Vec<i64> = items.values().map(|item| item.id).collect();
        let links = links_of(tx, dialect, &ids).await?;
        let rows: Vec<ItemRow> = page
            .records
            .iter()
            .filter_map(|record| match record {
                Record::Item(item) => Some(ItemRow::new(&page.connector, page.source, item)),
                _ => None,
            })
            .collect::<Result<_>>()?;
        let mut resolver = Resolver::new(dialect);
        resolver.prefetch_fallbacks(tx, &rows.iter().map(|row| &row.hints).collect::<Vec<_>>()).await?;
        Ok(Self {
            page,
            dialect,
            now,
            items,
            links,
            resolver,
            rows: rows.into_iter(),
            pending: Vec::new(),
            pending_ids: HashSet::new(),
            changes: ChangeSet::default(),
            touched_accounts: Vec::new(),
            touched_emails: Vec::new(),
            unblocked: Vec::new(),
            outcome: PageOutcome::default(),
        })
    }

    async fn apply(&mut self, tx: &mut Tx, record: &Record) -> Result<()> {
        let connector = self.page.connector.as_str();
        let source = self.page.source;
        if let Record::Item(item) = record {
            let row = match self.rows.next() {
                Some(row) => row,
                None => ItemRow::new(connector, source, item)?,
            };
            debug_assert_eq!(row.external_id, item.external_id);
            return self.queue_item(tx, row).await;
        }
        // Anything else may delete a queued item or change what items resolve to.
        self.flush_items(tx).await?;
        match record {
            Record::Item(_) => Ok(()),
            Record::Account(account) => {
                let written =
                    accounts::upsert_account_record(tx, connector, source, account, &mut self.changes, self.now)
                        .await?;
                match written {
                    Some(id) => {
                        self.account_changed(id, false);
                        self.outcome.upserted += 1;
                    }
                    None => self.outcome.unchanged += 1,
                }
                Ok(())
            }
            Record::Contact(contact) => {
                match accounts::upsert_contact_record(tx, connector, source, contact, self.now).await? {
                    Some((id, email)) => {
                        self.contact_changed(id, email, false);
                        self.outcome.upserted += 1;
                    }
                    None => self.outcome.unchanged += 1,
                }
                Ok(())
            }
            Record::Opportunity(opportunity) => {
                let written = opportunities::upsert(tx, connector, opportunity, self.now).await?;
                self.pipeline_written(written, false);
                Ok(())
            }
            Record::Deleted { entity, external_id } => self.delete(tx, *entity, external_id).await,
        }
    }

    /// Counts an opportunity write and logs a change of each account whose pipeline it
    /// moved (an account's items rank by its open pipeline).
    fn pipeline_written(&mut self, written: Written, deleted: bool) {
        match written {
            Written::Unchanged => self.outcome.unchanged += 1,
            Written::Changed { accounts } => {
                for account in accounts {
                    self.changes.touch(ChangeEntity::Account, account, false);
                }
                if deleted {
                    self.outcome.deleted += 1;
                } else {
                    self.outcome.upserted += 1;
                }
            }
        }
    }

    /// Queues an item for upsert unless it is a duplicate or a stale tombstone record.
    async fn queue_item(&mut self, tx: &mut Tx, row: ItemRow) -> Result<()> {
        if self.pending_ids.contains(&row.external_id) {
            self.flush_items(tx).await?;
        }
        match self.items.get(&row.external_id) {
            Some(stored) if stored.deleted_at.is_none() && stored.hash == row.hash => {
                self.outcome.unchanged += 1;
                return Ok(());
            }
            // A tombstone comes back when the source serves the item again at its last
            // known version or a newer one (an issue back in scope, access restored).
            // Source times are compared with source times: `deleted_at` is our clock.
            // Only an older version — a stale copy — leaves it deleted.
            Some(StoredItem { deleted_at: Some(_), updated_at, .. }) if row.updated_at < *updated_at => {
                self.outcome.unchanged += 1;
                return Ok(());
            }
            _ => {}
        }
        self.pending_ids.insert(row.external_id.clone());
        self.pending.push(row);
        if self.pending.len() >= FLUSH_ROWS {
            self.flush_items(tx).await?;
        }
        Ok(())
    }

    /// Upserts the queued items, then logs and links each.
    async fn flush_items(&mut self, tx: &mut Tx) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        self.pending_ids.clear();
        let upserted = upsert_items(tx, self.dialect, &rows).await?;
        let ids: Vec<i64> = upserted.iter().map(|item| item.id).collect();
        let mut updates = Vec::with_capacity(rows.len());
        for (row, item) in rows.iter().zip(&upserted) {
            let id = item.id;
            self.outcome.upserted += 1;
            self.changes.touch(ChangeEntity::Item, id, false);
            self.resolver.learn_source_account(&row.hints, item.source_account);
            let resolved = self.resolver.resolve(tx, &row.hints).await?;
            updates.push((id, self.links.get(&id).copied(), resolved));
        }
        let stored = apply_links(tx, self.dialect, &updates, &mut self.changes, self.now).await?;
        for ((row, id), link) in rows.into_iter().zip(ids).zip(stored) {
            match link {
                Some(link) => self.links.insert(id, link),
                None => self.links.remove(&id),
            };
            self.items.insert(
                row.external_id,
                StoredItem { id, hash: row.hash, updated_at: row.updated_at, deleted_at: None },
            );
        }
        Ok(())
    }

    async fn delete(&mut self, tx: &mut Tx, entity: EntityKind, external_id: &str) -> Result<()> {
        let connector = self.page.connector.as_str();
        match entity {
            EntityKind::Item => match self.items.get_mut(external_id) {
                Some(stored) if stored.deleted_at.is_none() => {
                    tombstone(tx, stored.id, self.now).await?;
                    stored.deleted_at = Some(self.now);
                    self.changes.touch(ChangeEntity::Item, stored.id, true);
                    self.outcome.deleted += 1;
                }
                _ => self.outcome.unchanged += 1,
            },
            EntityKind::Account => match accounts::delete_account(tx, connector, external_id, self.now).await? {
                Some((id, deleted)) => {
                    self.account_changed(id, deleted);
                    self.outcome.deleted += 1;
                }
                None => self.outcome.unchanged += 1,
            },
            EntityKind::Contact => match accounts::delete_contact(tx, connector, external_id, self.now).await? {
                Some((id, email)) => {
                    self.contact_changed(id, email, true);
                    self.outcome.deleted += 1;
                }
                None => self.outcome.unchanged += 1,
            },
            EntityKind::Opportunity => {
                let (written, blocker) = opportunities::delete(tx, connector, external_id, self.now).await?;
                self.unblocked.extend(blocker);
                self.pipeline_written(written, true);
            }
        }
        Ok(())
    }

    /// Items named as blockers by the page's opportunities, written or deleted: what
    /// they hold up may have changed, so their requests' demand is refreshed.
    async fn blocker_items(&self, tx: &mut Tx) -> Result<Vec<i64>> {
        let named: Vec<&str> = self
            .page
            .records
            .iter()
            .filter_map(|record| match record {
                Record::Opportunity(opportunity) => opportunity.blocker_external_id.as_deref(),
                _ => None,
            })
            .chain(self.unblocked.iter().map(String::as_str))
            .collect();
        if named.is_empty() {
            return Ok(Vec::new());
        }
        let stored = stored_items(tx, self.dialect, &self.page.connector, &named).await?;
        Ok(stored.values().map(|item| item.id).collect())
    }

    fn account_changed(&mut self, id: i64, deleted: bool) {
        self.changes.touch(ChangeEntity::Account, id, deleted);
        self.touched_accounts.push(id);
        self.resolver.clear();
    }

    fn contact_changed(&mut self, id: i64, email: String, deleted: bool) {
        self.changes.touch(ChangeEntity::Contact, id, deleted);
        self.touched_emails.push(email);
        self.resolver.clear();
    }

    /// Re-resolves items the page's accounts and contacts may claim, then writes the log.
    async fn finish(&mut self, tx: &mut Tx) -> Result<()> {
        self.flush_items(tx).await?;
        if !self.touched_accounts.is_empty() || !self.touched_emails.is_empty() {
            self.touched_accounts.sort_unstable();
            self.touched_accounts.dedup();
            let (accounts, emails) = (&self.touched_accounts, &self.touched_emails);
            relink(tx, self.dialect, accounts, emails, &mut self.changes, self.now).await?;
        }
        // --- requests: key mentions, anchoring issues, demand (sql/requests.rs, sql/demand.rs)
        let mut items = self.changes.ids(ChangeEntity::Item);
        items.extend(self.blocker_items(tx).await?);
        requests::link_mentions(tx, self.dialect, &items, &mut self.changes, self.now).await?;
        requests::follow_anchors(tx, self.dialect, &items, &mut self.changes, self.now).await?;
        demand::refresh_for_items(tx, self.dialect, &items, self.now).await?;
        // --- end requests
        std::mem::take(&mut self.changes).write(tx, self.dialect, self.now).await
    }
}

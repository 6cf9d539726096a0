//! Resolving an item to its account, and keeping automatic links up to date.
//!
//! Order: the source's explicit account (external id of the same connector, then exact
//! case-insensitive name), then the author's contact email, then the author's email
//! domain, matched by registered domain (`ann@eu.acme.co.uk` finds `acme.co.uk`; free
//! mail never matches). Invariant: a `manual` or `suggestion` link is never
//! replaced or removed here; any other link follows the latest resolution, so a ticket
//! moved to another organization moves, and one whose account vanished is unlinked.

use std::collections::{HashMap, HashSet};

use crate::drivers::{Any, AnyPool};
use chorus_core::LinkProvenance;

use super::graph::domain_key;
use super::hints::{Hints, LIVE_EXTERNAL_OWNERS};
use super::{get, in_chunks, parse_text, placeholders, pow2_batches, ChangeSet, Dialect, Tx};
use crate::{ChangeEntity, Result};

/// A link as stored: the account and why.
pub(crate) type Link = (i64, LinkProvenance);

/// The four lookups, each an `IN (...)` query from a key to an account id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lookup {
    ExternalId,
    Name,
    Email,
    Domain,
}

impl Lookup {
    /// Whether keys are scoped by connector (`$1`); keys follow the scope.
    fn scoped(self) -> bool {
        self == Lookup::ExternalId
    }

    fn sql(self, n: usize) -> String {
        let keys = placeholders(if self.scoped() { 2 } else { 1 }, n);
        match self {
            Lookup::ExternalId => format!(
                "SELECT x.external_id AS lookup_key, MIN(x.account_id) AS account_id \
                 {LIVE_EXTERNAL_OWNERS} AND x.connector = $1 AND x.external_id IN ({keys}) \
                 GROUP BY x.external_id"
            ),
            Lookup::Name => format!(
                "SELECT name_key AS lookup_key, MIN(id) AS account_id FROM accounts \
                 WHERE deleted_at IS NULL AND name_key IN ({keys}) GROUP BY name_key"
            ),
            Lookup::Email => format!(
                "SELECT c.email AS lookup_key, MIN(c.account_id) AS account_id \
                 FROM contacts c JOIN accounts a ON a.id = c.account_id \
                 WHERE c.deleted_at IS NULL AND a.deleted_at IS NULL AND c.email IN ({keys}) GROUP BY c.email"
            ),
            Lookup::Domain => format!(
                "SELECT d.registered AS lookup_key, MIN(d.account_id) AS account_id \
                 FROM account_domains d JOIN accounts a ON a.id = d.account_id \
                 WHERE a.deleted_at IS NULL AND d.registered IN ({keys}) \
                 GROUP BY d.registered"
            ),
        }
    }
}

/// The account each email domain resolves to by the `Domain` lookup (its registered
/// domain), keyed by the domains given; those that resolve to none are left out.
pub(crate) async fn accounts_for_domains(pool: &AnyPool, domains: &[String]) -> Result<HashMap<String, i64>> {
    let mut by_key: HashMap<String, Vec<&String>> = HashMap::new();
    for domain in domains {
        let key = domain_key(domain);
        if !key.is_empty() {
            by_key.entry(key).or_default().push(domain);
        }
    }
    let keys: Vec<&str> = by_key.keys().map(String::as_str).collect();
    let mut found = HashMap::new();
    for chunk in in_chunks(&keys) {
        let sql = Lookup::Domain.sql(chunk.len());
        let mut query = sqlx::query(&sql);
        for key in chunk {
            query = query.bind(key);
        }
        for row in query.fetch_all(pool).await? {
            let key: String = get(&row, "lookup_key")?;
            let account: i64 = get(&row, "account_id")?;
            for domain in by_key.get(&key).into_iter().flatten() {
                found.insert((*domain).clone(), account);
            }
        }
    }
    Ok(found)
}

/// Page-scoped cache of account lookups. Must be `clear`ed whenever accounts or contacts
/// change inside the transaction.
#[derive(Debug)]
pub(crate) struct Resolver {
    dialect: Dialect,
    cache: HashMap<(Lookup, String, String), Option<i64>>,
}

impl Resolver {
    pub(crate) fn new(dialect: Dialect) -> Self {
        Self { dialect, cache: HashMap::new() }
    }

    pub(crate) fn clear(&mut self) {
        self.cache.clear();
    }

    /// Loads every lookup the given items will need, a few queries per page.
    pub(crate) async fn prefetch(&mut self, tx: &mut Tx, hints: &[&Hints]) -> Result<()> {
        self.prefetch_lookups(tx, hints, true).await
    }

    /// Loads the lookups the given items will need after the first step, whose answer
    /// their upsert returns (`item_source_account`, handed over with `learn_source_account`).
    pub(crate) async fn prefetch_fallbacks(&mut self, tx: &mut Tx, hints: &[&Hints]) -> Result<()> {
        self.prefetch_lookups(tx, hints, false).await
    }

    /// Caches what an item's `account_external_id` resolves to, as its upsert returned it.
    pub(crate) fn learn_source_account(&mut self, hints: &Hints, account: Option<i64>) {
        if let Some(key) = &hints.account_external_id {
            self.cache.insert((Lookup::ExternalId, hints.connector.clone(), key.clone()), account);
        }
    }

    async fn prefetch_lookups(&mut self, tx: &mut Tx, hints: &[&Hints], external_ids: bool) -> Result<()> {
        let mut wanted: HashMap<(Lookup, &str), HashSet<&str>> = HashMap::new();
        for hint in hints {
            let connector = hint.connector.as_str();
            let keys = [
                (Lookup::ExternalId, connector, hint.account_external_id.as_deref()),
                (Lookup::Name, "", hint.account_name_key.as_deref()),
                (Lookup::Email, "", hint.author_email.as_deref()),
                (Lookup::Domain, "", hint.author_domain.as_deref()),
            ];
            for (lookup, scope, key) in keys {
                let Some(key) = key else { continue };
                if lookup == Lookup::ExternalId && !external_ids {
                    continue;
                }
                if !self.cache.contains_key(&(lookup, scope.to_owned(), key.to_owned())) {
                    wanted.entry((lookup, scope)).or_default().insert(key);
                }
            }
        }
        for ((lookup, scope), keys) in wanted {
            let keys: Vec<&str> = keys.into_iter().collect();
            self.load(tx, lookup, scope, &keys).await?;
        }
        Ok(())
    }

    async fn load(&mut self, tx: &mut Tx, lookup: Lookup, scope: &str, keys: &[&str]) -> Result<()> {
        for key in keys {
            self.cache.insert((lookup, scope.to_owned(), (*key).to_owned()), None);
        }
        for chunk in in_chunks(keys) {
            let text = lookup.sql(chunk.len());
            let sql = self.dialect.sql(&text);
            let mut query = sqlx::query(&sql);
            if lookup.scoped() {
                query = query.bind(scope);
            }
            for key in chunk {
                query = query.bind(key);
            }
            for row in query.fetch_all(&mut **tx).await? {
                let key: String = get(&row, "lookup_key")?;
                let account: i64 = get(&row, "account_id")?;
                self.cache.insert((lookup, scope.to_owned(), key), Some(account));
            }
        }
        Ok(())
    }

    async fn find(&mut self, tx: &mut Tx, lookup: Lookup, scope: &str, key: &str) -> Result<Option<i64>> {
        let cache_key = (lookup, scope.to_owned(), key.to_owned());
        if let Some(found) = self.cache.get(&cache_key) {
            return Ok(*found);
        }
        self.load(tx, lookup, scope, &[key]).await?;
        Ok(self.cache.get(&cache_key).copied().flatten())
    }

    /// The account an item belongs to by automatic resolution, with the reason.
    pub(crate) async fn resolve(&mut self, tx: &mut Tx, hints: &Hints) -> Result<Option<Link>> {
        let steps = [
            (
                Lookup::ExternalId,
                hints.connector.as_str(),
                hints.account_external_id.as_deref(),
                LinkProvenance::SourceField,
            ),
            (Lookup::Name, "", hints.account_name_key.as_deref(), LinkProvenance::SourceField),
            (Lookup::Email, "", hints.author_email.as_deref(), LinkProvenance::ContactEmail),
            (Lookup::Domain, "", hints.author_domain.as_deref(), LinkProvenance::EmailDomain),
        ];
        for (lookup, scope, key, provenance) in steps {
            let Some(key) = key else { continue };
            if let Some(account) = self.find(tx, lookup, scope, key).await? {
                return Ok(Some((account, provenance)));
            }
        }
        Ok(None)
    }
}

/// The stored account links of the given items.
pub(crate) async fn links_of(tx: &mut Tx, dialect: Dialect, item_ids: &[i64]) -> Result<HashMap<i64, Link>> {
    let mut links = HashMap::with_capacity(item_ids.len());
    for chunk in in_chunks(item_ids) {
        let text = format!(
            "SELECT item_id, account_id, provenance FROM item_account_links WHERE item_id IN ({})",
            placeholders(1, chunk.len())
        );
        let sql = dialect.sql(&text);
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let provenance: String = get(&row, "provenance")?;
            let link = (get(&row, "account_id")?, parse_text("item_account_links", &provenance)?);
            links.insert(get(&row, "item_id")?, link);
        }
    }
    Ok(links)
}

/// Rows per multi-row link upsert (4 binds a row; see `items::UPSERT_BATCH`).
const LINK_BATCH: usize = 256;

/// One item's link decision: its id, the link stored now, and the link it resolves to.
pub(crate) type LinkUpdate = (i64, Option<Link>, Option<Link>);

/// Moves each item's automatic link to its resolution (or removes it), a few statements
/// for many items; a manual or accepted suggestion link stays. Returns, in `updates`
/// order, the link now stored for each item. `updates` must not repeat an item.
pub(crate) async fn apply_links(
    tx: &mut Tx,
    dialect: Dialect,
    updates: &[LinkUpdate],
    changes: &mut ChangeSet,
    now: i64,
) -> Result<Vec<Option<Link>>> {
    let mut upserts: Vec<(i64, Link)> = Vec::new();
    let mut removals: Vec<i64> = Vec::new();
    let mut stored = Vec::with_capacity(updates.len());
    for &(item_id, current, resolved) in updates {
        if current.is_some_and(|(_, provenance)| !provenance.is_automatic()) || current == resolved {
            stored.push(current);
            continue;
        }
        match resolved {
            Some(link) => upserts.push((item_id, link)),
            None => removals.push(item_id),
        }
        changes.touch(ChangeEntity::Item, item_id, false);
        stored.push(resolved);
    }
    let mut remaining = upserts.as_slice();
    // Unpadded batches: one statement must not upsert the same item twice.
    for size in pow2_batches(remaining.len(), LINK_BATCH) {
        let (batch, rest) = remaining.split_at(size);
        remaining = rest;
        let values: Vec<String> = (0..size).map(|row| format!("({})", placeholders(1 + row * 4, 4))).collect();
        let text = format!(
            "INSERT INTO item_account_links (item_id, account_id, provenance, linked_at) \
             VALUES {} ON CONFLICT (item_id) DO UPDATE SET \
             account_id = excluded.account_id, provenance = excluded.provenance, \
             linked_at = excluded.linked_at \
             WHERE item_account_links.provenance NOT IN ('manual', 'suggestion')",
            values.join(", ")
        );
        let sql = dialect.sql(&text);
        let mut query = sqlx::query(&sql);
        for (item_id, (account, provenance)) in batch {
            query = query.bind(*item_id).bind(*account).bind(provenance.as_str()).bind(now);
        }
        query.execute(&mut **tx).await?;
    }
    for chunk in in_chunks(&removals) {
        let text = format!(
            "DELETE FROM item_account_links WHERE item_id IN ({}) \
             AND provenance NOT IN ('manual', 'suggestion')",
            placeholders(1, chunk.len())
        );
        let sql = dialect.sql(&text);
        let mut query = sqlx::query(&sql);
        for item_id in chunk {
            query = query.bind(item_id);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(stored)
}

/// Re-resolves the live items that the given accounts and contact emails may now claim
/// (an organization that arrived after its tickets, a contact that moved, an account
/// that was deleted).
pub(crate) async fn relink(
    tx: &mut Tx,
    dialect: Dialect,
    accounts: &[i64],
    emails: &[String],
    changes: &mut ChangeSet,
    now: i64,
) -> Result<()> {
    let mut candidates: Vec<i64> = Vec::new();
    for chunk in in_chunks(accounts) {
        // The chunk's ids once per arm, so the placeholders run `$1 … $4n` in order.
        let n = chunk.len();
        let text = format!(
            "SELECT i.id FROM items i JOIN account_external_ids x \
               ON x.connector = i.connector AND x.external_id = i.account_external_id \
               WHERE x.account_id IN ({}) \
             UNION SELECT i.id FROM items i JOIN accounts a ON a.name_key = i.account_name_key \
               WHERE a.id IN ({}) \
             UNION SELECT i.id FROM items i JOIN account_domains d ON d.registered = i.author_domain \
               WHERE d.account_id IN ({}) \
             UNION SELECT item_id FROM item_account_links WHERE account_id IN ({})",
            placeholders(1, n),
            placeholders(1 + n, n),
            placeholders(1 + 2 * n, n),
            placeholders(1 + 3 * n, n),
        );
        let sql = dialect.sql(&text);
        let mut query = sqlx::query_scalar::<Any, i64>(&sql);
        for _arm in 0..4 {
            for account in &chunk {
                query = query.bind(*account);
            }
        }
        candidates.extend(query.fetch_all(&mut **tx).await?);
    }
    for email in emails {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM items WHERE author_email = $1").bind(email).fetch_all(&mut **tx).await?;
        candidates.extend(ids);
    }
    candidates.sort_unstable();
    candidates.dedup();

    let mut items: Vec<(i64, Hints, Option<Link>)> = Vec::with_capacity(candidates.len());
    for chunk in in_chunks(&candidates) {
        let text = format!(
            "SELECT i.id, i.connector, i.account_external_id, i.account_name_key, \
             i.author_email, i.author_domain, l.account_id, l.provenance \
             FROM items i LEFT JOIN item_account_links l ON l.item_id = i.id \
             WHERE i.deleted_at IS NULL AND i.id IN ({})",
            placeholders(1, chunk.len())
        );
        let sql = dialect.sql(&text);
        let mut query = sqlx::query(&sql);
        for id in &chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let id: i64 = get(&row, "id")?;
            let account: Option<i64> = get(&row, "account_id")?;
            let provenance: Option<String> = get(&row, "provenance")?;
            let link = match (account, provenance) {
                (Some(account), Some(provenance)) => Some((account, parse_text("item_account_links", &provenance)?)),
                _ => None,
            };
            items.push((id, Hints::from_row(&row)?, link));
        }
    }

    let mut resolver = Resolver::new(dialect);
    let hints: Vec<&Hints> = items.iter().map(|(_, hints, _)| hints).collect();
    resolver.prefetch(tx, &hints).await?;
    let mut updates = Vec::with_capacity(items.len());
    for (id, hints, link) in &items {
        updates.push((*id, *link, resolver.resolve(tx, hints).await?));
    }
    apply_links(tx, dialect, &updates, changes, now).await?;
    Ok(())
}

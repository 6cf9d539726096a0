//! Reads over an account's items: the triage queue of items that resolve to no account,
//! and what account health needs about one account.
//!
//! Invariant: every read here is a bounded number of statements whatever the number of
//! items — the triage queue one keyset-paged statement a page, health three statements
//! an account (items, their open requests, opportunities), never one per item.

use std::collections::{BTreeMap, HashMap};

use crate::drivers::AnyPool;
use chorus_core::health::{is_open_status, HealthItem};
use chorus_core::Kind;

use super::{get, opportunities, parse_json, parse_text, time_from};
use crate::{AccountHealthData, Result, TriageCursor, TriageItem};

/// Largest triage page.
const MAX_PAGE: u32 = 500;

/// Micros in a day: the queue's newest-first order is by day, richest first within one.
const DAY_MICROS: i64 = 86_400_000_000;

/// One page of the triage queue: live items with no account link.
pub(crate) async fn queue(pool: &AnyPool, after: Option<TriageCursor>, limit: u32) -> Result<Vec<TriageItem>> {
    let day = format!("(i.created_at / {DAY_MICROS})");
    let richness = "CAST(LENGTH(i.body) + LENGTH(i.comments) AS BIGINT)";
    let sql = format!(
        "SELECT i.id, i.connector, i.source, i.external_id, i.kind, i.title, i.url, i.status, \
         i.author_email, i.author_name, i.created_at, {day} AS day, {richness} AS richness \
         FROM items i LEFT JOIN item_account_links l ON l.item_id = i.id \
         WHERE l.item_id IS NULL AND i.deleted_at IS NULL AND ($1 = 0 OR {day} < $2 \
           OR ({day} = $2 AND {richness} < $3) OR ({day} = $2 AND {richness} = $3 AND i.id < $4)) \
         ORDER BY day DESC, richness DESC, i.id DESC LIMIT $5"
    );
    let cursor = after.unwrap_or(TriageCursor { day: 0, richness: 0, id: 0 });
    let rows = sqlx::query(&sql)
        .bind(i64::from(after.is_some()))
        .bind(cursor.day)
        .bind(cursor.richness)
        .bind(cursor.id)
        .bind(i64::from(limit.clamp(1, MAX_PAGE)))
        .fetch_all(pool)
        .await?;
    const TABLE: &str = "items";
    rows.iter()
        .map(|row| {
            let source: String = get(row, "source")?;
            let kind: String = get(row, "kind")?;
            let id: i64 = get(row, "id")?;
            let day: i64 = get(row, "day")?;
            let richness: i64 = get(row, "richness")?;
            Ok(TriageItem {
                id,
                connector: get(row, "connector")?,
                source: parse_text(TABLE, &source)?,
                external_id: get(row, "external_id")?,
                kind: parse_text(TABLE, &kind)?,
                title: get(row, "title")?,
                url: get(row, "url")?,
                status: get(row, "status")?,
                author_email: get(row, "author_email")?,
                author_name: get(row, "author_name")?,
                created_at: time_from(TABLE, get(row, "created_at")?)?,
                richness,
                cursor: TriageCursor { day, richness, id },
            })
        })
        .collect()
}

/// An account's live items, the open requests they link to, and its opportunities.
pub(crate) async fn health_data(pool: &AnyPool, account_id: i64) -> Result<AccountHealthData> {
    const TABLE: &str = "items";
    let links = sqlx::query(
        "SELECT rl.item_id, r.id AS request_id, r.title FROM item_request_links rl \
         JOIN requests r ON r.id = rl.request_id \
         JOIN item_account_links l ON l.item_id = rl.item_id JOIN items i ON i.id = rl.item_id \
         WHERE l.account_id = $1 AND i.deleted_at IS NULL AND r.status NOT IN ('shipped', 'declined')",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    let mut requests: BTreeMap<i64, String> = BTreeMap::new();
    let mut by_item: HashMap<i64, Vec<i64>> = HashMap::new();
    for row in &links {
        let request: i64 = get(row, "request_id")?;
        requests.insert(request, get(row, "title")?);
        by_item.entry(get(row, "item_id")?).or_default().push(request);
    }

    let opportunities = opportunities::of_account(pool, account_id).await?;
    let blocked: HashMap<(&str, &str), i64> = opportunities
        .iter()
        .filter_map(|o| Some(((o.connector.as_str(), o.blocker_external_id.as_deref()?), o.id)))
        .collect();

    let rows = sqlx::query(
        "SELECT i.id, i.connector, i.external_id, i.kind, i.status, i.created_at, i.csat, i.tags \
         FROM items i JOIN item_account_links l ON l.item_id = i.id \
         WHERE l.account_id = $1 AND i.deleted_at IS NULL ORDER BY i.id",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = get(row, "id")?;
        let kind: String = get(row, "kind")?;
        let kind: Kind = parse_text(TABLE, &kind)?;
        let status: String = get(row, "status")?;
        let connector: String = get(row, "connector")?;
        let external_id: String = get(row, "external_id")?;
        let tags: String = get(row, "tags")?;
        let mut capabilities: Vec<String> = parse_json(TABLE, &tags)?;
        let open_request_ids = by_item.remove(&id).unwrap_or_default();
        capabilities.extend(open_request_ids.iter().filter_map(|r| requests.get(r).cloned()));
        let opportunity_id = match kind {
            Kind::SalesBlocker => blocked.get(&(connector.as_str(), external_id.as_str())).copied(),
            _ => None,
        };
        items.push(HealthItem {
            kind,
            open: is_open_status(&status),
            created_at: time_from(TABLE, get(row, "created_at")?)?,
            csat: get(row, "csat")?,
            opportunity_id,
            open_request_ids,
            capabilities,
        });
    }
    Ok(AccountHealthData { items, opportunities, requests: requests.into_iter().collect() })
}

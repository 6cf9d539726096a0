//! Per-request demand: each request's live linked items aggregated per account
//! (`chorus_core::priority::RequestDemand`), kept in `request_demand` and read by ranking.
//!
//! Invariant: a request's `request_demand` row equals the fold of its live links
//! (`chorus_core::priority::demand_from_asks`) at every commit. Every write that changes
//! a link, an item's account, kind or deletion, or the opportunity a blocker names calls
//! `refresh_for_items` / `refresh_requests` in its own transaction; a merge of accounts
//! calls `refresh_for_accounts`. Ranking then reads one row a request (its per-account
//! entries packed into a fixed-width array) instead of every link and item.
//! `recompute_all` rebuilds the same numbers from scratch with SQL `GROUP BY`s: the test
//! oracle and the benchmark's baseline.

use std::collections::{BTreeMap, HashMap};

use chorus_core::money::{Currency, Money};
use chorus_core::priority::{
    demand_from_asks, AccountAsks, AccountFacts, Ask, KindSet, Opportunity, PackedDemand, PersonId, Probability,
    RequestDemand,
};
use chorus_core::Kind;
use futures::TryStreamExt;
use sqlx::Row;

use super::packed::{self, CurrencyCache};
use super::{corrupt, get, in_chunks, parse_text, placeholders, time_from, Dialect, Tx};
use crate::drivers::{AnyPool, AnyRow};
use crate::Result;

const TABLE: &str = "request_demand";

/// The asks of the given requests' live links, one query per chunk of requests.
const ASKS_SQL: &str = "SELECT r.request_id, l.account_id, i.kind, i.created_at, i.author_email, \
     r.arr_at_ask_minor, r.arr_at_ask_currency, \
     (SELECT MIN(o.id) FROM opportunities o WHERE o.connector = i.connector \
       AND o.blocker_external_id = i.external_id AND o.deleted_at IS NULL) AS opportunity_id \
     FROM item_request_links r JOIN items i ON i.id = r.item_id \
     LEFT JOIN item_account_links l ON l.item_id = i.id \
     WHERE i.deleted_at IS NULL AND r.request_id IN ({ids}) ORDER BY r.request_id, i.created_at, i.id";

fn ask_from_row(row: &AnyRow) -> Result<Ask> {
    let kind: String = get(row, "kind")?;
    let kind: Kind = parse_text("items", &kind)?;
    let author: Option<String> = get(row, "author_email")?;
    let arr_minor: Option<i64> = get(row, "arr_at_ask_minor")?;
    let arr_currency: Option<String> = get(row, "arr_at_ask_currency")?;
    let arr_at_ask = match (arr_minor, arr_currency) {
        (Some(minor), Some(currency)) => {
            Some(Money::parse(minor, &currency).map_err(|e| corrupt("item_request_links", e.to_string()))?)
        }
        _ => None,
    };
    Ok(Ask {
        request_id: get(row, "request_id")?,
        account_id: get(row, "account_id")?,
        kind,
        asked_at: time_from("items", get(row, "created_at")?)?,
        author: author.as_deref().map(PersonId::of_email),
        arr_at_ask,
        opportunity_id: if kind == Kind::SalesBlocker { get(row, "opportunity_id")? } else { None },
    })
}

/// Rewrites the demand rows of `request_ids` from their live links (a request with no
/// link gets an empty row; a merged request's row is removed).
pub(crate) async fn refresh_requests(tx: &mut Tx, dialect: Dialect, request_ids: &[i64], now: i64) -> Result<()> {
    let mut ids = request_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(256) {
        let padded = in_chunks(chunk).into_iter().next().unwrap_or_default();
        let sql = ASKS_SQL.replace("{ids}", &placeholders(1, padded.len()));
        let sql = dialect.sql(&sql);
        let mut query = sqlx::query(&sql);
        for id in &padded {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&mut **tx).await?;
        let asks = rows.iter().map(ask_from_row).collect::<Result<Vec<_>>>()?;
        let mut folded: HashMap<i64, RequestDemand> =
            demand_from_asks(asks).into_iter().map(|demand| (demand.request_id, demand)).collect();
        let live: Vec<i64> = {
            let sql = format!(
                "SELECT id FROM requests WHERE merged_into IS NULL AND id IN ({})",
                placeholders(1, padded.len())
            );
            let sql = dialect.sql(&sql);
            let mut query = sqlx::query_scalar(&sql);
            for id in &padded {
                query = query.bind(*id);
            }
            query.fetch_all(&mut **tx).await?
        };
        let delete = format!("DELETE FROM request_demand WHERE request_id IN ({})", placeholders(1, padded.len()));
        let delete = dialect.sql(&delete);
        let mut query = sqlx::query(&delete);
        for id in &padded {
            query = query.bind(*id);
        }
        query.execute(&mut **tx).await?;
        for request_id in live {
            let demand = folded.remove(&request_id).unwrap_or(RequestDemand { request_id, ..RequestDemand::default() });
            write_row(tx, &PackedDemand::pack(&demand), now).await?;
        }
    }
    Ok(())
}

async fn write_row(tx: &mut Tx, demand: &PackedDemand, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO request_demand (request_id, accounts, opportunities, unattributed_items, \
         unattributed_people, refreshed_at, format) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(demand.request_id)
    .bind(demand.account_bytes())
    .bind(encode_ids(&demand.opportunities))
    .bind(i64::from(demand.unattributed_items))
    .bind(i64::from(demand.unattributed_people))
    .bind(now)
    .bind(packed::FORMAT)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The requests the given items link to.
pub(crate) async fn requests_of_items(tx: &mut Tx, dialect: Dialect, item_ids: &[i64]) -> Result<Vec<i64>> {
    let mut requests = Vec::new();
    for chunk in in_chunks(item_ids) {
        let sql = format!(
            "SELECT DISTINCT request_id FROM item_request_links WHERE item_id IN ({})",
            placeholders(1, chunk.len())
        );
        let sql = dialect.sql(&sql);
        let mut query = sqlx::query_scalar::<_, i64>(&sql);
        for id in &chunk {
            query = query.bind(*id);
        }
        requests.extend(query.fetch_all(&mut **tx).await?);
    }
    requests.sort_unstable();
    requests.dedup();
    Ok(requests)
}

/// Refreshes the demand of every request linked to one of `item_ids` (items whose
/// account, kind, author, date or deletion may have changed).
pub(crate) async fn refresh_for_items(tx: &mut Tx, dialect: Dialect, item_ids: &[i64], now: i64) -> Result<()> {
    if item_ids.is_empty() {
        return Ok(());
    }
    let requests = requests_of_items(tx, dialect, item_ids).await?;
    refresh_requests(tx, dialect, &requests, now).await
}

/// Refreshes the demand of every request an item of `account_ids` links to: what an
/// account merge or split calls, in its transaction, after moving item links (call it
/// with the accounts on both sides).
#[allow(dead_code)] // the account-merge path calls it; tests call it today
pub(crate) async fn refresh_for_accounts(tx: &mut Tx, dialect: Dialect, account_ids: &[i64], now: i64) -> Result<()> {
    let mut items = Vec::new();
    for chunk in in_chunks(account_ids) {
        let sql =
            format!("SELECT item_id FROM item_account_links WHERE account_id IN ({})", placeholders(1, chunk.len()));
        let sql = dialect.sql(&sql);
        let mut query = sqlx::query_scalar::<_, i64>(&sql);
        for id in &chunk {
            query = query.bind(*id);
        }
        items.extend(query.fetch_all(&mut **tx).await?);
    }
    items.sort_unstable();
    items.dedup();
    refresh_for_items(tx, dialect, &items, now).await
}

/// Rewrites the demand of every request in one transaction.
pub(crate) async fn rebuild_all(store: &super::SqlStore) -> Result<u64> {
    let now = super::now_micros();
    let mut tx = store.begin_write(super::Appends::Nothing).await?;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM requests ORDER BY id").fetch_all(&mut *tx).await?;
    refresh_requests(&mut tx, store.dialect, &ids, now).await?;
    tx.commit().await?;
    Ok(ids.len() as u64)
}

/// Sorted accounts and opportunities: the one stored form of a demand.
fn canonical(mut demand: RequestDemand) -> RequestDemand {
    demand.accounts.sort_by_key(|asks| asks.account_id);
    demand.opportunities.sort_unstable();
    demand.opportunities.dedup();
    demand
}

fn encode_ids(ids: &[i64]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.to_le_bytes()).collect()
}

fn decode_ids(request_id: i64, bytes: &[u8]) -> Result<Vec<i64>> {
    if !bytes.len().is_multiple_of(8) {
        return Err(corrupt(TABLE, format!("request {request_id}: opportunities unreadable")));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|chunk| {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(chunk);
            i64::from_le_bytes(buf)
        })
        .collect())
}

/// A stored row as the model reads it: format-2 bytes as they are (checked as they are
/// scored), a format-1 row unpacked and packed again.
fn demand_from_row(row: &AnyRow, currencies: &mut CurrencyCache) -> Result<PackedDemand> {
    let request_id: i64 = get(row, "request_id")?;
    let format: i64 = get(row, "format")?;
    let accounts: &[u8] = get(row, "accounts")?;
    let opportunities: &[u8] = get(row, "opportunities")?;
    let count = |column: &str| -> Result<u32> {
        let value: i64 = get(row, column)?;
        u32::try_from(value).map_err(|_| corrupt(TABLE, format!("request {request_id}: {column} out of range")))
    };
    let (unattributed_items, unattributed_people) = (count("unattributed_items")?, count("unattributed_people")?);
    let opportunities = decode_ids(request_id, opportunities)?;
    match format {
        packed::FORMAT => Ok(PackedDemand::from_parts(
            request_id,
            accounts.to_vec(),
            opportunities,
            unattributed_items,
            unattributed_people,
        )),
        1 => {
            let accounts = packed::decode_v1(request_id, accounts, currencies)?;
            let plain = RequestDemand { request_id, accounts, unattributed_items, unattributed_people, opportunities };
            Ok(PackedDemand::pack(&plain))
        }
        other => Err(corrupt(TABLE, format!("request {request_id}: unknown demand format {other}"))),
    }
}

/// The stored demand of every live (not merged) request, or of `only` those, in
/// request-id order. The full read converts each row as it arrives, while the driver
/// steps to the next one, and keeps no row longer than that. (Two queries at once, by
/// request id modulo 2, measured slower at 1M items: each scans the whole table, and
/// they compete with the facts' query for two cores.)
pub(crate) async fn read_demand(pool: &AnyPool, only: Option<&[i64]>) -> Result<Vec<PackedDemand>> {
    const SELECT: &str = "SELECT d.request_id, d.format, d.accounts, d.opportunities, d.unattributed_items, \
        d.unattributed_people FROM request_demand d JOIN requests r ON r.id = d.request_id \
        WHERE r.merged_into IS NULL";
    let mut currencies = CurrencyCache::default();
    let mut demands = match only {
        None => {
            let sql = format!("{SELECT} ORDER BY d.request_id");
            let mut rows = sqlx::query(&sql).fetch(pool);
            let mut demands = Vec::new();
            while let Some(row) = rows.try_next().await? {
                demands.push(demand_from_row(&row, &mut currencies)?);
            }
            demands
        }
        Some(ids) => {
            let sql = format!("{SELECT} AND d.request_id IN ({{ids}})");
            let rows = super::fetch_by_ids(pool, &sql, ids).await?;
            let demands = rows.iter().map(|row| demand_from_row(row, &mut currencies)).collect::<Result<Vec<_>>>()?;
            let mut demands = demands;
            demands.sort_unstable_by_key(|demand| demand.request_id);
            demands
        }
    };
    demands.dedup_by_key(|demand| demand.request_id);
    Ok(demands)
}

/// What the score needs of every account (soft-deleted ones with no ARR: they show as
/// churned) and of every live opportunity mapped to an account. An opportunity with no
/// currency is taken in `default_currency`; a probability outside 0–100 % is clamped.
pub(crate) async fn read_facts(
    pool: &AnyPool,
    dialect: Dialect,
    default_currency: Currency,
) -> Result<(Vec<AccountFacts>, Vec<Opportunity>)> {
    // One row holding a JSON array of every account: decoding 50 000 rows one by one
    // through the `Any` driver costs several times the query (decision 0012).
    const ACCOUNT_COLUMNS: &str = "id, arr_minor, currency, segment, renewal_date, parent_id, \
        CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END";
    const OPPORTUNITY_COLUMNS: &str = "o.id, x.account_id, o.amount_minor, o.currency, o.probability, o.closed";
    const OPPORTUNITY_FROM: &str = "FROM opportunities o JOIN account_external_ids x \
        ON x.connector = o.connector AND x.external_id = o.account_external_id WHERE o.deleted_at IS NULL";
    let (accounts_sql, opportunities_sql) = match dialect.backend {
        crate::Backend::Sqlite => (
            format!("SELECT json_group_array(json_array({ACCOUNT_COLUMNS})) FROM (SELECT * FROM accounts ORDER BY id)"),
            format!(
                "SELECT json_group_array(json_array(id, account_id, amount_minor, currency, probability, closed)) \
                 FROM (SELECT {OPPORTUNITY_COLUMNS} {OPPORTUNITY_FROM} ORDER BY o.id)"
            ),
        ),
        crate::Backend::Postgres => (
            format!(
                "SELECT COALESCE(json_agg(json_build_array({ACCOUNT_COLUMNS}) ORDER BY id), '[]')::text FROM accounts"
            ),
            format!(
                "SELECT COALESCE(json_agg(json_build_array({OPPORTUNITY_COLUMNS}) ORDER BY o.id), '[]')::text \
                 {OPPORTUNITY_FROM}"
            ),
        ),
    };
    // Both aggregates at once, on two reader connections.
    let (accounts_text, opportunities_text): (String, String) = futures::try_join!(
        sqlx::query_scalar(&accounts_sql).fetch_one(pool),
        sqlx::query_scalar(&opportunities_sql).fetch_one(pool)
    )?;
    // Decoding the two texts (~3 MB at 50 000 accounts) is CPU work: done on a blocking
    // thread, so the task that awaits this keeps driving whatever else it awaits (the
    // demand rows, in `ranking::rank_requests`).
    let decode = move || facts_from_json(&accounts_text, &opportunities_text, default_currency);
    match tokio::task::spawn_blocking(decode).await {
        Ok(facts) => facts,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // Not a panic: the runtime is shutting down and cancelled the read's worker.
        Err(_) => Err(sqlx::Error::WorkerCrashed.into()),
    }
}

/// The facts of `read_facts`'s two JSON texts.
fn facts_from_json(
    accounts_text: &str,
    opportunities_text: &str,
    default_currency: Currency,
) -> Result<(Vec<AccountFacts>, Vec<Opportunity>)> {
    type AccountRow = (i64, i64, String, Option<String>, Option<String>, Option<i64>, i64);
    let rows: Vec<AccountRow> = super::parse_json("accounts", accounts_text)?;
    let mut currencies = CurrencyCache::default();
    let mut accounts = Vec::with_capacity(rows.len());
    for (id, arr_minor, currency, segment, renewal, parent_id, deleted) in rows {
        let currency = currencies
            .get(currency.as_bytes())
            .ok_or_else(|| corrupt("accounts", format!("account {id}: unknown currency `{currency}`")))?;
        accounts.push(AccountFacts {
            id,
            arr: Money::new(if deleted != 0 { 0 } else { arr_minor }, currency),
            segment,
            renewal_date: renewal.map(|date| super::date_from("accounts", &date)).transpose()?,
            parent_id,
        });
    }
    type OpportunityRow = (i64, i64, Option<i64>, Option<String>, Option<f64>, i64);
    let rows: Vec<OpportunityRow> = super::parse_json("opportunities", opportunities_text)?;
    let mut opportunities = Vec::with_capacity(rows.len());
    for (id, account_id, amount_minor, currency, percent, closed) in rows {
        let currency = match currency.filter(|code| !code.trim().is_empty()) {
            Some(code) => currencies
                .get(code.as_bytes())
                .ok_or_else(|| corrupt("opportunities", format!("opportunity {id}: unknown currency `{code}`")))?,
            None => default_currency,
        };
        let percent = percent.filter(|p| p.is_finite()).unwrap_or(0.0).clamp(0.0, 100.0);
        let probability = Probability::from_percent(percent).map_err(|e| corrupt("opportunities", e.to_string()))?;
        opportunities.push(Opportunity {
            id,
            account_id,
            amount: Money::new(amount_minor.unwrap_or(0), currency),
            probability,
            open: closed == 0,
        });
    }
    Ok((accounts, opportunities))
}

/// Every live request's demand computed from scratch with SQL `GROUP BY (request,
/// account)` over links, items and account links — no stored aggregate used. The
/// oracle the store suite checks `request_demand` against, and the benchmark's baseline.
/// People are told apart by lower-cased email, as `PersonId::of_email` does.
pub(crate) async fn recompute_all(pool: &AnyPool) -> Result<Vec<RequestDemand>> {
    const LIVE: &str = "FROM item_request_links r JOIN requests q ON q.id = r.request_id AND q.merged_into IS NULL \
        JOIN items i ON i.id = r.item_id AND i.deleted_at IS NULL \
        LEFT JOIN item_account_links l ON l.item_id = i.id";
    const NAMED: &str = "(SELECT MIN(o.id) FROM opportunities o WHERE o.connector = i.connector \
        AND o.blocker_external_id = i.external_id AND o.deleted_at IS NULL)";
    let mut kinds = String::new();
    for kind in Kind::ALL.iter().copied() {
        kinds.push_str(&format!(
            "MAX(CASE WHEN i.kind = '{}' THEN 1 ELSE 0 END) AS kind_{}, ",
            kind.as_str(),
            kind as u8
        ));
    }
    let aggregate = format!(
        "SELECT r.request_id, l.account_id, COUNT(*) AS items, \
         COUNT(DISTINCT LOWER(TRIM(i.author_email))) AS people, MAX(i.created_at) AS newest, {kinds}\
         MAX(CASE WHEN i.kind = 'sales_blocker' AND {NAMED} IS NULL THEN 1 ELSE 0 END) AS blocks \
         {LIVE} GROUP BY r.request_id, l.account_id"
    );
    let arr = format!(
        "SELECT request_id, account_id, arr_at_ask_minor, arr_at_ask_currency FROM (\
         SELECT r.request_id, l.account_id, r.arr_at_ask_minor, r.arr_at_ask_currency, \
         ROW_NUMBER() OVER (PARTITION BY r.request_id, l.account_id ORDER BY i.created_at DESC, i.id DESC) AS n \
         {LIVE} WHERE r.arr_at_ask_minor IS NOT NULL AND l.account_id IS NOT NULL) ranked WHERE n = 1"
    );
    let named = format!(
        "SELECT DISTINCT r.request_id, {NAMED} AS opportunity_id {LIVE} \
         WHERE i.kind = 'sales_blocker' AND l.account_id IS NOT NULL"
    );
    let live_requests: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM requests WHERE merged_into IS NULL ORDER BY id").fetch_all(pool).await?;
    let mut demands: BTreeMap<i64, RequestDemand> = live_requests
        .into_iter()
        .map(|request_id| (request_id, RequestDemand { request_id, ..RequestDemand::default() }))
        .collect();
    for row in sqlx::query(&aggregate).fetch_all(pool).await? {
        let request_id: i64 = get(&row, "request_id")?;
        let account_id: Option<i64> = get(&row, "account_id")?;
        let number = |column: &str| -> Result<u32> {
            let value: i64 = row.try_get(column).map_err(|e| corrupt(TABLE, format!("{column}: {e}")))?;
            u32::try_from(value).map_err(|_| corrupt(TABLE, format!("{column} out of range")))
        };
        let Some(demand) = demands.get_mut(&request_id) else { continue };
        let Some(account_id) = account_id else {
            demand.unattributed_items = number("items")?;
            demand.unattributed_people = number("people")?;
            continue;
        };
        let mut set = KindSet::default();
        for kind in Kind::ALL.iter().copied() {
            if number(&format!("kind_{}", kind as u8))? != 0 {
                set.insert(kind);
            }
        }
        let newest: i64 = get(&row, "newest")?;
        demand.accounts.push(AccountAsks {
            account_id,
            kinds: set,
            items: number("items")?,
            people: number("people")?,
            newest_ask: time_from("items", newest)?,
            arr_at_ask: None,
            blocks_account_pipeline: number("blocks")? != 0,
        });
    }
    for row in sqlx::query(&arr).fetch_all(pool).await? {
        let request_id: i64 = get(&row, "request_id")?;
        let account_id: i64 = get(&row, "account_id")?;
        let minor: i64 = get(&row, "arr_at_ask_minor")?;
        let currency: String = get(&row, "arr_at_ask_currency")?;
        let money = Money::parse(minor, &currency).map_err(|e| corrupt("item_request_links", e.to_string()))?;
        if let Some(asks) = demands
            .get_mut(&request_id)
            .and_then(|demand| demand.accounts.iter_mut().find(|asks| asks.account_id == account_id))
        {
            asks.arr_at_ask = Some(money);
        }
    }
    for row in sqlx::query(&named).fetch_all(pool).await? {
        let request_id: i64 = get(&row, "request_id")?;
        let opportunity: Option<i64> = get(&row, "opportunity_id")?;
        if let (Some(demand), Some(opportunity)) = (demands.get_mut(&request_id), opportunity) {
            demand.opportunities.push(opportunity);
        }
    }
    Ok(demands.into_values().map(canonical).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opportunity_ids_read_back_as_written() {
        assert_eq!(decode_ids(1, &encode_ids(&[3, -1, 9])).expect("ids"), vec![3, -1, 9]);
        assert!(decode_ids(1, &encode_ids(&[3])[1..]).is_err(), "a torn id is an error");
    }
}

//! Finding accounts by a text a person types (the triage pickers, `GET
//! /api/v1/accounts?q=`): live, not merged-away accounts whose name key contains the
//! text's key or one of whose domains starts with it, best matches first.
//!
//! Invariant: the text is always a literal (`%`, `_` and `\` escaped, bound as a
//! parameter), a blank one finds nothing, and a find is two statements whatever the
//! number of accounts: the bounded page of ids and the total.

use std::collections::HashMap;

use chorus_core::Account;

use super::accounts::accounts_by_id;
use super::items::name_key;
use crate::drivers::{Any, AnyPool};
use crate::{AccountMatches, Result};

/// `text` as a `LIKE` pattern's literal part: `\`, `%` and `_` escaped with `\`.
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Live, not merged-away accounts matching `text` by name key (contains) or domain
/// (starts with), best first: exact (rank 0), prefix (1), substring (2), then by name
/// and id. Two statements: the bounded page of ids and the total.
pub(crate) async fn find_accounts(pool: &AnyPool, text: &str, limit: u32) -> Result<AccountMatches> {
    let key = name_key(text);
    if key.is_empty() || limit == 0 {
        return Ok(AccountMatches::default());
    }
    let literal = like_literal(&key);
    let (prefix, contains) = (format!("{literal}%"), format!("%{literal}%"));
    let matches = "SELECT a.id, a.name_key, CASE WHEN a.name_key = $1 THEN 0 \
           WHEN a.name_key LIKE $2 ESCAPE '\\' THEN 1 ELSE 2 END AS rank \
         FROM accounts a WHERE a.deleted_at IS NULL AND a.merged_into IS NULL \
           AND a.name_key LIKE $3 ESCAPE '\\' \
         UNION ALL SELECT a.id, a.name_key, CASE WHEN d.domain = $1 THEN 0 ELSE 1 END AS rank \
         FROM account_domains d JOIN accounts a ON a.id = d.account_id \
         WHERE a.deleted_at IS NULL AND a.merged_into IS NULL AND d.domain LIKE $2 ESCAPE '\\'";
    let page = format!(
        "SELECT m.id, MIN(m.rank) AS best FROM ({matches}) m GROUP BY m.id, m.name_key \
         ORDER BY best, m.name_key, m.id LIMIT $4"
    );
    let ids: Vec<i64> = sqlx::query_scalar::<Any, i64>(&page)
        .bind(&key)
        .bind(&prefix)
        .bind(&contains)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    let count = format!("SELECT COUNT(DISTINCT m.id) FROM ({matches}) m");
    let total: i64 = sqlx::query_scalar(&count).bind(&key).bind(&prefix).bind(&contains).fetch_one(pool).await?;
    let mut found: HashMap<i64, Account> =
        accounts_by_id(pool, &ids).await?.into_iter().map(|account| (account.id, account)).collect();
    let accounts = ids.iter().filter_map(|id| found.remove(id)).collect();
    Ok(AccountMatches { accounts, total: u64::try_from(total).unwrap_or_default() })
}

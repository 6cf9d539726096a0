//! `impl Store for SqlStore`: the trait's methods, each delegating to the module that
//! owns its concept, plus the item, count and change-log reads.
//!
//! Invariant: reads go to the reader pool and never write; writes go through
//! `SqlStore::begin_write` (or are one atomic statement on the writer pool).

use async_trait::async_trait;
use chorus_core::priority::{AccountFacts, PackedDemand, RequestDemand};
use chorus_core::{Account, Contact, Currency, Item, LinkProvenance, Request, RequestStatus};
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::changes::change_from_row;
use super::graph;
use super::items::{item_select, items_with_requests, ITEM_SELECT};
use super::opportunities;
use super::triage;
use super::{account_find, accounts};
use super::{demand, requests};
use super::{fetch_by_external_ids, fetch_by_ids, SqlStore};
use crate::{
    AccountDetail, AccountHealthData, AccountImport, ApiToken, Backend, Change, Counts, Holder, IdPage, ItemFilter,
    MergeOutcome, NewApiToken, NewRequest, NewWebSession, Opportunity, PageCommit, PageOutcome, Raw, RecordKey,
    RequestLink, Result, RunClaim, RunOutcome, Store, StoredCursor, SyncRun, TriageCursor, TriageItem, WebSession,
};

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.dialect.backend
    }

    async fn claim_run(&self, connector: &str, holder: &Holder) -> Result<Option<RunClaim>> {
        self.claim_run_tx(connector, holder).await
    }

    async fn heartbeat(&self, claim: &RunClaim) -> Result<()> {
        self.heartbeat_tx(claim).await
    }

    async fn finish_run(&self, claim: &RunClaim, outcome: &RunOutcome) -> Result<()> {
        self.finish_run_tx(claim, outcome).await
    }

    async fn cursor(&self, connector: &str) -> Result<StoredCursor> {
        self.cursor_read(connector).await
    }

    async fn reset_cursor(&self, claim: &RunClaim) -> Result<StoredCursor> {
        self.reset_cursor_tx(claim).await
    }

    async fn commit_page(&self, claim: &RunClaim, page: &PageCommit) -> Result<PageOutcome> {
        self.commit_page_tx(claim, page).await
    }

    async fn runs(&self, connector: Option<&str>, limit: u32) -> Result<Vec<SyncRun>> {
        self.runs_read(connector, limit).await
    }

    async fn runs_before(&self, connector: Option<&str>, before_id: Option<i64>, limit: u32) -> Result<Vec<SyncRun>> {
        self.runs_before_read(connector, before_id, limit).await
    }

    async fn credential(&self, connector: &str, name: &str) -> Result<Option<String>> {
        self.credential_read(connector, name).await
    }

    async fn swap_credential(&self, connector: &str, name: &str, expected: Option<&str>, new: &str) -> Result<bool> {
        self.swap_credential_tx(connector, name, expected, new).await
    }

    async fn create_api_token(&self, token: &NewApiToken) -> Result<ApiToken> {
        self.create_api_token_tx(token).await
    }

    async fn api_token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>> {
        self.api_token_by_hash_read(hash).await
    }

    async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        self.api_tokens_read().await
    }

    async fn revoke_api_token(&self, id: i64) -> Result<ApiToken> {
        self.revoke_api_token_tx(id).await
    }

    async fn touch_api_token(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.touch_api_token_tx(id, at).await
    }

    async fn create_web_session(&self, session: &NewWebSession) -> Result<WebSession> {
        self.create_web_session_tx(session).await
    }

    async fn web_session_by_hash(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<WebSession>> {
        self.web_session_by_hash_read(hash, now).await
    }

    async fn delete_web_session(&self, hash: &str) -> Result<bool> {
        self.delete_web_session_tx(hash).await
    }

    async fn items(&self, filter: &ItemFilter, page: IdPage) -> Result<Vec<Item>> {
        let select = item_select(filter.raw);
        let sql = format!(
            "{select} WHERE i.id > $1 AND ($2 IS NULL OR i.connector = $2) \
             AND ($3 = 1 OR i.deleted_at IS NULL) ORDER BY i.id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(page.after_id)
            .bind(filter.connector.as_deref())
            .bind(i64::from(filter.include_deleted))
            .bind(i64::from(page.limit))
            .fetch_all(&self.reader)
            .await?;
        items_with_requests(&self.reader, &rows).await
    }

    async fn items_by_id(&self, ids: &[i64], raw: Raw) -> Result<Vec<Item>> {
        let select = item_select(raw);
        let sql = format!("{select} WHERE i.id IN ({{ids}}) ORDER BY i.id");
        let rows = fetch_by_ids(&self.reader, &sql, ids).await?;
        let mut items = items_with_requests(&self.reader, &rows).await?;
        items.sort_by_key(|item| item.id);
        items.dedup_by_key(|item| item.id);
        Ok(items)
    }

    async fn item_by_external_id(&self, connector: &str, external_id: &str) -> Result<Option<Item>> {
        let sql = format!("{ITEM_SELECT} WHERE i.connector = $1 AND i.external_id = $2");
        let rows = sqlx::query(&sql).bind(connector).bind(external_id).fetch_all(&self.reader).await?;
        Ok(items_with_requests(&self.reader, &rows).await?.into_iter().next())
    }

    async fn items_by_external_ids(&self, connector: &str, external_ids: &[&str], raw: Raw) -> Result<Vec<Item>> {
        let template = format!("{} WHERE i.connector = $1 AND i.external_id IN ({{ids}})", item_select(raw));
        let mut reader = self.reader.acquire().await?;
        let rows = fetch_by_external_ids(&mut reader, self.dialect, &template, connector, external_ids).await?;
        drop(reader);
        items_with_requests(&self.reader, &rows).await
    }

    async fn item_ids_for_accounts(&self, account_ids: &[i64]) -> Result<Vec<i64>> {
        let sql = "SELECT i.id FROM items i JOIN item_account_links l ON l.item_id = i.id \
                   WHERE l.account_id IN ({ids}) AND i.deleted_at IS NULL";
        let rows = fetch_by_ids(&self.reader, sql, account_ids).await?;
        let mut ids = rows.iter().map(|row| row.try_get::<i64, _>(0)).collect::<std::result::Result<Vec<i64>, _>>()?;
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    async fn live_external_ids(&self, connector: &str) -> Result<Vec<String>> {
        let ids = sqlx::query_scalar(
            "SELECT external_id FROM items WHERE connector = $1 AND deleted_at IS NULL \
             ORDER BY external_id",
        )
        .bind(connector)
        .fetch_all(&self.reader)
        .await?;
        Ok(ids)
    }

    async fn live_account_external_ids(&self, connector: &str) -> Result<Vec<String>> {
        let ids = sqlx::query_scalar(
            "SELECT x.external_id FROM account_external_ids x JOIN accounts a ON a.id = x.account_id \
             WHERE x.connector = $1 AND a.deleted_at IS NULL ORDER BY x.external_id",
        )
        .bind(connector)
        .fetch_all(&self.reader)
        .await?;
        Ok(ids)
    }

    async fn deleted_external_ids_since(&self, connector: &str, since: DateTime<Utc>) -> Result<Vec<String>> {
        let ids = sqlx::query_scalar(
            "SELECT external_id FROM items WHERE connector = $1 AND deleted_at IS NOT NULL AND deleted_at >= $2 \
             ORDER BY external_id",
        )
        .bind(connector)
        .bind(super::micros(since))
        .fetch_all(&self.reader)
        .await?;
        Ok(ids)
    }

    async fn accounts(&self, page: IdPage) -> Result<Vec<Account>> {
        accounts::accounts_page(&self.reader, page).await
    }

    async fn accounts_by_id(&self, ids: &[i64]) -> Result<Vec<Account>> {
        accounts::accounts_by_id(&self.reader, ids).await
    }

    async fn find_accounts(&self, text: &str, limit: u32) -> Result<crate::AccountMatches> {
        account_find::find_accounts(&self.reader, text, limit).await
    }

    async fn accounts_for_domains(&self, domains: &[String]) -> Result<std::collections::HashMap<String, i64>> {
        super::resolve::accounts_for_domains(&self.reader, domains).await
    }

    async fn opportunities_of_account(&self, account_id: i64) -> Result<Vec<Opportunity>> {
        opportunities::of_account(&self.reader, account_id).await
    }

    async fn contacts(&self, page: IdPage) -> Result<Vec<Contact>> {
        accounts::contacts_page(&self.reader, page).await
    }

    async fn requests(&self, page: IdPage) -> Result<Vec<Request>> {
        self.requests_page(page).await
    }

    async fn counts(&self) -> Result<Counts> {
        let row = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM items WHERE deleted_at IS NULL) AS items, \
             (SELECT COUNT(*) FROM items WHERE deleted_at IS NOT NULL) AS tombstones, \
             (SELECT COUNT(*) FROM accounts WHERE deleted_at IS NULL) AS accounts, \
             (SELECT COUNT(*) FROM contacts WHERE deleted_at IS NULL) AS contacts, \
             (SELECT COUNT(*) FROM requests) AS requests, \
             (SELECT COALESCE(MAX(seq), 0) FROM changes) AS last_change",
        )
        .fetch_one(&self.reader)
        .await?;
        let count = |column: &str| -> Result<u64> {
            let value: i64 = super::get(&row, column)?;
            u64::try_from(value).map_err(|_| super::corrupt("counts", format!("negative {column}")))
        };
        Ok(Counts {
            items: count("items")?,
            tombstones: count("tombstones")?,
            accounts: count("accounts")?,
            contacts: count("contacts")?,
            requests: count("requests")?,
            last_change: super::get(&row, "last_change")?,
        })
    }

    async fn changes_since(&self, after: i64, limit: u32) -> Result<Vec<Change>> {
        let rows =
            sqlx::query("SELECT seq, entity, entity_id, deleted FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(change_from_row).collect()
    }

    async fn last_change(&self) -> Result<i64> {
        let last = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM changes").fetch_one(&self.reader).await?;
        Ok(last)
    }

    async fn import_accounts(&self, accounts: &[AccountImport]) -> Result<Vec<i64>> {
        self.import_accounts_tx(accounts).await
    }

    async fn create_request(&self, request: &NewRequest) -> Result<Request> {
        self.create_request_tx(request).await
    }

    async fn link_item_account(&self, item_id: i64, account_id: i64) -> Result<()> {
        self.link_item_account_tx(item_id, account_id).await
    }

    async fn account_detail(&self, account_id: i64) -> Result<Option<AccountDetail>> {
        graph::account_detail(&self.reader, account_id).await
    }

    async fn merge_accounts(&self, into: i64, from: i64) -> Result<()> {
        self.merge_accounts_tx(into, from).await
    }

    async fn split_account(&self, account_id: i64, records: &[RecordKey]) -> Result<i64> {
        self.split_account_tx(account_id, records).await
    }

    async fn triage(&self, after: Option<TriageCursor>, limit: u32) -> Result<Vec<TriageItem>> {
        triage::queue(&self.reader, after, limit).await
    }

    async fn account_health_data(&self, account_id: i64) -> Result<AccountHealthData> {
        triage::health_data(&self.reader, account_id).await
    }

    async fn link_item_request(&self, item_id: i64, request_id: i64, provenance: LinkProvenance) -> Result<()> {
        self.link_item_request_tx(item_id, request_id, provenance).await
    }

    async fn request(&self, id: i64) -> Result<Option<Request>> {
        requests::request_by_id(&self.reader, id).await
    }

    async fn rename_request(&self, id: i64, title: &str, description: Option<&str>) -> Result<Request> {
        self.rename_request_tx(id, title, description).await
    }

    async fn set_request_status(&self, id: i64, status: RequestStatus) -> Result<Request> {
        self.set_request_status_tx(id, status).await
    }

    async fn merge_requests(&self, from: i64, into: i64) -> Result<MergeOutcome> {
        self.merge_requests_tx(from, into).await
    }

    async fn promote_issue(&self, key: &str) -> Result<Request> {
        self.promote_issue_tx(key).await
    }

    async fn unlink_item_request(&self, item_id: i64, request_id: i64) -> Result<bool> {
        self.unlink_item_request_tx(item_id, request_id).await
    }

    async fn reject_suggestion(&self, request_id: i64, item_id: i64) -> Result<()> {
        self.reject_suggestion_tx(request_id, item_id).await
    }

    async fn rejections(&self, request_id: Option<i64>, item_id: Option<i64>) -> Result<Vec<(i64, i64)>> {
        self.rejections_read(request_id, item_id).await
    }

    async fn request_links(&self, request_id: i64) -> Result<Vec<RequestLink>> {
        self.request_links_read(request_id).await
    }

    async fn priority_facts(
        &self,
        default_currency: Currency,
    ) -> Result<(Vec<AccountFacts>, Vec<chorus_core::priority::Opportunity>)> {
        demand::read_facts(&self.reader, self.dialect, default_currency).await
    }

    async fn priority_demands(&self, only: Option<&[i64]>) -> Result<Vec<PackedDemand>> {
        demand::read_demand(&self.reader, only).await
    }

    async fn recompute_demand(&self) -> Result<Vec<RequestDemand>> {
        demand::recompute_all(&self.reader).await
    }

    async fn rebuild_demand(&self) -> Result<u64> {
        demand::rebuild_all(self).await
    }
}

//! Test support: an in-memory `Store` with a real change log, and a small fixed corpus
//! whose search results are known exactly.
//!
//! Invariant: every mutation appends one change-log entry, like the real backends, and
//! every `changes_since` call is recorded so tests can prove where a restart resumed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chorus_core::{Account, Comment, Contact, Item, Kind, LifecycleStage, Person, Request, Source};
use chorus_store::{
    AccountImport, ApiToken, Backend, Change, ChangeEntity, Counts, Holder, IdPage, ItemFilter, NewApiToken,
    NewRequest, NewWebSession, PageCommit, PageOutcome, RunClaim, RunOutcome, Store, StoreError, StoredCursor, SyncRun,
    WebSession,
};
use chrono::{DateTime, TimeZone, Utc};

#[derive(Default)]
struct State {
    items: BTreeMap<i64, Item>,
    accounts: BTreeMap<i64, Account>,
    /// Soft-deleted accounts: still returned by `accounts_by_id`, not by `accounts`.
    deleted_accounts: BTreeSet<i64>,
    changes: Vec<Change>,
    reads_after: Vec<i64>,
}

/// An in-memory store: items, accounts and the change log, nothing else.
#[derive(Default)]
pub struct MemStore {
    state: Mutex<State>,
}

type StoreResult<T> = chorus_store::Result<T>;

fn unsupported<T>() -> StoreResult<T> {
    Err(StoreError::Config("not supported by the in-memory test store".into()))
}

impl MemStore {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn log(state: &mut State, entity: ChangeEntity, entity_id: i64, deleted: bool) {
        let seq = state.changes.len() as i64 + 1;
        state.changes.push(Change { seq, entity, entity_id, deleted });
    }

    pub fn put_account(&self, account: Account) {
        let mut state = self.state();
        let id = account.id;
        state.accounts.insert(id, account);
        state.deleted_accounts.remove(&id);
        Self::log(&mut state, ChangeEntity::Account, id, false);
    }

    /// Soft-deletes an account, as the real stores do (its items keep the link).
    pub fn delete_account(&self, id: i64) {
        let mut state = self.state();
        state.deleted_accounts.insert(id);
        Self::log(&mut state, ChangeEntity::Account, id, true);
    }

    pub fn put_item(&self, item: Item) {
        let mut state = self.state();
        let id = item.id;
        let deleted = item.deleted_at.is_some();
        state.items.insert(id, item);
        Self::log(&mut state, ChangeEntity::Item, id, deleted);
    }

    /// Applies `change` to a stored item and logs it.
    pub fn update_item(&self, id: i64, change: impl FnOnce(&mut Item)) {
        let mut item = self.state().items.get(&id).cloned().expect("item exists in the test store");
        change(&mut item);
        self.put_item(item);
    }

    pub fn update_account(&self, id: i64, change: impl FnOnce(&mut Account)) {
        let mut account = self.state().accounts.get(&id).cloned().expect("account exists in the test store");
        change(&mut account);
        self.put_account(account);
    }

    pub fn tombstone(&self, id: i64) {
        self.update_item(id, |item| item.deleted_at = Some(at(2024, 4, 1)));
    }

    /// The `after` argument of every `changes_since` call so far, then forgets them.
    pub fn take_reads(&self) -> Vec<i64> {
        std::mem::take(&mut self.state().reads_after)
    }
}

#[async_trait]
impl Store for MemStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
    async fn claim_run(&self, _: &str, _: &Holder) -> StoreResult<Option<RunClaim>> {
        unsupported()
    }
    async fn heartbeat(&self, _: &RunClaim) -> StoreResult<()> {
        unsupported()
    }
    async fn finish_run(&self, _: &RunClaim, _: &RunOutcome) -> StoreResult<()> {
        unsupported()
    }
    async fn cursor(&self, _: &str) -> StoreResult<StoredCursor> {
        unsupported()
    }
    async fn reset_cursor(&self, _: &RunClaim) -> StoreResult<StoredCursor> {
        unsupported()
    }
    async fn commit_page(&self, _: &RunClaim, _: &PageCommit) -> StoreResult<PageOutcome> {
        unsupported()
    }
    async fn runs(&self, _: Option<&str>, _: u32) -> StoreResult<Vec<SyncRun>> {
        unsupported()
    }
    async fn runs_before(&self, _: Option<&str>, _: Option<i64>, _: u32) -> StoreResult<Vec<SyncRun>> {
        unsupported()
    }
    async fn credential(&self, _: &str, _: &str) -> StoreResult<Option<String>> {
        unsupported()
    }
    async fn swap_credential(&self, _: &str, _: &str, _: Option<&str>, _: &str) -> StoreResult<bool> {
        unsupported()
    }
    async fn create_api_token(&self, _: &NewApiToken) -> StoreResult<ApiToken> {
        unsupported()
    }
    async fn api_token_by_hash(&self, _: &str) -> StoreResult<Option<ApiToken>> {
        unsupported()
    }
    async fn api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        unsupported()
    }
    async fn revoke_api_token(&self, _: i64) -> StoreResult<ApiToken> {
        unsupported()
    }
    async fn touch_api_token(&self, _: i64, _: DateTime<Utc>) -> StoreResult<()> {
        unsupported()
    }
    async fn create_web_session(&self, _: &NewWebSession) -> StoreResult<WebSession> {
        unsupported()
    }
    async fn web_session_by_hash(&self, _: &str, _: DateTime<Utc>) -> StoreResult<Option<WebSession>> {
        unsupported()
    }
    async fn delete_web_session(&self, _: &str) -> StoreResult<bool> {
        unsupported()
    }
    async fn items(&self, filter: &ItemFilter, page: IdPage) -> StoreResult<Vec<Item>> {
        let state = self.state();
        Ok(state
            .items
            .range(page.after_id + 1..)
            .map(|(_, item)| item)
            .filter(|item| filter.include_deleted || item.deleted_at.is_none())
            .take(page.limit as usize)
            .cloned()
            .collect())
    }
    async fn items_by_id(&self, ids: &[i64], _raw: chorus_store::Raw) -> StoreResult<Vec<Item>> {
        let state = self.state();
        Ok(ids.iter().filter_map(|id| state.items.get(id).cloned()).collect())
    }
    async fn item_by_external_id(&self, _: &str, _: &str) -> StoreResult<Option<Item>> {
        unsupported()
    }
    async fn item_ids_for_accounts(&self, account_ids: &[i64]) -> StoreResult<Vec<i64>> {
        let state = self.state();
        let wanted: BTreeSet<i64> = account_ids.iter().copied().collect();
        Ok(state
            .items
            .values()
            .filter(|item| item.account_id.is_some_and(|id| wanted.contains(&id)) && item.deleted_at.is_none())
            .map(|item| item.id)
            .collect())
    }
    async fn items_by_external_ids(&self, _: &str, _: &[&str], _: chorus_store::Raw) -> StoreResult<Vec<Item>> {
        unsupported()
    }
    async fn live_external_ids(&self, _: &str) -> StoreResult<Vec<String>> {
        unsupported()
    }
    async fn live_account_external_ids(&self, _: &str) -> StoreResult<Vec<String>> {
        unsupported()
    }
    async fn deleted_external_ids_since(&self, _: &str, _: DateTime<Utc>) -> StoreResult<Vec<String>> {
        unsupported()
    }
    async fn accounts(&self, page: IdPage) -> StoreResult<Vec<Account>> {
        let state = self.state();
        Ok(state
            .accounts
            .range(page.after_id + 1..)
            .filter(|(id, _)| !state.deleted_accounts.contains(id))
            .take(page.limit as usize)
            .map(|(_, a)| a.clone())
            .collect())
    }
    async fn accounts_by_id(&self, ids: &[i64]) -> StoreResult<Vec<Account>> {
        let state = self.state();
        Ok(ids.iter().filter_map(|id| state.accounts.get(id).cloned()).collect())
    }
    async fn find_accounts(&self, _: &str, _: u32) -> StoreResult<chorus_store::AccountMatches> {
        Ok(chorus_store::AccountMatches::default())
    }
    async fn accounts_for_domains(&self, _: &[String]) -> StoreResult<std::collections::HashMap<String, i64>> {
        Ok(std::collections::HashMap::new())
    }
    async fn contacts(&self, _: IdPage) -> StoreResult<Vec<Contact>> {
        unsupported()
    }
    async fn opportunities_of_account(&self, _: i64) -> StoreResult<Vec<chorus_store::Opportunity>> {
        // The corpus holds no pipeline: every account's is empty.
        Ok(Vec::new())
    }
    async fn requests(&self, _: IdPage) -> StoreResult<Vec<Request>> {
        unsupported()
    }
    async fn counts(&self) -> StoreResult<Counts> {
        unsupported()
    }
    async fn changes_since(&self, after: i64, limit: u32) -> StoreResult<Vec<Change>> {
        let mut state = self.state();
        state.reads_after.push(after);
        Ok(state.changes.iter().filter(|change| change.seq > after).take(limit as usize).copied().collect())
    }
    async fn last_change(&self) -> StoreResult<i64> {
        Ok(self.state().changes.last().map_or(0, |change| change.seq))
    }
    async fn import_accounts(&self, _: &[AccountImport]) -> StoreResult<Vec<i64>> {
        unsupported()
    }
    async fn create_request(&self, _: &NewRequest) -> StoreResult<Request> {
        unsupported()
    }
    async fn link_item_account(&self, _: i64, _: i64) -> StoreResult<()> {
        unsupported()
    }
    async fn account_detail(&self, _: i64) -> StoreResult<Option<chorus_store::AccountDetail>> {
        unsupported()
    }
    async fn merge_accounts(&self, _: i64, _: i64) -> StoreResult<()> {
        unsupported()
    }
    async fn split_account(&self, _: i64, _: &[chorus_store::RecordKey]) -> StoreResult<i64> {
        unsupported()
    }
    async fn triage(
        &self,
        _: Option<chorus_store::TriageCursor>,
        _: u32,
    ) -> StoreResult<Vec<chorus_store::TriageItem>> {
        unsupported()
    }
    async fn account_health_data(&self, _: i64) -> StoreResult<chorus_store::AccountHealthData> {
        unsupported()
    }
    async fn link_item_request(&self, _: i64, _: i64, _: chorus_core::LinkProvenance) -> StoreResult<()> {
        unsupported()
    }
    async fn request(&self, _: i64) -> StoreResult<Option<Request>> {
        unsupported()
    }
    async fn rename_request(&self, _: i64, _: &str, _: Option<&str>) -> StoreResult<Request> {
        unsupported()
    }
    async fn set_request_status(&self, _: i64, _: chorus_core::RequestStatus) -> StoreResult<Request> {
        unsupported()
    }
    async fn merge_requests(&self, _: i64, _: i64) -> StoreResult<chorus_store::MergeOutcome> {
        unsupported()
    }
    async fn promote_issue(&self, _: &str) -> StoreResult<Request> {
        unsupported()
    }
    async fn unlink_item_request(&self, _: i64, _: i64) -> StoreResult<bool> {
        unsupported()
    }
    async fn reject_suggestion(&self, _: i64, _: i64) -> StoreResult<()> {
        unsupported()
    }
    async fn rejections(&self, _: Option<i64>, _: Option<i64>) -> StoreResult<Vec<(i64, i64)>> {
        unsupported()
    }
    async fn request_links(&self, _: i64) -> StoreResult<Vec<chorus_store::RequestLink>> {
        unsupported()
    }
    async fn priority_facts(
        &self,
        _: chorus_core::Currency,
    ) -> StoreResult<(Vec<chorus_core::priority::AccountFacts>, Vec<chorus_core::priority::Opportunity>)> {
        unsupported()
    }
    async fn priority_demands(&self, _: Option<&[i64]>) -> StoreResult<Vec<chorus_core::priority::PackedDemand>> {
        unsupported()
    }
    async fn recompute_demand(&self) -> StoreResult<Vec<chorus_core::priority::RequestDemand>> {
        unsupported()
    }
    async fn rebuild_demand(&self) -> StoreResult<u64> {
        unsupported()
    }
}

pub fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 12, 0, 0).single().expect("valid test date")
}

pub fn account(id: i64, name: &str, arr_dollars: i64, segment: Option<&str>, stage: Option<LifecycleStage>) -> Account {
    Account {
        id,
        name: name.into(),
        domains: vec![],
        arr_minor: arr_dollars * 100,
        currency: "USD".into(),
        segment: segment.map(str::to_owned),
        plan: None,
        lifecycle_stage: stage,
        csm_owner: None,
        renewal_date: None,
        parent_id: None,
        merged_into: None,
        external_ids: vec![],
        created_at: at(2023, 1, 1),
        updated_at: at(2023, 1, 1),
    }
}

/// Fields of a fixture item, positionally: id, source, kind, title, body, status,
/// account, requests, created, updated, comments.
pub type Fixture = (
    i64,
    Source,
    Kind,
    &'static str,
    &'static str,
    &'static str,
    Option<i64>,
    &'static [i64],
    (u32, u32),
    (u32, u32),
    &'static [&'static str],
);

pub fn item(fixture: Fixture) -> Item {
    let (id, source, kind, title, body, status, account_id, requests, created, updated, comments) = fixture;
    Item {
        id,
        connector: source.as_str().into(),
        source,
        external_id: format!("ext-{id}"),
        key: None,
        kind,
        title: title.into(),
        body: body.into(),
        comments: comments
            .iter()
            .enumerate()
            .map(|(n, text)| Comment {
                external_id: format!("c-{id}-{n}"),
                author: Person::default(),
                body: (*text).into(),
                public: true,
                created_at: at(2024, updated.0, updated.1),
            })
            .collect(),
        url: Some(format!("https://example.test/items/{id}")),
        status: status.into(),
        priority: None,
        tags: vec![],
        author_email: None,
        author_name: None,
        csat: None,
        account_id,
        request_ids: requests.to_vec(),
        created_at: at(2024, created.0, created.1),
        updated_at: at(2024, updated.0, updated.1),
        deleted_at: None,
        raw: serde_json::Value::Null,
    }
}

/// ARR of the fixture accounts, in minor units.
pub const ACME_ARR: i64 = 1_000_000 * 100;
pub const GLOBEX_ARR: i64 = 50_000 * 100;
pub const INITECH_ARR: i64 = 5_000 * 100;

/// Four accounts and seven items; the expected answers are worked out in `tests.rs`.
pub fn corpus() -> Arc<MemStore> {
    use Kind::*;
    use LifecycleStage::*;
    use Source::*;
    let store = MemStore::default();
    store.put_account(account(1, "Acme", 1_000_000, Some("enterprise"), Some(Retention)));
    store.put_account(account(2, "Globex", 50_000, Some("mid_market"), Some(Conversion)));
    store.put_account(account(3, "Initech", 5_000, Some("smb"), Some(Acquisition)));
    store.put_account(account(4, "Umbrella", 0, None, None));
    let items: [Fixture; 7] = [
        (
            1,
            Jira,
            Bug,
            "SSO login fails with SAML",
            "Users cannot sign in through single sign-on after the upgrade.",
            "Open",
            Some(1),
            &[10],
            (1, 10),
            (3, 1),
            &[],
        ),
        (
            2,
            Zendesk,
            SupportTicket,
            "Cannot log in via SSO",
            "Customer reports an SSO redirect loop on the login page.",
            "Open",
            Some(2),
            &[],
            (2, 1),
            (2, 5),
            &[],
        ),
        (
            3,
            Slack,
            FeatureRequest,
            "Export reports to CSV",
            "We need a CSV export of the weekly reports.",
            "new",
            Some(1),
            &[11],
            (2, 10),
            (2, 10),
            &[],
        ),
        (
            4,
            Salesforce,
            SalesBlocker,
            "SSO required for enterprise deal",
            "Deal blocked until SAML single sign-on ships.",
            "Open",
            Some(3),
            &[10],
            (3, 1),
            (3, 2),
            &[],
        ),
        (
            5,
            Zendesk,
            SupportTicket,
            "Password reset email never arrives",
            "The reset email is missing; SSO is not used.",
            "Solved",
            Some(4),
            &[],
            (3, 5),
            (3, 6),
            &["Checked the mail logs: the spam filter dropped it"],
        ),
        (
            6,
            Jira,
            Bug,
            "Dashboard export crashes",
            "Exporting the dashboard to PDF crashes the browser.",
            "In Progress",
            None,
            &[],
            (3, 10),
            (3, 10),
            &["Also happens with CSV export in Safari"],
        ),
        (
            7,
            Slack,
            FeatureRequest,
            "Dark mode",
            "Please add a dark mode to the app.",
            "new",
            Some(2),
            &[],
            (1, 5),
            (1, 5),
            &[],
        ),
    ];
    for fixture in items {
        store.put_item(item(fixture));
    }
    Arc::new(store)
}

//! The system of record.
//!
//! `Store` is the one interface every other crate uses to read and write Chorus data.
//! Two backends implement it with the same SQL: SQLite (the default; WAL, one writer
//! connection plus readers) and PostgreSQL (several nodes sharing one database).
//!
//! Invariants every backend keeps, proven by the shared test suite in `suite`:
//! - every write to items, accounts, contacts and links appends to the change log in
//!   the same transaction, and change-log sequence numbers become visible in order;
//! - a sync page's records and its cursor commit together, or neither does;
//! - records are upserted under `(connector, external_id)`, so re-reading is harmless;
//! - a cursor is only replaced by the run that holds the connector's claim, and only
//!   from the version that run last read (no lost update, no second writer);
//! - a manual link is never overwritten by a sync.

mod account_types;
mod api_tokens;
mod drivers;
mod error;
pub mod ranking;
mod sql;
#[cfg(test)]
mod suite;
mod types;

pub use account_types::*;
pub use api_tokens::{ApiToken, NewApiToken, NewWebSession, Role, WebSession};
pub use error::StoreError;
pub use sql::SqlStore;
pub use types::*;

use async_trait::async_trait;
use chorus_core::{Account, Contact, Item, Request};
use chrono::{DateTime, Utc};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The system of record. Cheap to share: hold it as `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is, for logs and `chorus check`.
    fn backend(&self) -> Backend;

    // --- sync runs -----------------------------------------------------------------

    /// Claims the connector for one run and records the run as started.
    ///
    /// Returns `Ok(None)` when another live holder has the claim. A claim whose holder
    /// stopped heartbeating for longer than its `ttl`, or whose holder process on this
    /// host no longer exists, is taken over.
    async fn claim_run(&self, connector: &str, holder: &Holder) -> Result<Option<RunClaim>>;

    /// Extends the claim; fails with `StoreError::ClaimLost` if it was taken over.
    async fn heartbeat(&self, claim: &RunClaim) -> Result<()>;

    /// Ends the run: writes its outcome to the run history and releases the claim.
    async fn finish_run(&self, claim: &RunClaim, outcome: &RunOutcome) -> Result<()>;

    /// The connector's committed cursor and its version (0 and `None` before any sync).
    async fn cursor(&self, connector: &str) -> Result<StoredCursor>;

    /// Forgets the cursor so the next run starts from the beginning (`sync --full`).
    /// Requires the claim, like every cursor write.
    async fn reset_cursor(&self, claim: &RunClaim) -> Result<StoredCursor>;

    /// Commits one page: upserts its records, writes tombstones, appends the change
    /// log and replaces the cursor — all in one transaction.
    ///
    /// Fails with `StoreError::CursorConflict` unless the stored cursor version equals
    /// `page.expected_version`, and with `StoreError::ClaimLost` unless `claim` still
    /// holds the connector.
    async fn commit_page(&self, claim: &RunClaim, page: &PageCommit) -> Result<PageOutcome>;

    /// Run history, newest first; all connectors when `connector` is `None`.
    async fn runs(&self, connector: Option<&str>, limit: u32) -> Result<Vec<SyncRun>>;

    /// One page of run history, newest first: runs with an id below `before_id` (all
    /// when `None`), so a client pages with the last id it saw as the next cursor.
    async fn runs_before(&self, connector: Option<&str>, before_id: Option<i64>, limit: u32) -> Result<Vec<SyncRun>>;

    // --- credentials -------------------------------------------------------------------

    /// A credential a connector persisted (e.g. a rotated OAuth refresh token).
    async fn credential(&self, connector: &str, name: &str) -> Result<Option<String>>;

    /// Replaces a credential atomically: only if the stored value still equals
    /// `expected` (so two refreshes cannot both win). Returns whether it was written.
    async fn swap_credential(&self, connector: &str, name: &str, expected: Option<&str>, new: &str) -> Result<bool>;

    // --- api tokens --------------------------------------------------------------------

    /// Records a token (its hash and prefix only; the token itself is never stored).
    async fn create_api_token(&self, token: &NewApiToken) -> Result<ApiToken>;

    /// The live (not revoked) token whose SHA-256 is `hash`.
    async fn api_token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>>;

    /// Every token, revoked ones included, in id order.
    async fn api_tokens(&self) -> Result<Vec<ApiToken>>;

    /// Revokes a token at once (revoking a revoked token keeps its first revocation
    /// time); `StoreError::NotFound` for an unknown id.
    async fn revoke_api_token(&self, id: i64) -> Result<ApiToken>;

    /// Notes that a token was used at `at` (never moves `last_used_at` backwards).
    async fn touch_api_token(&self, id: i64, at: DateTime<Utc>) -> Result<()>;

    // --- web sessions ------------------------------------------------------------------

    /// Records a web session (the hash of its id only) and forgets sessions that have
    /// expired; `StoreError::NotFound` when the token is unknown or revoked.
    async fn create_web_session(&self, session: &NewWebSession) -> Result<WebSession>;

    /// The session whose id hashes to `hash`, while it has not expired at `now` and its
    /// token is not revoked.
    async fn web_session_by_hash(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<WebSession>>;

    /// Ends a session (logout); whether one was there.
    async fn delete_web_session(&self, hash: &str) -> Result<bool>;

    // --- reads ---------------------------------------------------------------------

    /// Items in id order, starting after `page.after_id`.
    async fn items(&self, filter: &ItemFilter, page: IdPage) -> Result<Vec<Item>>;

    /// Items by id (tombstones included); missing ids are skipped.
    async fn items_by_id(&self, ids: &[i64], raw: Raw) -> Result<Vec<Item>>;

    async fn item_by_external_id(&self, connector: &str, external_id: &str) -> Result<Option<Item>>;
    /// The connector's stored items (tombstones included) among `external_ids`, in no
    /// particular order; unknown ids are left out. One query per few hundred ids.
    async fn items_by_external_ids(&self, connector: &str, external_ids: &[&str], raw: Raw) -> Result<Vec<Item>>;

    /// Ids of the live items linked to an account (to re-rank them when it changes).
    async fn item_ids_for_account(&self, account_id: i64) -> Result<Vec<i64>> {
        self.item_ids_for_accounts(&[account_id]).await
    }

    /// Ids of the live items linked to any of these accounts, ascending and each once:
    /// what the index re-projects when accounts change (one query per few hundred
    /// accounts, not one per account).
    async fn item_ids_for_accounts(&self, account_ids: &[i64]) -> Result<Vec<i64>>;

    /// External ids of a connector's live (not tombstoned) items, for reconciliation.
    async fn live_external_ids(&self, connector: &str) -> Result<Vec<String>>;

    /// External ids of a connector's live accounts (the account not soft-deleted and
    /// the mapping still this connector's), in external-id order: what a connector
    /// whose source reports no account deletions checks against it.
    async fn live_account_external_ids(&self, connector: &str) -> Result<Vec<String>>;

    /// External ids of a connector's items tombstoned at or after `since`, in
    /// external-id order: what a connector re-checks so that a deletion it inferred
    /// (an issue it could not see for a while) is not forever.
    async fn deleted_external_ids_since(&self, connector: &str, since: DateTime<Utc>) -> Result<Vec<String>>;

    async fn accounts(&self, page: IdPage) -> Result<Vec<Account>>;
    async fn accounts_by_id(&self, ids: &[i64]) -> Result<Vec<Account>>;

    /// Live, not merged-away accounts whose name contains `text` (case-insensitive) or
    /// one of whose domains starts with it, best first: an exact name or domain, then a
    /// prefix, then a substring, by name within each; at most `limit`, with how many
    /// match in all. `%`, `_` and `\` in `text` are literal; a blank text finds nothing.
    async fn find_accounts(&self, text: &str, limit: u32) -> Result<AccountMatches>;

    /// The account each email domain resolves to, as an item's author domain does
    /// (registered domain, free mail never): keyed by the domains given, those that
    /// resolve only. A few statements whatever the number of domains.
    async fn accounts_for_domains(&self, domains: &[String]) -> Result<std::collections::HashMap<String, i64>>;
    async fn contacts(&self, page: IdPage) -> Result<Vec<Contact>>;

    /// An account's live opportunities (of every connector whose account id maps to
    /// it), by close date then id.
    async fn opportunities_of_account(&self, account_id: i64) -> Result<Vec<Opportunity>>;

    /// An account's open pipeline, one total per currency (`Pipeline::of` its
    /// opportunities).
    async fn open_pipeline(&self, account_id: i64) -> Result<Vec<Pipeline>> {
        Ok(Pipeline::of(&self.opportunities_of_account(account_id).await?))
    }
    async fn requests(&self, page: IdPage) -> Result<Vec<Request>>;

    /// Counts for `chorus status` and readiness: items (live, tombstoned), accounts, contacts.
    async fn counts(&self) -> Result<Counts>;

    // --- change log ----------------------------------------------------------------

    /// Changes with `seq > after`, in sequence order, at most `limit`.
    async fn changes_since(&self, after: i64, limit: u32) -> Result<Vec<Change>>;

    /// The highest committed sequence number (0 when empty).
    async fn last_change(&self) -> Result<i64>;

    // --- accounts, requests and links --------------------------------------------------

    /// Creates or updates accounts from `chorus import accounts` (matched by external
    /// id, then domain, then exact name). Returns the account ids in input order.
    async fn import_accounts(&self, accounts: &[AccountImport]) -> Result<Vec<i64>>;

    async fn create_request(&self, request: &NewRequest) -> Result<Request>;

    /// Links an item to an account by hand (provenance `manual`; wins over any sync).
    async fn link_item_account(&self, item_id: i64, account_id: i64) -> Result<()>;

    // --- account graph -----------------------------------------------------------------

    /// An account (a merged-away or deleted one included) with the source records that
    /// formed it and how each joined, its plan, children and kept-apart records.
    async fn account_detail(&self, account_id: i64) -> Result<Option<AccountDetail>>;

    /// Merges account `from` into `into` by hand: records, domains, contacts, item links
    /// (manual ones too: items follow) and children move; `from` is kept as merged into
    /// `into`. Records a person had kept apart between the two may meet again.
    async fn merge_accounts(&self, into: i64, from: i64) -> Result<()>;

    /// Splits the named source records off `account_id` into a new account (returned),
    /// and keeps them apart from the records that stay: no later sync, id or domain match
    /// joins them again. Manual item links stay where they are.
    async fn split_account(&self, account_id: i64, records: &[RecordKey]) -> Result<i64>;

    /// Live items linked to no account, newest day first and within a day the richest,
    /// at most `limit`, after `after`.
    async fn triage(&self, after: Option<TriageCursor>, limit: u32) -> Result<Vec<TriageItem>>;

    /// What account health reads about an account, in a fixed number of queries.
    async fn account_health_data(&self, account_id: i64) -> Result<AccountHealthData>;

    /// Links an item to a request with the given provenance.
    async fn link_item_request(
        &self,
        item_id: i64,
        request_id: i64,
        provenance: chorus_core::LinkProvenance,
    ) -> Result<()>;

    // --- requests and priority -----------------------------------------------------------

    /// A request by id, merged ones included (`merged_into` names the survivor).
    async fn request(&self, id: i64) -> Result<Option<Request>>;

    /// Renames a live request; `description` replaces the old one when given.
    async fn rename_request(&self, id: i64, title: &str, description: Option<&str>) -> Result<Request>;

    /// Sets a live request's status (`shipped` records when it first shipped).
    async fn set_request_status(&self, id: i64, status: chorus_core::RequestStatus) -> Result<Request>;

    /// Moves every link and rejected suggestion of `from` to `into` (where an item is
    /// linked to both, the stronger provenance stays), hands over the anchor when `into`
    /// has none, and marks `from` merged into `into`. Nothing is lost.
    async fn merge_requests(&self, from: i64, into: i64) -> Result<MergeOutcome>;

    /// A new request anchored by the synced issue with this key (`PROD-123`): titled like
    /// it, its status following the issue's on every later sync, the issue and every
    /// item already mentioning the key linked.
    async fn promote_issue(&self, key: &str) -> Result<Request>;

    /// Removes an item's link to a request (whatever its provenance). Returns whether
    /// there was one.
    async fn unlink_item_request(&self, item_id: i64, request_id: i64) -> Result<bool>;

    /// Remembers that the item is not about the request: never suggested for it again.
    async fn reject_suggestion(&self, request_id: i64, item_id: i64) -> Result<()>;

    /// Rejected (request, item) pairs of a request, of an item, or both filters at once.
    async fn rejections(&self, request_id: Option<i64>, item_id: Option<i64>) -> Result<Vec<(i64, i64)>>;

    /// The links of one request, by item id, with the ARR each ask was linked at.
    async fn request_links(&self, request_id: i64) -> Result<Vec<RequestLink>>;

    /// What ranking needs, read from the maintained per-request aggregates: one row a
    /// request, plus every account's facts and every live opportunity (an opportunity
    /// without a currency is taken in `default_currency`). `only` narrows the demands.
    /// The two halves are read at once, on two connections.
    async fn priority_inputs(
        &self,
        default_currency: chorus_core::Currency,
        only: Option<&[i64]>,
    ) -> Result<PriorityInputs> {
        let ((accounts, opportunities), demands) =
            futures::try_join!(self.priority_facts(default_currency), self.priority_demands(only))?;
        Ok(PriorityInputs { accounts, opportunities, demands })
    }

    /// Every account's facts (soft-deleted ones with no ARR: they show as churned) and
    /// every live opportunity mapped to an account, for `PriorityModel::new`.
    async fn priority_facts(
        &self,
        default_currency: chorus_core::Currency,
    ) -> Result<(Vec<chorus_core::priority::AccountFacts>, Vec<chorus_core::priority::Opportunity>)>;

    /// The stored demand of every live request, or of `only` those, in request-id order.
    async fn priority_demands(&self, only: Option<&[i64]>) -> Result<Vec<chorus_core::priority::PackedDemand>>;

    /// Every live request's demand computed from scratch with SQL `GROUP BY` over links
    /// and items, ignoring the maintained aggregates: a consistency check and the
    /// benchmark's baseline. Slow on large stores.
    async fn recompute_demand(&self) -> Result<Vec<chorus_core::priority::RequestDemand>>;

    /// Rewrites every request's maintained demand from its links, in one transaction:
    /// for a bulk load written around the store, or a repair. Returns the requests done.
    async fn rebuild_demand(&self) -> Result<u64>;
}

pub mod postgres;
pub mod sqlite;

/// Opens the store a URL names: `sqlite://path` (created if missing) or `postgres://…`,
/// and brings its schema up to date.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        return Ok(std::sync::Arc::new(sqlite::open(url).await?));
    }
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        return Ok(std::sync::Arc::new(postgres::open(url).await?));
    }
    Err(StoreError::Config(format!(
        "unsupported store url scheme in `{}`; expected sqlite:// or postgres://",
        redact_url(url)
    )))
}

/// A URL with any password replaced, safe to print: the `user:password@` part and any
/// query parameter whose name mentions a password, secret or token.
pub fn redact_url(url: &str) -> String {
    const REDACTED: &str = chorus_core::Secret::REDACTED;
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &base[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{user}:{REDACTED}{}", &base[..scheme_end], &base[at..])
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| {
                let name = param.split('=').next().unwrap_or("").to_ascii_lowercase();
                let sensitive = ["password", "secret", "token", "key"].iter().any(|word| name.contains(word));
                if sensitive {
                    format!("{}={REDACTED}", param.split('=').next().unwrap_or(""))
                } else {
                    param.to_owned()
                }
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod redact_tests {
    use super::redact_url;

    #[test]
    fn passwords_never_print() {
        assert_eq!(redact_url("postgres://app:s3cret@db/chorus"), "postgres://app:[redacted]@db/chorus");
        assert_eq!(
            redact_url("postgres://db/chorus?user=app&password=s3cret&sslmode=require"),
            "postgres://db/chorus?user=app&password=[redacted]&sslmode=require"
        );
        assert_eq!(redact_url("sqlite://chorus.db"), "sqlite://chorus.db");
    }
}

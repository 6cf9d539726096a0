//! `/api/v1/accounts`: the account list (cursor-paged by id, or the best matches of a
//! text, `q`) and one account with its
//! health, risk flags, upsell signals and the source records that formed it. A merged
//! account answers with `merged_into`, the live account it became, and no health.
//! CSMs merge and split accounts and link an item to an account by hand here.

use axum::extract::State;
use axum::Json;
use chorus_store::{AccountDetail, IdPage, RecordKey};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, AppState, ErrorBody};

/// One record of a source system that names the account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExternalIdView {
    pub connector: String,
    pub source: String,
    pub id: String,
}

/// An account, as lists show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub id: i64,
    pub name: String,
    pub domains: Vec<String>,
    /// Annual recurring revenue in minor units of `currency`.
    pub arr_minor: i64,
    pub currency: String,
    pub segment: Option<String>,
    /// The plan the account is on (upsell signals compare it).
    pub plan: Option<String>,
    /// `reach`, `acquisition`, `conversion`, `retention`, `loyalty` or `advocacy`.
    pub lifecycle_stage: Option<String>,
    pub csm_owner: Option<String>,
    pub renewal_date: Option<NaiveDate>,
    pub parent_id: Option<i64>,
    /// Set when the account was merged away: the live account it became (lists hold
    /// live accounts only, so there it is `null`).
    pub merged_into: Option<i64>,
    pub external_ids: Vec<ExternalIdView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<chorus_core::Account> for AccountView {
    fn from(account: chorus_core::Account) -> Self {
        let chorus_core::Account {
            id,
            name,
            domains,
            arr_minor,
            currency,
            segment,
            plan,
            lifecycle_stage,
            csm_owner,
            renewal_date,
            parent_id,
            merged_into,
            external_ids,
            created_at,
            updated_at,
        } = account;
        Self {
            id,
            name,
            domains,
            arr_minor,
            currency,
            segment,
            plan,
            lifecycle_stage: lifecycle_stage.map(|stage| stage.as_str().to_owned()),
            csm_owner,
            renewal_date,
            parent_id,
            merged_into,
            external_ids: external_ids
                .into_iter()
                .map(|x| ExternalIdView { connector: x.connector, source: x.source.to_string(), id: x.id })
                .collect(),
            created_at,
            updated_at,
        }
    }
}

/// A page of accounts and the cursor of the next one (`null` on the last page).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountPage {
    pub accounts: Vec<AccountView>,
    pub next_cursor: Option<String>,
    /// With `q`: how many accounts match in all (`accounts` holds the best `limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<u64>,
}

/// Longest `q` accepted, in characters.
pub const MAX_FIND: usize = 200;

/// The account list's parameters: a page by id, or the accounts a text finds.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccountsParams {
    /// Accounts whose name contains this text (case-insensitive) or one of whose domains
    /// starts with it, best matches first (exact, then prefix, then substring); up to
    /// 200 characters, not paged (no `cursor`). Blank finds nothing.
    pub q: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Entries per page, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

/// Paging parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Entries per page, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

/// One source record of an account and how it joined.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountSourceView {
    pub connector: String,
    pub source: String,
    pub external_id: String,
    /// `created`, `same_as`, `domain`, `import`, `merge` or `split`.
    pub joined_by: String,
    pub joined_at: Option<DateTime<Utc>>,
    /// The name and domains the record carried when it was last applied.
    pub name: Option<String>,
    pub domains: Vec<String>,
    /// Records of other sources this record says it is.
    pub same_as: Vec<String>,
}

/// A source record, by connector and external id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordKeyView {
    pub connector: String,
    pub external_id: String,
}

/// An open request the account's items ask for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WaitingOn {
    pub id: i64,
    pub title: String,
}

/// One account with everything that explains it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountDetailView {
    pub account: AccountView,
    /// `account.plan`, also here for clients written before the account carried it.
    pub plan: Option<String>,
    /// `account.merged_into`: set when the account was merged away, the live account it
    /// became (also here for clients written before the account carried it).
    pub merged_into: Option<i64>,
    pub deleted: bool,
    /// The source records that formed it (its provenance).
    pub sources: Vec<AccountSourceView>,
    /// Live accounts whose parent this is.
    pub children: Vec<i64>,
    /// Records of other accounts a person split from this one's records.
    pub kept_apart: Vec<RecordKeyView>,
    /// Volume history, open bugs and blockers, CSAT, trends, `risks` and `upsell`
    /// signals (the `Health` of `chorus accounts show --format json`); `null` for a
    /// merged-away account, whose health is the survivor's.
    #[schema(value_type = Option<Object>)]
    pub health: Option<chorus_core::Health>,
    /// Open requests its items link to.
    pub waiting_on: Vec<WaitingOn>,
}

/// Accounts in id order, or the best matches of `q`.
#[utoipa::path(
    get, path = "/api/v1/accounts", tag = "accounts", params(AccountsParams),
    responses(
        (status = 200, description = "A page of accounts, or the accounts `q` finds", body = AccountPage),
        (status = 400, description = "Bad cursor or limit, `q` too long or with a cursor", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AccountsParams>,
) -> Result<Json<AccountPage>, ApiError> {
    let limit = super::page_size(params.limit)?;
    if let Some(text) = params.q {
        if params.cursor.is_some() {
            return Err(ApiError::BadRequest("`q` answers one list; it takes no cursor".into()));
        }
        if text.chars().count() > MAX_FIND {
            return Err(ApiError::BadRequest(format!("`q` is longer than {MAX_FIND} characters")));
        }
        let found = state.store.find_accounts(&text, limit).await?;
        let accounts = found.accounts.into_iter().map(AccountView::from).collect();
        return Ok(Json(AccountPage { accounts, next_cursor: None, matched: Some(found.total) }));
    }
    let after_id = super::id_cursor(params.cursor.as_deref())?.unwrap_or(0);
    // One more than asked tells whether a next page exists.
    let mut accounts = state.store.accounts(IdPage { after_id, limit: limit + 1 }).await?;
    let more = accounts.len() > limit as usize;
    accounts.truncate(limit as usize);
    let next_cursor = if more { accounts.last().map(|account| account.id.to_string()) } else { None };
    Ok(Json(AccountPage {
        accounts: accounts.into_iter().map(AccountView::from).collect(),
        next_cursor,
        matched: None,
    }))
}

/// One account with health, risk flags and provenance.
#[utoipa::path(
    get, path = "/api/v1/accounts/{id}", tag = "accounts",
    params(("id" = i64, Path, description = "The account's id")),
    responses(
        (status = 200, description = "The account", body = AccountDetailView),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_account(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AccountDetailView>, ApiError> {
    let detail = state.store.account_detail(id).await?;
    let detail = detail.ok_or_else(|| ApiError::NotFound(format!("account {id} not found")))?;
    if detail.account.merged_into.is_some() {
        return Ok(Json(detail_view(detail, None, Vec::new())));
    }
    let data = state.store.account_health_data(id).await?;
    let health = data
        .health(&detail, &state.settings.health, &state.settings.money, Utc::now())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(detail_view(detail, Some(health), data.requests)))
}

fn detail_view(
    detail: AccountDetail,
    health: Option<chorus_core::Health>,
    waiting_on: Vec<(i64, String)>,
) -> AccountDetailView {
    let AccountDetail { account, deleted, sources, children, kept_apart } = detail;
    AccountDetailView {
        plan: account.plan.clone(),
        merged_into: account.merged_into,
        account: account.into(),
        deleted,
        sources: sources
            .into_iter()
            .map(|s| AccountSourceView {
                connector: s.connector,
                source: s.source.to_string(),
                external_id: s.external_id,
                joined_by: s.joined_by.as_str().to_owned(),
                joined_at: s.joined_at,
                name: s.name,
                domains: s.domains,
                same_as: s.same_as,
            })
            .collect(),
        children,
        kept_apart: kept_apart
            .into_iter()
            .map(|k| RecordKeyView { connector: k.connector, external_id: k.external_id })
            .collect(),
        health,
        waiting_on: waiting_on.into_iter().map(|(id, title)| WaitingOn { id, title }).collect(),
    }
}

/// `POST /api/v1/accounts/{id}/merge`: the account to merge into this one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeAccount {
    /// The account merged away; it is kept as merged into `{id}`.
    pub from: i64,
}

/// Merges account `from` into `{id}`: records, domains, contacts, item links and
/// children move. Answers with the surviving account.
#[utoipa::path(
    post, path = "/api/v1/accounts/{id}/merge", tag = "accounts", request_body = MergeAccount,
    params(("id" = i64, Path, description = "The surviving account's id")),
    responses(
        (status = 200, description = "The surviving account", body = AccountDetailView),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "An account was merged away already, or both are one", body = ErrorBody),
        (status = 422, description = "The body is not `{ \"from\": id }`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn merge(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MergeAccount>,
) -> Result<Json<AccountDetailView>, ApiError> {
    state.store.merge_accounts(id, body.from).await?;
    get_account(State(state), ApiPath(id)).await
}

/// `POST /api/v1/accounts/{id}/split`: the source records to split off.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitAccount {
    /// At least one of the account's source records (`sources` of its detail).
    pub records: Vec<RecordKeyView>,
}

/// The account a split made.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SplitOutcome {
    /// The new account holding the split-off records.
    pub created: i64,
}

/// Most records one split names.
const MAX_SPLIT_RECORDS: usize = 1000;

/// Splits the named source records off `{id}` into a new account, kept apart from the
/// records that stay: no later sync joins them again.
#[utoipa::path(
    post, path = "/api/v1/accounts/{id}/split", tag = "accounts", request_body = SplitAccount,
    params(("id" = i64, Path, description = "The account's id")),
    responses(
        (status = 201, description = "The new account", body = SplitOutcome),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "The account was merged away, holds no such record, or would be left empty", body = ErrorBody),
        (status = 422, description = "No records, or not `{ \"records\": [{ \"connector\", \"external_id\" }] }`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn split(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SplitAccount>,
) -> Result<(axum::http::StatusCode, Json<SplitOutcome>), ApiError> {
    if body.records.is_empty() || body.records.len() > MAX_SPLIT_RECORDS {
        return Err(ApiError::Unprocessable(format!("a split names 1 to {MAX_SPLIT_RECORDS} source records")));
    }
    if body.records.iter().any(|r| r.connector.trim().is_empty() || r.external_id.trim().is_empty()) {
        return Err(ApiError::Unprocessable("every record needs a connector and an external_id".into()));
    }
    let keys: Vec<RecordKey> =
        body.records.into_iter().map(|r| RecordKey { connector: r.connector, external_id: r.external_id }).collect();
    let created = state.store.split_account(id, &keys).await?;
    Ok((axum::http::StatusCode::CREATED, Json(SplitOutcome { created })))
}

/// `POST /api/v1/items/{id}/account`: the account the item belongs to.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkAccount {
    pub account: i64,
}

/// The item's account after a manual link.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountLinked {
    pub item: i64,
    pub account: i64,
    /// Always `manual`: it wins over whatever a sync says.
    pub provenance: String,
}

/// Links an item to an account by hand (it leaves the triage queue).
#[utoipa::path(
    post, path = "/api/v1/items/{id}/account", tag = "accounts", request_body = LinkAccount,
    params(("id" = i64, Path, description = "The item's id")),
    responses(
        (status = 200, description = "The link", body = AccountLinked),
        (status = 404, description = "No such item or account", body = ErrorBody),
        (status = 409, description = "The account was merged away or deleted", body = ErrorBody),
        (status = 422, description = "The body is not `{ \"account\": id }`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn link_item(
    State(state): State<AppState>,
    ApiPath(item): ApiPath<i64>,
    ApiJson(body): ApiJson<LinkAccount>,
) -> Result<Json<AccountLinked>, ApiError> {
    let account = body.account;
    // The store refuses a merged-away (409, naming the survivor) or unknown (404) account.
    state.store.link_item_account(item, account).await?;
    Ok(Json(AccountLinked { item, account, provenance: chorus_core::LinkProvenance::Manual.as_str().to_owned() }))
}

//! `/api/v1/tokens` (admin): list, create and revoke API tokens.
//!
//! A created token's text is in the creation answer and nowhere else, ever; listings
//! show its prefix. Revoking takes effect on the next request, on every node.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chorus_store::{ApiToken, NewApiToken, Role};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::{ApiJson, ApiPath};
use crate::{token, ApiError, AppState, ErrorBody};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleView {
    /// Search and read.
    Viewer,
    /// Read, and requests.
    Pm,
    /// Read, and accounts, links and triage.
    Csm,
    /// Everything, connectors and tokens included.
    Admin,
}

impl From<Role> for RoleView {
    fn from(role: Role) -> Self {
        match role {
            Role::Viewer => Self::Viewer,
            Role::Pm => Self::Pm,
            Role::Csm => Self::Csm,
            Role::Admin => Self::Admin,
        }
    }
}

impl From<RoleView> for Role {
    fn from(role: RoleView) -> Self {
        match role {
            RoleView::Viewer => Self::Viewer,
            RoleView::Pm => Self::Pm,
            RoleView::Csm => Self::Csm,
            RoleView::Admin => Self::Admin,
        }
    }
}

/// A token, without its secret text.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub role: RoleView,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiToken> for TokenView {
    fn from(token: ApiToken) -> Self {
        let ApiToken { id, name, role, prefix, created_at, last_used_at, revoked_at } = token;
        Self { id, name, role: role.into(), prefix, created_at, last_used_at, revoked_at }
    }
}

/// Every token, revoked ones included.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

/// A token to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Who or what uses it (`ci`, `alice`); 1 to 100 characters.
    pub name: String,
    pub role: RoleView,
}

/// A created token: the only answer that carries its text.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// The token; shown once, store it now.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenView,
}

/// Longest token name.
const MAX_NAME: usize = 100;

/// Every token.
#[utoipa::path(
    get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, description = "Every token", body = TokenList)),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<TokenList>, ApiError> {
    let tokens = state.store.api_tokens().await?;
    Ok(Json(TokenList { tokens: tokens.into_iter().map(TokenView::from).collect() }))
}

/// Creates a token.
#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses(
        (status = 201, description = "The token, shown once", body = CreatedToken),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "Bad name or role", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let (token, info) = create_token(state.store.as_ref(), &body.name, body.role.into()).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token: token.expose().to_owned(), info: info.into() })))
}

/// Mints and records a token (the API and `chorus tokens create` share this).
pub async fn create_token(
    store: &dyn chorus_store::Store,
    name: &str,
    role: Role,
) -> Result<(chorus_core::Secret, ApiToken), ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(format!("a token name is 1 to {MAX_NAME} printable characters")));
    }
    let minted = token::mint();
    let recorded = store
        .create_api_token(&NewApiToken { name: name.to_owned(), role, prefix: minted.prefix, hash: minted.hash })
        .await?;
    Ok((minted.token, recorded))
}

/// Revokes a token at once.
#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 200, description = "The revoked token", body = TokenView),
        (status = 404, description = "No such token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(state.store.revoke_api_token(id).await?.into()))
}

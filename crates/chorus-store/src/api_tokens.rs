//! API tokens as the store keeps them: a name, a role and the SHA-256 of the token.
//!
//! Invariant: the token text itself is never stored, so nothing read from the store can
//! be used to call the API; only its hash (for look-up) and a short prefix (for people
//! telling tokens apart) are.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a token may do. `Viewer` reads; `Pm` and `Csm` each add their own writes
/// (requests; accounts, links and triage); `Admin` may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Pm,
    Csm,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Pm, Role::Csm, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Pm => "pm",
            Role::Csm => "csm",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| format!("unknown role `{text}`; expected one of viewer, pm, csm, admin"))
    }
}

/// A token to record: everything but its id and times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiToken {
    pub name: String,
    pub role: Role,
    /// The token's first characters (public: shown in listings).
    pub prefix: String,
    /// Lowercase hex SHA-256 of the whole token.
    pub hash: String,
}

/// A recorded token, without its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A web session to record: the SHA-256 of its id, the token that opened it, and when
/// it ends. The session id itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebSession {
    /// Lowercase hex SHA-256 of the session id the browser holds.
    pub hash: String,
    pub token_id: i64,
    pub expires_at: DateTime<Utc>,
}

/// A live web session: it speaks with its token's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSession {
    pub id: i64,
    pub token_id: i64,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

//! Bearer tokens with roles. Tokens are random, shown once, and stored as
//! SHA-256 hashes; a presented token is looked up by its hash and the hash
//! compared in constant time.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use baton_store::{Store, TokenRecord};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ApiState;
use crate::error::{ApiError, internal};

/// What a token may do. Each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything.
    Viewer,
    /// Start, cancel and approve runs; engage the interlock.
    Operator,
    /// Plugins, workflows and tokens.
    Admin,
}

impl Role {
    /// Parse `admin`, `operator` or `viewer`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "admin" => Role::Admin,
            "operator" => Role::Operator,
            "viewer" => Role::Viewer,
            _ => return None,
        })
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name; recorded as the actor of what the call changes.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

impl Caller {
    /// Refuse with 403 unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this needs the {} role; the token `{}` is {}",
                    role.as_str(),
                    self.name,
                    self.role.as_str()
                ),
            ))
        }
    }
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("send `Authorization: Bearer <token>`"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        let presented = hash(token);
        let record = state
            .engine
            .store()
            .token_by_hash(&presented)
            .await
            .map_err(internal)?
            .filter(|r| bool::from(r.hash.as_bytes().ct_eq(presented.as_bytes())))
            .ok_or_else(|| unauthorized("unknown or revoked token"))?;
        let role = Role::parse(&record.role).ok_or_else(|| internal("token with unknown role"))?;
        Ok(Caller {
            name: record.name,
            role,
        })
    }
}

/// Create a token; the returned secret is shown once and never stored.
pub async fn create_token(
    store: &Store,
    name: &str,
    role: Role,
) -> Result<(TokenRecord, String), baton_store::Error> {
    let secret = format!("baton_{}", hex::encode(rand::random::<[u8; 24]>()));
    let record = TokenRecord {
        id: hex::encode(rand::random::<[u8; 6]>()),
        name: name.to_string(),
        role: role.as_str().to_string(),
        hash: hash(&secret),
        created_at: 0,
    };
    store.put_token(&record).await?;
    Ok((record, secret))
}

/// What [`bootstrap`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// A new admin token, whose secret is to be shown once.
    Generated(String),
    /// The given secret is now the admin token.
    Installed,
    /// The store already had tokens, so nothing changed, not even with a
    /// given secret: the first admin token is only ever made once.
    AlreadyHadTokens,
}

/// On a store without tokens, install the first admin token: `given` (from
/// `BATON_ADMIN_TOKEN`) or a new random one.
pub async fn bootstrap(
    store: &Store,
    given: Option<&str>,
) -> Result<Bootstrap, baton_store::Error> {
    if !store.tokens().await?.is_empty() {
        return Ok(Bootstrap::AlreadyHadTokens);
    }
    match given {
        Some(secret) => {
            install_token(store, "admin", Role::Admin, secret).await?;
            Ok(Bootstrap::Installed)
        }
        None => create_token(store, "admin", Role::Admin)
            .await
            .map(|(_, secret)| Bootstrap::Generated(secret)),
    }
}

/// Make `secret` a token with `role`, unless it already is one.
pub async fn install_token(
    store: &Store,
    name: &str,
    role: Role,
    secret: &str,
) -> Result<(), baton_store::Error> {
    if store.token_by_hash(&hash(secret)).await?.is_some() {
        return Ok(());
    }
    store
        .put_token(&TokenRecord {
            id: hex::encode(rand::random::<[u8; 6]>()),
            name: name.to_string(),
            role: role.as_str().to_string(),
            hash: hash(secret),
            created_at: 0,
        })
        .await
}

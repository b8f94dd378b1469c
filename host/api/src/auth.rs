//! Bearer tokens with roles. Tokens are random, shown once, and stored as
//! SHA-256 hashes; a presented token is looked up by its hash and the hash
//! compared in constant time.
//!
//! A token arrives as `Authorization: Bearer <token>` or, from the console,
//! in the HttpOnly session cookie that `POST /api/v1/session` sets. A
//! request that relies on the cookie and changes anything (any method but
//! GET, HEAD and OPTIONS) must also carry the session's CSRF token in
//! `X-Baton-CSRF`, and an `Origin` header, if sent, must be this server: a
//! page on another site can make a browser send the cookie, but cannot read
//! the CSRF token or forge the Origin.

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
    /// The token's id: what per-token limits count by.
    pub token: String,
    /// The token's name; recorded as the actor of what the call changes.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The CSRF token of the console session the request came with (none
    /// for a bearer token).
    pub csrf: Option<String>,
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

pub(crate) fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
        let (token, csrf) = match parts.headers.get(axum::http::header::AUTHORIZATION) {
            Some(header) => {
                let token = header
                    .to_str()
                    .ok()
                    .and_then(|h| h.strip_prefix("Bearer "))
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        unauthorized("the Authorization header must be `Bearer <token>`")
                    })?;
                (token.to_string(), None)
            }
            None => {
                let token = crate::session::cookie_token(&parts.headers).ok_or_else(|| {
                    unauthorized("send `Authorization: Bearer <token>`, or sign in to the console")
                })?;
                let csrf = crate::session::csrf_for(&token);
                crate::session::check_cross_site(parts, &csrf)?;
                (token, Some(csrf))
            }
        };
        caller_for(state, &token, csrf).await
    }
}

/// The caller that `token` identifies, or a 401.
pub(crate) async fn caller_for(
    state: &ApiState,
    token: &str,
    csrf: Option<String>,
) -> Result<Caller, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
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
        token: record.id,
        name: record.name,
        role,
        csrf,
    })
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
    /// The given secret is one of the store's unrevoked tokens already.
    AlreadyInstalled,
    /// The store already had tokens, so nothing changed: the first admin
    /// token is only ever made once. A given secret is not one of them (it
    /// is unknown here, or was revoked).
    AlreadyHadTokens,
    /// The given secret was a token here and was revoked. A revoked token
    /// is never made valid again, so nothing was installed, and the store
    /// has no unrevoked token.
    Revoked,
}

/// On a store without tokens, install the first admin token: `given` (from
/// `BATON_ADMIN_TOKEN`) or a new random one; never a revoked one.
pub async fn bootstrap(
    store: &Store,
    given: Option<&str>,
) -> Result<Bootstrap, baton_store::Error> {
    let has_tokens = !store.tokens().await?.is_empty();
    match given {
        Some(secret) if has_tokens => match store.token_by_hash(&hash(secret)).await? {
            Some(_) => Ok(Bootstrap::AlreadyInstalled),
            None => Ok(Bootstrap::AlreadyHadTokens),
        },
        Some(secret) => match install_token(store, "admin", Role::Admin, secret).await {
            Ok(()) => Ok(Bootstrap::Installed),
            Err(baton_store::Error::Conflict(_)) => Ok(Bootstrap::Revoked),
            Err(e) => Err(e),
        },
        None if has_tokens => Ok(Bootstrap::AlreadyHadTokens),
        None => create_token(store, "admin", Role::Admin)
            .await
            .map(|(_, secret)| Bootstrap::Generated(secret)),
    }
}

/// Make `secret` a token with `role`, unless it already is one. A secret
/// that was revoked is refused with [`baton_store::Error::Conflict`]: it is
/// never made valid again.
pub async fn install_token(
    store: &Store,
    name: &str,
    role: Role,
    secret: &str,
) -> Result<(), baton_store::Error> {
    let hash = hash(secret);
    if store.token_by_hash(&hash).await?.is_some() {
        return Ok(());
    }
    let put = store
        .put_token(&TokenRecord {
            id: hex::encode(rand::random::<[u8; 6]>()),
            name: name.to_string(),
            role: role.as_str().to_string(),
            hash: hash.clone(),
            created_at: 0,
        })
        .await;
    match put {
        // Hashes are unique, and this one is not an unrevoked token: it is a
        // revoked one, unless another server installed it just now.
        Err(e) if is_unique_violation(&e) => match store.token_by_hash(&hash).await? {
            Some(_) => Ok(()),
            None => Err(baton_store::Error::Conflict(
                "this token was revoked, and a revoked token is never made valid again: \
                 choose a new secret"
                    .into(),
            )),
        },
        other => other,
    }
}

fn is_unique_violation(e: &baton_store::Error) -> bool {
    match e {
        baton_store::Error::Database(e) => e
            .as_database_error()
            .is_some_and(|e| e.is_unique_violation()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> Store {
        Store::open("sqlite::memory:", baton_store::StoreOptions::default())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_revoked_secret_is_never_installed_again() {
        let store = store().await;
        assert_eq!(
            bootstrap(&store, Some("baton_first")).await.unwrap(),
            Bootstrap::Installed
        );
        assert_eq!(
            bootstrap(&store, Some("baton_first")).await.unwrap(),
            Bootstrap::AlreadyInstalled
        );
        assert_eq!(
            bootstrap(&store, Some("baton_other")).await.unwrap(),
            Bootstrap::AlreadyHadTokens
        );
        let id = store.tokens().await.unwrap()[0].id.clone();
        assert!(store.revoke_token(&id).await.unwrap());

        // No unrevoked token is left, and the revoked secret stays revoked.
        assert_eq!(
            bootstrap(&store, Some("baton_first")).await.unwrap(),
            Bootstrap::Revoked
        );
        assert!(store.tokens().await.unwrap().is_empty());
        let e = install_token(&store, "demo", Role::Admin, "baton_first")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("revoked"), "{e}");
        // A new secret may be the first token again.
        assert_eq!(
            bootstrap(&store, Some("baton_second")).await.unwrap(),
            Bootstrap::Installed
        );
    }
}

//! The `api_tokens` table: who may call the HTTP API, and as what.

use serde::{Deserialize, Serialize};

use crate::model::{Millis, now_millis};
use crate::store::with_pool;
use crate::{Result, Store};

/// A stored API token. The secret itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// An identifier to list and revoke it by; not a secret.
    pub id: String,
    /// Who or what it is for, e.g. `mes-line1`; recorded as the actor.
    pub name: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
    /// Hex SHA-256 of the token.
    #[serde(skip_serializing)]
    pub hash: String,
    /// When it was created.
    pub created_at: Millis,
}

type TokenRow = (String, String, String, String, i64);

fn record((id, name, role, hash, created_at): TokenRow) -> TokenRecord {
    TokenRecord {
        id,
        name,
        role,
        hash,
        created_at,
    }
}

impl Store {
    /// Store a token.
    pub async fn put_token(&self, token: &TokenRecord) -> Result<()> {
        with_pool!(&self.pool, p => {
            sqlx::query(
                "INSERT INTO api_tokens (id, name, role, hash, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&token.id)
            .bind(&token.name)
            .bind(&token.role)
            .bind(&token.hash)
            .bind(if token.created_at == 0 { now_millis() } else { token.created_at })
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The unrevoked token whose secret hashes to `hash`. Kept in memory
    /// for up to [`crate::CACHE_TTL`]; a revoke through this store is seen
    /// at once.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let ticket = match self.caches.tokens.get(hash) {
            Ok(token) => return Ok(Some(token)),
            Err(ticket) => ticket,
        };
        let row: Option<TokenRow> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT id, name, role, hash, created_at FROM api_tokens \
                 WHERE hash = $1 AND revoked_at IS NULL",
            )
            .bind(hash)
            .fetch_optional(p)
            .await?
        });
        let token = row.map(record);
        if let Some(token) = &token {
            self.caches
                .tokens
                .fill(ticket, hash.to_string(), token.clone());
        }
        Ok(token)
    }

    /// Every unrevoked token, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>> {
        let rows: Vec<TokenRow> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT id, name, role, hash, created_at FROM api_tokens \
                 WHERE revoked_at IS NULL ORDER BY created_at",
            )
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(record).collect())
    }

    /// Revoke the token `id`. Returns whether an unrevoked token was revoked.
    pub async fn revoke_token(&self, id: &str) -> Result<bool> {
        let done = with_pool!(&self.pool, p => {
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_millis())
                .bind(id)
                .execute(p)
                .await?
                .rows_affected()
        });
        self.caches.tokens.clear();
        Ok(done > 0)
    }
}

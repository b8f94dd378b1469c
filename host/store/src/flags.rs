//! The `flags` table: installation-wide switches that survive a restart.

use serde_json::Value;

use crate::error::corrupt;
use crate::model::now_millis;
use crate::store::with_pool;
use crate::{Result, Store};

impl Store {
    /// The flag called `name`, if ever set.
    pub async fn flag(&self, name: &str) -> Result<Option<Value>> {
        let row: Option<(String,)> = with_pool!(&self.pool, p => {
            sqlx::query_as("SELECT value FROM flags WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await?
        });
        row.map(|(v,)| serde_json::from_str(&v).map_err(|e| corrupt("flag", e)))
            .transpose()
    }

    /// Set the flag called `name`.
    pub async fn set_flag(&self, name: &str, value: &Value, actor: &str) -> Result<()> {
        with_pool!(&self.pool, p => {
            sqlx::query(
                "INSERT INTO flags (name, value, actor, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, actor = excluded.actor, \
                 updated_at = excluded.updated_at",
            )
            .bind(name)
            .bind(value.to_string())
            .bind(actor)
            .bind(now_millis())
            .execute(p)
            .await?;
        });
        Ok(())
    }
}

//! The `plugins` table: uploaded components and what they reported.

use crate::error::corrupt;
use crate::model::{PluginRecord, now_millis};
use crate::store::with_pool;
use crate::{Error, Result, Store};

type PluginRow = (
    String,
    String,
    String,
    i64,
    String,
    Option<String>,
    String,
    i64,
    i64,
);

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT digest, name, version, major, description, config_schema, imports, size, \
             created_at FROM plugins ",
            $rest
        )
    };
}

fn record(row: PluginRow) -> Result<PluginRecord> {
    let (digest, name, version, major, description, schema, imports, size, created_at) = row;
    Ok(PluginRecord {
        config_schema: schema
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| corrupt("plugin config schema", e))?,
        imports: serde_json::from_str(&imports).map_err(|e| corrupt("plugin imports", e))?,
        major: u64::try_from(major).map_err(|e| corrupt("plugin major", e))?,
        size: u64::try_from(size).map_err(|e| corrupt("plugin size", e))?,
        digest,
        name,
        version,
        description,
        created_at,
    })
}

impl Store {
    /// Store a plugin. Storing the same bytes again is a no-op that returns
    /// the stored record; the same name and version with other bytes is a
    /// [`Error::Conflict`].
    pub async fn put_plugin(&self, plugin: &PluginRecord, bytes: &[u8]) -> Result<PluginRecord> {
        if let Some(existing) = self.plugin_by_digest(&plugin.digest).await? {
            return Ok(existing);
        }
        let schema = plugin.config_schema.as_ref().map(|s| s.to_string());
        let imports = serde_json::Value::from(plugin.imports.clone()).to_string();
        let now = now_millis();
        let inserted = with_pool!(&self.pool, p => {
            sqlx::query(
                "INSERT INTO plugins (digest, name, version, major, description, config_schema, \
                 imports, size, bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&plugin.digest)
            .bind(&plugin.name)
            .bind(&plugin.version)
            .bind(plugin.major as i64)
            .bind(&plugin.description)
            .bind(schema)
            .bind(imports)
            .bind(bytes.len() as i64)
            .bind(bytes)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()
        });
        if inserted == 0 {
            if let Some(existing) = self.plugin_by_digest(&plugin.digest).await? {
                return Ok(existing);
            }
            let other = self.plugin(&plugin.name, &plugin.version).await?;
            return Err(Error::Conflict(format!(
                "plugin {}@{} is already stored with different bytes ({})",
                plugin.name,
                plugin.version,
                other.map(|o| o.digest).unwrap_or_default()
            )));
        }
        self.plugin_by_digest(&plugin.digest)
            .await?
            .ok_or_else(|| corrupt("plugin", "vanished after insert"))
    }

    /// The plugin with this digest.
    pub async fn plugin_by_digest(&self, digest: &str) -> Result<Option<PluginRecord>> {
        let row: Option<PluginRow> = with_pool!(&self.pool, p => {
            sqlx::query_as(select!("WHERE digest = $1")).bind(digest).fetch_optional(p).await?
        });
        row.map(record).transpose()
    }

    /// The plugin called `name` at exactly `version`.
    pub async fn plugin(&self, name: &str, version: &str) -> Result<Option<PluginRecord>> {
        let row: Option<PluginRow> = with_pool!(&self.pool, p => {
            sqlx::query_as(select!("WHERE name = $1 AND version = $2"))
                .bind(name)
                .bind(version).fetch_optional(p).await?
        });
        row.map(record).transpose()
    }

    /// Every stored plugin (without bytes), by name then upload time.
    pub async fn plugins(&self) -> Result<Vec<PluginRecord>> {
        let rows: Vec<PluginRow> = with_pool!(&self.pool, p => {
            sqlx::query_as(select!("ORDER BY name, created_at")).fetch_all(p).await?
        });
        rows.into_iter().map(record).collect()
    }

    /// The component bytes of the plugin with this digest.
    pub async fn plugin_bytes(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> = with_pool!(&self.pool, p => {
            sqlx::query_as("SELECT bytes FROM plugins WHERE digest = $1")
                .bind(digest)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|(b,)| b))
    }

    /// Delete a plugin version. Returns whether it existed.
    pub async fn delete_plugin(&self, name: &str, version: &str) -> Result<bool> {
        let n = with_pool!(&self.pool, p => {
            sqlx::query("DELETE FROM plugins WHERE name = $1 AND version = $2")
                .bind(name)
                .bind(version)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }
}

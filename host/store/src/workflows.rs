//! The `workflows` table: every applied version, never changed afterwards.

use serde_json::Value;

use crate::error::corrupt;
use crate::model::{WorkflowRecord, now_millis};
use crate::store::with_pool;
use crate::{Error, Result, Store};

type WorkflowRow = (String, i64, String, String, i64, Option<String>);

fn record(row: WorkflowRow) -> Result<WorkflowRecord> {
    let (name, version, definition, plugins, created_at, source) = row;
    Ok(WorkflowRecord {
        source,
        definition: serde_json::from_str(&definition)
            .map_err(|e| corrupt("workflow definition", e))?,
        plugins: serde_json::from_str(&plugins).map_err(|e| corrupt("workflow plugins", e))?,
        name,
        version,
        created_at,
    })
}

impl Store {
    /// Store a new version of workflow `name`, applied from the text
    /// `source`, and return it. Versions count up from 1; two concurrent
    /// applies get different versions.
    pub async fn put_workflow(
        &self,
        name: &str,
        definition: &Value,
        plugins: &Value,
        source: Option<&str>,
    ) -> Result<WorkflowRecord> {
        let definition_text = definition.to_string();
        let plugins_text = plugins.to_string();
        for _ in 0..10 {
            let now = now_millis();
            let inserted: Option<(i64,)> = with_pool!(&self.pool, p => {
                sqlx::query_as(
                    "INSERT INTO workflows (name, version, definition, plugins, created_at, source) \
                     SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5 FROM workflows WHERE name = $1 \
                     ON CONFLICT DO NOTHING RETURNING version",
                )
                .bind(name)
                .bind(&definition_text)
                .bind(&plugins_text)
                .bind(now)
                .bind(source)
                .fetch_optional(p)
                .await?
            });
            if let Some((version,)) = inserted {
                self.caches.latest.clear();
                return Ok(WorkflowRecord {
                    name: name.to_string(),
                    version,
                    definition: definition.clone(),
                    plugins: plugins.clone(),
                    created_at: now,
                    source: source.map(str::to_string),
                });
            }
        }
        Err(Error::Conflict(format!(
            "workflow `{name}` is being applied concurrently; try again"
        )))
    }

    /// Version `version` of workflow `name`.
    pub async fn workflow(&self, name: &str, version: i64) -> Result<Option<WorkflowRecord>> {
        let row: Option<WorkflowRow> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT name, version, definition, plugins, created_at, source FROM workflows \
                 WHERE name = $1 AND version = $2",
            )
            .bind(name)
            .bind(version)
            .fetch_optional(p)
            .await?
        });
        row.map(record).transpose()
    }

    /// The newest version of workflow `name`.
    pub async fn latest_workflow(&self, name: &str) -> Result<Option<WorkflowRecord>> {
        let row: Option<WorkflowRow> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT name, version, definition, plugins, created_at, source FROM workflows \
                 WHERE name = $1 ORDER BY version DESC LIMIT 1",
            )
            .bind(name)
            .fetch_optional(p)
            .await?
        });
        row.map(record).transpose()
    }

    /// The newest version number of workflow `name`; cheaper than
    /// [`Store::latest_workflow`] when the definition is not needed. Kept in
    /// memory for up to [`crate::CACHE_TTL`]; an apply through this store is
    /// seen at once.
    pub async fn latest_workflow_version(&self, name: &str) -> Result<Option<i64>> {
        let ticket = match self.caches.latest.get(name) {
            Ok(version) => return Ok(Some(version)),
            Err(ticket) => ticket,
        };
        let row: (Option<i64>,) = with_pool!(&self.pool, p => {
            sqlx::query_as("SELECT MAX(version) FROM workflows WHERE name = $1")
                .bind(name)
                .fetch_one(p)
                .await?
        });
        if let Some(version) = row.0 {
            self.caches.latest.fill(ticket, name.to_string(), version);
        }
        Ok(row.0)
    }

    /// The newest version number of every workflow, by name.
    pub async fn latest_versions(&self) -> Result<Vec<(String, i64)>> {
        Ok(with_pool!(&self.pool, p => {
            sqlx::query_as("SELECT name, MAX(version) FROM workflows GROUP BY name ORDER BY name")
                .fetch_all(p)
                .await?
        }))
    }

    /// The newest version of every workflow, by name.
    pub async fn latest_workflows(&self) -> Result<Vec<WorkflowRecord>> {
        let rows: Vec<WorkflowRow> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT w.name, w.version, w.definition, w.plugins, w.created_at, w.source FROM workflows w \
                 JOIN (SELECT name, MAX(version) AS version FROM workflows GROUP BY name) m \
                 ON w.name = m.name AND w.version = m.version ORDER BY w.name",
            )
            .fetch_all(p)
            .await?
        });
        rows.into_iter().map(record).collect()
    }

    /// The version numbers of workflow `name`, oldest first.
    pub async fn workflow_versions(&self, name: &str) -> Result<Vec<(i64, i64)>> {
        let rows: Vec<(i64, i64)> = with_pool!(&self.pool, p => {
            sqlx::query_as("SELECT version, created_at FROM workflows WHERE name = $1 ORDER BY version")
                .bind(name)
                .fetch_all(p)
                .await?
        });
        Ok(rows)
    }

    /// `name@version` of every workflow version resolved to the plugin with
    /// this digest.
    pub async fn workflows_using(&self, digest: &str) -> Result<Vec<String>> {
        // Digests are hex, so they need no escaping in a LIKE pattern.
        let pattern = format!("%\"{digest}\"%");
        let rows: Vec<(String, i64)> = with_pool!(&self.pool, p => {
            sqlx::query_as("SELECT name, version FROM workflows WHERE plugins LIKE $1 ORDER BY name, version")
                .bind(&pattern)
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().map(|(n, v)| format!("{n}@{v}")).collect())
    }
}

//! The `plc_triggers` table: the last stable state of each PLC-change
//! trigger and how many times it has changed.
//!
//! The edge counter is what makes one run per edge: a run is started with an
//! idempotency key derived from the edge's number before the new state is
//! written, and the write is a compare-and-set on the counter. A crash
//! between the two, or another node seeing the same edge, ends with the same
//! key, so with the run already there.

use crate::model::now_millis;
use crate::store::with_pool;
use crate::{Result, Store};

/// A PLC trigger's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlcTriggerState {
    /// The last stable state: the bit, or whether the register is above its
    /// threshold.
    pub level: bool,
    /// The reading that settled it (a bit as 0 or 1).
    pub value: i64,
    /// How many times the state has changed, baselines after an outage
    /// included.
    pub edges: i64,
    /// When it was last written, in milliseconds since the Unix epoch.
    pub updated_at: i64,
}

type Row = (i64, i64, i64, i64);

fn state((level, value, edges, updated_at): Row) -> PlcTriggerState {
    PlcTriggerState {
        level: level != 0,
        value,
        edges,
        updated_at,
    }
}

impl Store {
    /// The stored state of trigger `key` of `workflow`, if it was ever armed.
    pub async fn plc_trigger(&self, workflow: &str, key: &str) -> Result<Option<PlcTriggerState>> {
        let row: Option<Row> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT level, value, edges, updated_at FROM plc_triggers \
                 WHERE workflow = $1 AND trigger_key = $2",
            )
            .bind(workflow)
            .bind(key)
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(state))
    }

    /// Store the first state of trigger `key`, with no edges, unless one is
    /// stored already (another node armed it first); returns what is stored.
    pub async fn init_plc_trigger(
        &self,
        workflow: &str,
        key: &str,
        level: bool,
        value: i64,
    ) -> Result<PlcTriggerState> {
        with_pool!(&self.pool, p => {
            sqlx::query(
                "INSERT INTO plc_triggers (workflow, trigger_key, level, value, edges, updated_at) \
                 VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (workflow, trigger_key) DO NOTHING",
            )
            .bind(workflow)
            .bind(key)
            .bind(i64::from(level))
            .bind(value)
            .bind(now_millis())
            .execute(p)
            .await?;
        });
        match self.plc_trigger(workflow, key).await? {
            Some(stored) => Ok(stored),
            // Deleted between the two statements: only by hand.
            None => Err(crate::Error::Conflict(format!(
                "the state of trigger `{key}` of workflow `{workflow}` vanished as it was written"
            ))),
        }
    }

    /// Record change number `edges + 1` of trigger `key`: its new `level` and
    /// `value`. Written only if the stored counter is still `edges`; false
    /// when another writer recorded a change first.
    pub async fn advance_plc_trigger(
        &self,
        workflow: &str,
        key: &str,
        edges: i64,
        level: bool,
        value: i64,
    ) -> Result<bool> {
        let done = with_pool!(&self.pool, p => {
            sqlx::query(
                "UPDATE plc_triggers SET level = $1, value = $2, edges = edges + 1, updated_at = $3 \
                 WHERE workflow = $4 AND trigger_key = $5 AND edges = $6",
            )
            .bind(i64::from(level))
            .bind(value)
            .bind(now_millis())
            .bind(workflow)
            .bind(key)
            .bind(edges)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }
}

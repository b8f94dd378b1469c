//! `GET /api/v1/status`: the operator's overview in one call: the interlock,
//! task slots and queue, runs by status, how every connection is doing, and
//! what retention keeps and has deleted.
//!
//! The numbers are the same as `/metrics` gives, as JSON for a console page
//! rather than Prometheus text for a scraper.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::ApiState;
use crate::auth::{Caller, Role};
use crate::error::{ApiResult, internal};
use crate::openapi::Refused;

/// `GET /status`: `interlock.engaged`, `queue_depth` (attempts waiting for a
/// slot), `free_task_slots`, `attempts_running`, `active_runs` (runs with a
/// live actor), `runs` (by status, from the store), and `connectors`: each
/// PLC device and MQTT connection by name with its `state` (`connected`,
/// `offline`, `idle` before a PLC device's first use, or `unknown`),
/// `last_error` and `last_error_at` (ms since the epoch), and `retention`
/// (the [`Retention`] schema): the `[retention]` settings this node sweeps
/// with and the rows it deleted since it started.
#[utoipa::path(
    get,
    operation_id = "status",
    path = "/status",
    tag = "health",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The overview", body = Value),
        Refused
    )
)]
pub async fn status(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    let engine = &state.engine;
    let m = engine.metrics();
    let counts = engine.store().count_runs().await?;
    let mut runs = serde_json::Map::new();
    for status in ["running", "held", "succeeded", "failed", "cancelled"] {
        let n = counts
            .iter()
            .find(|(s, _)| s.as_str() == status)
            .map_or(0, |(_, n)| *n);
        runs.insert(status.into(), n.into());
    }
    // Snapshots only: a device stuck in a request timeout does not hold this up.
    let connectors =
        serde_json::to_value(engine.runtime().connectors().health()).map_err(internal)?;
    Ok(Json(json!({
        "interlock": {"engaged": engine.interlock()},
        "queue_depth": m.waiting_for_slot.load(Ordering::Relaxed),
        "free_task_slots": engine.free_slots(),
        "attempts_running": m.running.load(Ordering::Relaxed),
        "active_runs": engine.active_runs(),
        "runs": runs,
        "connectors": connectors,
        "retention": Retention::from(engine.retention()),
    })))
}

/// `retention` in `GET /status`: how long finished runs and audit events are
/// kept (`[retention]`), and what this node's sweep deleted since it started.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Retention {
    /// Whether this node sweeps: `runs` or `audit` is set.
    pub enabled: bool,
    /// How long a finished run is kept, in milliseconds; null keeps runs
    /// forever (the default).
    pub runs_ms: Option<u64>,
    /// How long an audit event is kept, in milliseconds; null keeps the
    /// audit log forever (the default).
    pub audit_ms: Option<u64>,
    /// Most rows deleted in one transaction.
    pub batch: u32,
    /// Between sweeps, in milliseconds.
    pub interval_ms: u64,
    /// Rows deleted, per table, by this node since it started.
    pub deleted: RetentionDeleted,
    /// Sweeps finished since this node started.
    pub sweeps: u64,
    /// When the last sweep finished (ms since the epoch); null before the
    /// first.
    pub last_sweep_at: Option<i64>,
    /// Why the last sweep failed, if it did; the next one tries again.
    pub last_error: Option<String>,
}

/// Rows retention deleted, per table; the same numbers as
/// `baton_retention_deleted_total` in `/metrics`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RetentionDeleted {
    /// Finished runs.
    pub runs: u64,
    /// The node executions of those runs.
    pub node_executions: u64,
    /// The events of those runs.
    pub events: u64,
    /// Audit events (events of no run).
    pub audit: u64,
}

impl From<baton_engine::RetentionStatus> for Retention {
    fn from(r: baton_engine::RetentionStatus) -> Self {
        Self {
            enabled: r.enabled,
            runs_ms: r.runs_ms,
            audit_ms: r.audit_ms,
            batch: r.batch,
            interval_ms: r.interval_ms,
            deleted: RetentionDeleted {
                runs: r.deleted.runs,
                node_executions: r.deleted.node_executions,
                events: r.deleted.events,
                audit: r.deleted.audit,
            },
            sweeps: r.sweeps,
            last_sweep_at: r.last_sweep_at,
            last_error: r.last_error,
        }
    }
}

//! `GET /api/v1/status`: the operator's overview in one call: the interlock,
//! task slots and queue, runs by status, and how every connection is doing.
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
/// `last_error` and `last_error_at` (ms since the epoch).
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
    for status in ["running", "succeeded", "failed", "cancelled"] {
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
    })))
}

//! `GET /api/v1/cluster`: the nodes sharing this database, how recently each
//! was heard from, and the runs each owns.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::ApiState;
use crate::auth::{Caller, Role};
use crate::error::ApiResult;
use crate::openapi::Refused;

/// `GET /cluster`: `node` (this node: `id`, `clustered`, `healthy`,
/// `lease_left_ms`, null on SQLite, `problem`), `lease_ms` and `heartbeat_ms` (the
/// settings), `unowned_runs` (unfinished runs no node owns, claimed by the
/// next node with free slots) and `nodes`: each node's `id`, `address`,
/// `version`, `started_at`, `heartbeat_at`, `heartbeat_age_ms` (by the
/// database's clock), `alive` (heard from within the lease and not stopped),
/// `stopped_at`, `free_slots` and `runs` (unfinished runs it owns).
#[utoipa::path(
    get,
    operation_id = "cluster",
    path = "/cluster",
    tag = "health",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The nodes", body = Value),
        Refused
    )
)]
pub async fn cluster(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    let engine = &state.engine;
    let config = engine.cluster_config();
    let store = engine.store();
    let nodes: Vec<Value> = store
        .nodes()
        .await?
        .into_iter()
        .map(|n| {
            json!({
                "id": n.id,
                "address": n.address,
                "version": n.version,
                "started_at": n.started_at,
                "heartbeat_at": n.heartbeat_at,
                "heartbeat_age_ms": n.heartbeat_age_ms,
                "alive": n.alive(config.lease),
                "stopped_at": n.stopped_at,
                "free_slots": n.free_slots,
                "runs": n.runs,
            })
        })
        .collect();
    Ok(Json(json!({
        "node": engine.node_status(),
        "lease_ms": config.lease.as_millis() as u64,
        "heartbeat_ms": config.heartbeat.as_millis() as u64,
        "unowned_runs": store.unowned_runs().await?,
        "nodes": nodes,
    })))
}

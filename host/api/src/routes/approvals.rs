//! `GET /api/v1/approvals`: every node of a running run that waits for an
//! operator's decision, oldest first, so a console can show one inbox
//! instead of opening each run.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::ApiState;
use crate::auth::{Caller, Role};
use crate::error::ApiResult;
use crate::openapi::Refused;

/// Most open waits (of any kind) read in one call; past them `truncated`.
const MAX_WAITS: u32 = 1000;

/// `GET /approvals`: `{"approvals": [{run, workflow, version, node, since,
/// until, run_created_at}], "truncated"}`. `since` is when the node began to
/// wait, `until` when its wait times out (`null` if never). `truncated` says
/// more than 1,000 nodes wait (for anything) and only the oldest 1,000 were
/// looked at.
#[utoipa::path(
    get,
    operation_id = "list_approvals",
    path = "/approvals",
    tag = "runs",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The pending approvals, oldest first", body = Value),
        Refused
    )
)]
pub async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    // One query over the running runs' events (no replay): the nodes whose
    // latest wait is still open, kept when they wait for an approval.
    let waiting = state.engine.store().waiting_nodes(MAX_WAITS + 1).await?;
    let truncated = waiting.len() > MAX_WAITS as usize;
    let approvals: Vec<Value> = waiting
        .into_iter()
        .take(MAX_WAITS as usize)
        .filter(|w| w.wait["reason"] == "approval")
        .map(|w| {
            json!({
                "run": w.run_id,
                "workflow": w.workflow,
                "version": w.version,
                "node": w.node_id,
                "since": w.since,
                "until": w.wait.get("until").cloned().unwrap_or(Value::Null),
                "run_created_at": w.run_created_at,
            })
        })
        .collect();
    Ok(Json(
        json!({"approvals": approvals, "truncated": truncated}),
    ))
}

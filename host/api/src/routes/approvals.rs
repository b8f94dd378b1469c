//! `GET /api/v1/approvals`: every node of a running run that waits for an
//! operator's decision, oldest first, so a console can show one inbox
//! instead of opening each run.

use axum::Json;
use axum::extract::State;
use baton_engine::event::WaitReason;
use baton_engine::state::NodeStatus;
use baton_store::{RunFilter, RunStatus};
use serde_json::{Value, json};

use crate::ApiState;
use crate::auth::{Caller, Role};
use crate::error::ApiResult;
use crate::openapi::Refused;

/// Most running runs looked at in one call; each is rebuilt from its events.
const MAX_RUNS: u32 = 500;

/// `GET /approvals`: `{"approvals": [{run, workflow, version, node, since,
/// until, run_created_at}], "truncated"}`. `since` is when the node began to
/// wait, `until` when its wait times out (`null` if never). `truncated` says
/// more than 500 runs are running and only the newest 500 were looked at.
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
    let engine = &state.engine;
    let filter = RunFilter {
        status: Some(RunStatus::Running),
        // One more than is looked at tells whether there are more.
        limit: MAX_RUNS + 1,
        ..RunFilter::default()
    };
    let mut runs = engine.store().list_runs(&filter).await?;
    let truncated = runs.len() > MAX_RUNS as usize;
    runs.truncate(MAX_RUNS as usize);
    let mut pending = Vec::new();
    for run in &runs {
        // A run that finished (or vanished) since it was listed has nothing pending.
        let Ok((record, run_state, workflow)) = engine.inspect(&run.id).await else {
            continue;
        };
        if record.status != RunStatus::Running {
            continue;
        }
        let waiting: Vec<(&str, Option<i64>)> = run_state
            .nodes
            .iter()
            .zip(&workflow.nodes)
            .filter_map(|(node, compiled)| match node.status {
                NodeStatus::Waiting(WaitReason::Approval, until) => {
                    Some((compiled.id.as_str(), until))
                }
                _ => None,
            })
            .collect();
        if waiting.is_empty() {
            continue;
        }
        let events = engine.store().all_events(&run.id).await?;
        for (node, until) in waiting {
            // The latest wait of this node: a node waits once per run, but be exact.
            let since = events
                .iter()
                .rev()
                .find(|e| e.kind == "node_waiting" && e.node_id.as_deref() == Some(node))
                .map(|e| e.at);
            pending.push((
                since.unwrap_or(record.created_at),
                json!({
                    "run": record.id,
                    "workflow": record.workflow,
                    "version": record.version,
                    "node": node,
                    "since": since,
                    "until": until,
                    "run_created_at": record.created_at,
                }),
            ));
        }
    }
    pending.sort_by_key(|(since, _)| *since);
    let approvals: Vec<Value> = pending.into_iter().map(|(_, a)| a).collect();
    Ok(Json(
        json!({"approvals": approvals, "truncated": truncated}),
    ))
}

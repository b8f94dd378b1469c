//! Incidents: `GET /api/v1/incidents` lists the nodes of held runs that
//! failed for good, and `POST /runs/{id}/nodes/{node}/retry|complete|skip|fail`
//! resolves one. Every resolution is in the run's events, with its actor,
//! and in the audit log.

use axum::Json;
use axum::extract::{Path, State};
use baton_engine::Resolution;
use serde_json::{Value, json};

use super::body::{Body, object};
use crate::ApiState;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::error::ApiResult;
use crate::openapi::{BadRequest, Conflict, Invalid, NotFound, Refused};

/// `GET /incidents`: `{"incidents": [{run_id, workflow, version, key, node,
/// error, since}]}`, newest held run first (at most 500 runs).
#[utoipa::path(
    get,
    operation_id = "list_incidents",
    path = "/incidents",
    tag = "runs",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Open incidents, newest held run first", body = Value),
        Refused
    )
)]
pub async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    let incidents = state.engine.incidents().await?;
    Ok(Json(json!({ "incidents": incidents })))
}

async fn resolve(
    state: ApiState,
    caller: Caller,
    id: String,
    node: String,
    action: Resolution,
    body: Body,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Operator)?;
    let body = object(body)?;
    let fix = baton_engine::incidents::fix_from(action, &body)?;
    let details = json!({
        "run": id,
        "node": node,
        "comment": fix.comment,
        "config": fix.config,
        "input": fix.input,
        "output": fix.output,
    });
    state
        .engine
        .resolve_incident(&id, &node, fix, &caller.name)
        .await?;
    audit::record(
        &state,
        &caller,
        &format!("run.{}", action.as_str()),
        details,
    )
    .await?;
    Ok(Json(
        json!({"run_id": id, "node": node, "resolved": action.as_str()}),
    ))
}

/// `POST /runs/{id}/nodes/{node}/retry` with `{"config"?, "input"?,
/// "comment"?}`: run the failed node again. Its completed upstream nodes do
/// not run again. A corrected `config` replaces the node's whole config and
/// is checked against the plugin's schema (422 naming the field).
#[utoipa::path(
    post,
    operation_id = "retry_node",
    path = "/runs/{id}/nodes/{node}/retry",
    tag = "runs",
    params(("id" = String, Path, description = "Run id"), ("node" = String, Path, description = "The failed node")),
    request_body(content = Option<Value>, description = "{\"config\": {...}, \"input\": ..., \"comment\": ...}", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The node runs again", body = Value),
        BadRequest,
        Refused,
        NotFound,
        Conflict,
        Invalid
    )
)]
pub async fn retry(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, node)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    resolve(state, caller, id, node, Resolution::Retry, body).await
}

/// `POST /runs/{id}/nodes/{node}/complete` with `{"output", "comment"}`:
/// the manual override. The node succeeds with `output`, which its
/// dependants read; the comment is required.
#[utoipa::path(
    post,
    operation_id = "complete_node",
    path = "/runs/{id}/nodes/{node}/complete",
    tag = "runs",
    params(("id" = String, Path, description = "Run id"), ("node" = String, Path, description = "The failed node")),
    request_body(content = Value, description = "{\"output\": ..., \"comment\": \"why\"}", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The node is completed by hand", body = Value),
        BadRequest,
        Refused,
        NotFound,
        Conflict
    )
)]
pub async fn complete(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, node)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    resolve(state, caller, id, node, Resolution::Complete, body).await
}

/// `POST /runs/{id}/nodes/{node}/skip` with an optional `{"comment"}`: the
/// node is skipped, and what needs only it is skipped too.
#[utoipa::path(
    post,
    operation_id = "skip_node",
    path = "/runs/{id}/nodes/{node}/skip",
    tag = "runs",
    params(("id" = String, Path, description = "Run id"), ("node" = String, Path, description = "The failed node")),
    request_body(content = Option<Value>, description = "{\"comment\": ...}", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The node is skipped", body = Value),
        BadRequest,
        Refused,
        NotFound,
        Conflict
    )
)]
pub async fn skip(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, node)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    resolve(state, caller, id, node, Resolution::Skip, body).await
}

/// `POST /runs/{id}/nodes/{node}/fail` with an optional `{"comment"}`: give
/// up on the incident; the run fails, and the completed nodes'
/// compensations run.
#[utoipa::path(
    post,
    operation_id = "fail_node",
    path = "/runs/{id}/nodes/{node}/fail",
    tag = "runs",
    params(("id" = String, Path, description = "Run id"), ("node" = String, Path, description = "The failed node")),
    request_body(content = Option<Value>, description = "{\"comment\": ...}", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The run is failing", body = Value),
        BadRequest,
        Refused,
        NotFound,
        Conflict
    )
)]
pub async fn fail(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, node)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    resolve(state, caller, id, node, Resolution::Fail, body).await
}

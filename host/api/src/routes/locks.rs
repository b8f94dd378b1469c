//! `GET /api/v1/locks`: every equipment lock with its holders and its
//! queue, across every node on the database.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::ApiState;
use crate::auth::{Caller, Role};
use crate::error::ApiResult;
use crate::openapi::Refused;

/// `GET /locks`: `{"locks": [{key, limit, holders: [{run_id, workflow,
/// node, since}], queue: [...]}]}`, by name; a queue is in arrival order,
/// the order its runs or nodes will get the lock.
#[utoipa::path(
    get,
    operation_id = "list_locks",
    path = "/locks",
    tag = "runs",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every lock, its holders and its queue", body = Value),
        Refused
    )
)]
pub async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    let locks = state.engine.locks().await?;
    Ok(Json(json!({ "locks": locks })))
}

//! `/api/v1/interlock`: the safety interlock (e-stop for automation).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::ApiState;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::error::ApiResult;
use crate::openapi::Refused;

/// `GET /interlock`.
#[utoipa::path(
    get,
    operation_id = "show_interlock",
    path = "/interlock",
    tag = "interlock",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Whether it is engaged", body = Value),
        Refused
    )
)]
pub async fn show(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    Ok(Json(json!({"engaged": state.engine.interlock()})))
}

/// `POST /interlock`: deny every PLC write and refuse new runs.
#[utoipa::path(
    post,
    operation_id = "engage_interlock",
    path = "/interlock",
    tag = "interlock",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Engaged", body = Value),
        Refused
    )
)]
pub async fn engage(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    set(state, caller, true).await
}

/// `DELETE /interlock`: release it.
#[utoipa::path(
    delete,
    operation_id = "release_interlock",
    path = "/interlock",
    tag = "interlock",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Released", body = Value),
        Refused
    )
)]
pub async fn release(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    set(state, caller, false).await
}

async fn set(state: ApiState, caller: Caller, engaged: bool) -> ApiResult<Json<Value>> {
    caller.require(Role::Operator)?;
    state.engine.set_interlock(engaged, &caller.name).await?;
    let action = if engaged {
        "interlock.engage"
    } else {
        "interlock.release"
    };
    audit::record(&state, &caller, action, json!({})).await?;
    Ok(Json(json!({"engaged": engaged})))
}

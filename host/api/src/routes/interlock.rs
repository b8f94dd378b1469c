//! `/api/v1/interlock`: the safety interlock (e-stop for automation).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::ApiState;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::error::ApiResult;

/// `GET /interlock`.
pub async fn show(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    Ok(Json(json!({"engaged": state.engine.interlock()})))
}

/// `POST /interlock`: deny every PLC write and refuse new runs.
pub async fn engage(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    set(state, caller, true).await
}

/// `DELETE /interlock`: release it.
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

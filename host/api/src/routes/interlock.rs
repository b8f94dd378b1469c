//! `/api/v1/interlock`: the safety interlock (e-stop for automation).
//!
//! Any operator may engage it. Releasing it restarts actuation, so it needs
//! a comment saying why that is safe, and by default an admin
//! ([`ApiState::interlock_release_role`]). Both are audited with the comment.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::body::{Body, object};
use crate::ApiState;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{BadRequest, Refused};

/// Longest comment kept, in characters.
const MAX_COMMENT: usize = 1000;

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
    Ok(Json(json!({
        "engaged": state.engine.interlock(),
        "confirmed": state.engine.interlock_confirmed(),
        "release_role": state.interlock_release_role.as_str(),
    })))
}

/// `POST /interlock`: deny every actuation (PLC writes, interlocked MQTT
/// publishes and HTTP requests), abort running attempts that can actuate,
/// and refuse new runs. The body may give a `comment`.
#[utoipa::path(
    post,
    operation_id = "engage_interlock",
    path = "/interlock",
    tag = "interlock",
    request_body(content = Option<Value>, description = "{\"comment\": \"why\"}, optional", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Engaged", body = Value),
        BadRequest,
        Refused
    )
)]
pub async fn engage(
    State(state): State<ApiState>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Operator)?;
    let comment = comment(body)?;
    state.engine.set_interlock(true, &caller.name).await?;
    audit::record(
        &state,
        &caller,
        "interlock.engage",
        json!({"comment": comment}),
    )
    .await?;
    Ok(Json(json!({"engaged": true})))
}

/// `DELETE /interlock`: release it. The body must give a `comment`; the
/// caller needs the configured release role (admin by default).
#[utoipa::path(
    delete,
    operation_id = "release_interlock",
    path = "/interlock",
    tag = "interlock",
    request_body(content = Value, description = "{\"comment\": \"why it is safe to resume\"}, required", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Released", body = Value),
        BadRequest,
        Refused
    )
)]
pub async fn release(
    State(state): State<ApiState>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    caller.require(state.interlock_release_role)?;
    let Some(comment) = comment(body)? else {
        return Err(ApiError::bad_request(
            "releasing the interlock needs a `comment` saying why it is safe to resume",
        ));
    };
    state.engine.set_interlock(false, &caller.name).await?;
    audit::record(
        &state,
        &caller,
        "interlock.release",
        json!({"comment": comment}),
    )
    .await?;
    Ok(Json(json!({"engaged": false})))
}

/// The body's `comment`: absent, or a non-blank string of bounded length.
fn comment(body: Body) -> ApiResult<Option<String>> {
    let body = object(body)?;
    match body.get("comment") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) if text.chars().count() > MAX_COMMENT => Err(
            ApiError::bad_request(format!("`comment` is longer than {MAX_COMMENT} characters")),
        ),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(ApiError::bad_request("`comment` must be a string")),
    }
}

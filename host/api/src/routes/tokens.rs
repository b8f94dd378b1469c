//! `/api/v1/tokens`: create, list and revoke API tokens (admin only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::body::{Body, object};
use crate::ApiState;
use crate::audit;
use crate::auth::{Caller, Role, create_token};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{BadRequest, NotFound, Refused};

/// `POST /tokens` with `{"name": ..., "role": "admin|operator|viewer"}`: the
/// secret is in the answer, once, and never again.
#[utoipa::path(
    post,
    operation_id = "create_token",
    path = "/tokens",
    tag = "tokens",
    request_body(content = Option<Value>, description = "{\"name\": ..., \"role\": \"admin|operator|viewer\"}", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; the secret is shown once", body = Value),
        BadRequest,
        Refused
    )
)]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Role::Admin)?;
    let body = object(body)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.chars().count() <= 128)
        .ok_or_else(|| {
            ApiError::bad_request("`name` must be a non-empty string of at most 128 characters")
        })?;
    let role = body
        .get("role")
        .and_then(Value::as_str)
        .and_then(Role::parse)
        .ok_or_else(|| ApiError::bad_request("`role` must be admin, operator or viewer"))?;
    let (record, secret) = create_token(state.engine.store(), name, role).await?;
    audit::record(
        &state,
        &caller,
        "token.create",
        json!({"id": record.id, "name": record.name, "role": record.role}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": record.id, "name": record.name, "role": record.role, "token": secret})),
    ))
}

/// `GET /tokens`: every unrevoked token, without secrets.
#[utoipa::path(
    get,
    operation_id = "list_tokens",
    path = "/tokens",
    tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every unrevoked token, without secrets", body = Value),
        Refused
    )
)]
pub async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Role::Admin)?;
    let tokens = state.engine.store().tokens().await?;
    Ok(Json(json!({"tokens": tokens})))
}

/// `DELETE /tokens/{id}`: revoke a token; its next call is 401.
#[utoipa::path(
    delete,
    operation_id = "revoke_token",
    path = "/tokens/{id}",
    tag = "tokens",
    params(("id" = String, Path, description = "Token id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        Refused,
        NotFound
    )
)]
pub async fn revoke(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin)?;
    if !state.engine.store().revoke_token(&id).await? {
        return Err(ApiError::not_found(format!("no token `{id}`")));
    }
    audit::record(&state, &caller, "token.revoke", json!({"id": id})).await?;
    Ok(StatusCode::NO_CONTENT)
}

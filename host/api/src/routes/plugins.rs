//! `/api/v1/plugins`: upload raw components, list, show, delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use baton_store::PluginRecord;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::body::{self, Body};
use crate::ApiState;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::openapi::{BadRequest, Conflict, Invalid, NotFound, Refused, TooLarge};

/// `POST /plugins` with `Content-Type: application/wasm`.
#[utoipa::path(
    post,
    operation_id = "upload_plugin",
    path = "/plugins",
    tag = "plugins",
    request_body(content = Vec<u8>, description = "The component", content_type = "application/wasm"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored", body = Value),
        (status = 200, description = "The same bytes were stored already", body = Value),
        BadRequest,
        Refused,
        Conflict,
        TooLarge,
        (status = 415, description = "Not application/wasm", body = ErrorBody),
        Invalid
    )
)]
pub async fn upload(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    caller.require(Role::Admin)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != "application/wasm" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "send the component with `Content-Type: application/wasm`, not `{content_type}`"
            ),
        ));
    }
    let bytes = body::bytes(body)?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let existed = state
        .engine
        .store()
        .plugin_by_digest(&digest)
        .await?
        .is_some();
    let record = state.engine.add_plugin(&bytes).await?;
    if existed {
        return Ok((StatusCode::OK, Json(view(&record))));
    }
    audit::record(
        &state,
        &caller,
        "plugin.upload",
        json!({"name": record.name, "version": record.version, "digest": record.digest}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(&record))))
}

fn view(p: &PluginRecord) -> Value {
    json!({
        "name": p.name,
        "version": p.version,
        "digest": p.digest,
        "description": p.description,
        "imports": p.imports,
        "config_schema": p.config_schema,
        "size": p.size,
        "created_at": p.created_at,
    })
}

/// `GET /plugins`.
#[utoipa::path(
    get,
    operation_id = "list_plugins",
    path = "/plugins",
    tag = "plugins",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every plugin version", body = Value),
        Refused
    )
)]
pub async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    let plugins = state.engine.store().plugins().await?;
    Ok(Json(
        json!({"plugins": plugins.iter().map(view).collect::<Vec<_>>()}),
    ))
}

/// `GET /plugins/{name}`: every version.
#[utoipa::path(
    get,
    operation_id = "show_plugin",
    path = "/plugins/{name}",
    tag = "plugins",
    params(("name" = String, Path, description = "Plugin name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every version of the plugin", body = Value),
        Refused,
        NotFound
    )
)]
pub async fn by_name(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    let versions: Vec<Value> = state
        .engine
        .store()
        .plugins()
        .await?
        .iter()
        .filter(|p| p.name == name)
        .map(view)
        .collect();
    if versions.is_empty() {
        return Err(ApiError::not_found(format!("no plugin named `{name}`")));
    }
    Ok(Json(json!({"name": name, "versions": versions})))
}

/// `GET /plugins/{name}/{version}`.
#[utoipa::path(
    get,
    operation_id = "show_plugin_version",
    path = "/plugins/{name}/{version}",
    tag = "plugins",
    params(("name" = String, Path, description = "Plugin name"), ("version" = String, Path, description = "Plugin version")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The plugin version", body = Value),
        Refused,
        NotFound
    )
)]
pub async fn one(
    State(state): State<ApiState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    let plugin = state
        .engine
        .store()
        .plugin(&name, &version)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no plugin {name}@{version}")))?;
    Ok(Json(view(&plugin)))
}

/// `DELETE /plugins/{name}/{version}`: refused while a workflow version uses it.
#[utoipa::path(
    delete,
    operation_id = "delete_plugin_version",
    path = "/plugins/{name}/{version}",
    tag = "plugins",
    params(("name" = String, Path, description = "Plugin name"), ("version" = String, Path, description = "Plugin version")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        Refused,
        NotFound,
        Conflict
    )
)]
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin)?;
    let store = state.engine.store();
    let plugin = store
        .plugin(&name, &version)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no plugin {name}@{version}")))?;
    let users = store.workflows_using(&plugin.digest).await?;
    if !users.is_empty() {
        return Err(ApiError {
            details: json!({"workflows": users}),
            ..ApiError::new(
                StatusCode::CONFLICT,
                "in_use",
                format!(
                    "{name}@{version} is used by {} workflow version(s)",
                    users.len()
                ),
            )
        });
    }
    store.delete_plugin(&name, &version).await?;
    audit::record(
        &state,
        &caller,
        "plugin.delete",
        json!({"name": name, "version": version}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

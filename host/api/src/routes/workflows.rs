//! `/api/v1/workflows`: apply (a new version), validate, list, show.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use baton_store::WorkflowRecord;
use serde_json::{Value, json};

use super::body::{Body, text};
use crate::ApiState;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{BadRequest, Invalid, NotFound, Refused, TooLarge};

/// The name in the body must be the one in the path.
fn same_name(path: &str, body: &str) -> ApiResult<()> {
    if path == body {
        return Ok(());
    }
    Err(ApiError {
        details: json!({"problems": [{"node": null, "field": "name", "message": format!("is `{body}`, but the URL names `{path}`")}]}),
        ..ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_workflow",
            "the workflow has 1 problem(s)",
        )
    })
}

fn view(w: &WorkflowRecord) -> Value {
    json!({
        "name": w.name,
        "version": w.version,
        "created_at": w.created_at,
        "plugins": w.plugins,
        "definition": w.definition,
        // The text it was applied from, for reading, diffing and editing
        // (for a version stored without it, the definition as YAML).
        "yaml": w.source.clone().unwrap_or_else(|| serde_yaml_ng::to_string(&w.definition).unwrap_or_default()),
    })
}

/// `PUT /workflows/{name}` (YAML or JSON): validate and store a new version.
#[utoipa::path(
    put,
    operation_id = "apply_workflow",
    path = "/workflows/{name}",
    tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    request_body(description = "The workflow definition, YAML or JSON", content((String = "application/yaml"), (String = "application/json"))),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored as a new version", body = Value),
        BadRequest,
        Refused,
        TooLarge,
        Invalid
    )
)]
pub async fn apply(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Role::Admin)?;
    let text = text(body)?;
    let checked = state.engine.check_workflow(&text).await?;
    same_name(&name, &checked.workflow.name)?;
    let record = state.engine.store_workflow(checked).await?;
    audit::record(
        &state,
        &caller,
        "workflow.apply",
        json!({"name": record.name, "version": record.version}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(&record))))
}

/// `POST /workflows/{name}/validate`: check without storing.
#[utoipa::path(
    post,
    operation_id = "validate_workflow",
    path = "/workflows/{name}/validate",
    tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    request_body(description = "The workflow definition, YAML or JSON", content((String = "application/yaml"), (String = "application/json"))),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Valid", body = Value),
        BadRequest,
        Refused,
        TooLarge,
        Invalid
    )
)]
pub async fn validate(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    let text = text(body)?;
    let workflow = state.engine.parse_workflow(&text).await?;
    // Drawn before validation, so that a workflow with problems still has
    // its graph, with the problems on it.
    let graph = graph(&workflow);
    match state.engine.check_parsed(workflow, text).await {
        Ok(checked) => {
            same_name(&name, &checked.workflow.name)?;
            Ok(Json(json!({
                "valid": true,
                "plugins": checked.plugins,
                "graph": graph,
            })))
        }
        Err(e) => {
            let mut e = ApiError::from(e);
            if e.code == "invalid_workflow" {
                e.details["graph"] = graph;
            }
            Err(e)
        }
    }
}

/// What the console draws: each node with its kind, plugin, `needs` and `when`.
fn graph(workflow: &baton_workflow::Workflow) -> Value {
    let nodes: Vec<Value> = workflow
        .nodes
        .iter()
        .map(|(id, n)| {
            json!({
                "id": id,
                "type": n.kind.to_string(),
                "plugin": n.plugin,
                "needs": n.needs,
                "when": n.when,
                "foreach": n.foreach.is_some(),
            })
        })
        .collect();
    json!({"nodes": nodes})
}

/// `GET /workflows`: the newest version of each.
#[utoipa::path(
    get,
    operation_id = "list_workflows",
    path = "/workflows",
    tag = "workflows",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The newest version of each workflow", body = Value),
        Refused
    )
)]
pub async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    let all = state.engine.store().latest_workflows().await?;
    let items: Vec<Value> = all
        .iter()
        .map(|w| json!({"name": w.name, "version": w.version, "created_at": w.created_at, "description": w.definition.get("description")}))
        .collect();
    Ok(Json(json!({"workflows": items})))
}

/// `GET /workflows/{name}`: the newest version and the list of versions.
#[utoipa::path(
    get,
    operation_id = "show_workflow",
    path = "/workflows/{name}",
    tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The newest version and the list of versions", body = Value),
        Refused,
        NotFound
    )
)]
pub async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    let store = state.engine.store();
    let latest = store
        .latest_workflow(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no workflow named `{name}`")))?;
    let versions: Vec<Value> = store
        .workflow_versions(&name)
        .await?
        .into_iter()
        .map(|(v, at)| json!({"version": v, "created_at": at}))
        .collect();
    let mut out = view(&latest);
    out["versions"] = Value::Array(versions);
    Ok(Json(out))
}

/// `GET /workflows/{name}/versions/{version}`.
#[utoipa::path(
    get,
    operation_id = "show_workflow_version",
    path = "/workflows/{name}/versions/{version}",
    tag = "workflows",
    params(("name" = String, Path, description = "Workflow name"), ("version" = i64, Path, description = "Version number")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "That version", body = Value),
        BadRequest,
        Refused,
        NotFound
    )
)]
pub async fn version(
    State(state): State<ApiState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    let version: i64 = version
        .parse()
        .map_err(|_| ApiError::not_found(format!("`{version}` is not a version number")))?;
    let record = state
        .engine
        .store()
        .workflow(&name, version)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("workflow `{name}` has no version {version}"))
        })?;
    Ok(Json(view(&record)))
}

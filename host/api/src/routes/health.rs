//! Health checks, the audit trail, and the JSON 404.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiQuery, ApiResult};
use crate::openapi::{BadRequest, Refused, Unavailable};

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    operation_id = "healthz",
    path = "/healthz",
    tag = "health",
    responses(
        (status = 200, description = "Up", body = Value)
    )
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the store answers a one-row lookup within
/// `server.ready_timeout`, and this node's heartbeat holds its lease (a node
/// that cannot heartbeat takes over no run and is not ready). A store failure
/// is logged; the client is told only that the store is not ready.
#[utoipa::path(
    get,
    operation_id = "readyz",
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = Value),
        Unavailable
    )
)]
pub async fn readyz(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    // A primary-key lookup of a flag that is never set: a round trip to the
    // database that reads no row (not a count or a scan).
    let ping = state.engine.store().flag("readyz-probe");
    let failure = match tokio::time::timeout(state.limits.ready_timeout, ping).await {
        Ok(Ok(_)) => {
            let node = state.engine.node_status();
            if node.healthy {
                return Ok(Json(json!({"status": "ready", "node": node.id})));
            }
            let why = node.problem.unwrap_or_else(|| "its lease ran out".into());
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("not ready: node `{}` cannot hold its lease: {why}", node.id),
            ));
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!(
            "no answer within {:?} (server.ready_timeout)",
            state.limits.ready_timeout
        ),
    };
    tracing::warn!(error = %failure, "not ready: the store does not answer");
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "not ready: the store does not answer; the server log has the details",
    ))
}

/// Paging for `GET /audit`.
#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
    actor: Option<String>,
    action: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/audit`: mutating calls, newest first.
#[utoipa::path(
    get,
    operation_id = "audit",
    path = "/audit",
    tag = "audit",
    params(("before" = Option<i64>, Query, description = "The `next_before` of the previous page"), ("actor" = Option<String>, Query, description = "Only calls by this token name"), ("action" = Option<String>, Query, description = "Only actions that start with this, e.g. `workflow.` or `run.approve`"), ("limit" = Option<u32>, Query)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Mutating calls, newest first", body = Value),
        BadRequest,
        Refused
    )
)]
pub async fn audit(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    let events = state
        .engine
        .store()
        .audit_filtered(&baton_store::AuditFilter {
            before: q.before,
            actor: q.actor.filter(|a| !a.is_empty()),
            action: q.action.filter(|a| !a.is_empty()),
            limit: q.limit.unwrap_or(100).min(1000),
        })
        .await?;
    let next = events.last().map(|e| e.seq);
    Ok(Json(json!({"entries": events, "next_before": next})))
}

/// Anything else.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {}", uri.path()))
}

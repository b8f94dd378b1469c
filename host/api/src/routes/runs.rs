//! Runs: start (with an idempotency key and an optional wait), list, show,
//! events, cancel, approve and reject.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use baton_engine::StartOptions;
use baton_store::{RunFilter, RunRecord, RunStatus, StoredEvent};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{Body, object};
use crate::ApiState;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiQuery, ApiResult};
use crate::openapi::{
    BadRequest, Conflict, NotFound, Refused, TooLarge, TooManyStreams, Unavailable,
};
use crate::streams::StreamPermit;

/// Query of `POST /workflows/{name}/runs`.
#[derive(Deserialize)]
pub struct StartQuery {
    /// Seconds to wait for the run to finish before answering.
    wait: Option<f64>,
}

/// The longest `?wait=` honoured.
const MAX_WAIT: Duration = Duration::from_secs(300);

impl StartQuery {
    /// The wait asked for, at most [`MAX_WAIT`]; none for zero, a negative
    /// number or NaN.
    fn wait(&self) -> Option<Duration> {
        self.wait
            .filter(|w| *w > 0.0)
            .map(|w| Duration::from_secs_f64(w.min(MAX_WAIT.as_secs_f64())))
    }
}

/// The wait a run start at `uri` asks for, which its deadline allows on top
/// of the request timeout (a query that does not parse gets a 400 anyway).
pub(crate) fn requested_wait(uri: &Uri) -> Duration {
    Query::<StartQuery>::try_from_uri(uri)
        .ok()
        .and_then(|Query(q)| q.wait())
        .unwrap_or_default()
}

/// Events read from the store at a time while a stream catches up.
const PAGE: u32 = 1000;

/// `POST /workflows/{name}/runs` with `{"input": ...}`.
#[utoipa::path(
    post,
    operation_id = "start_run",
    path = "/workflows/{name}/runs",
    tag = "runs",
    params(("name" = String, Path, description = "Workflow name"), ("wait" = Option<f64>, Query, description = "Seconds to wait for the run to finish"), ("Idempotency-Key" = Option<String>, Header, description = "A key that never starts the same run twice")),
    request_body(content = Option<Value>, description = "{\"input\": {...}}", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The run finished within `wait`", body = Value),
        (status = 202, description = "Accepted", body = Value),
        BadRequest,
        Refused,
        NotFound,
        Conflict,
        TooLarge,
        Unavailable
    )
)]
pub async fn start(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<StartQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Role::Operator)?;
    let mut body = object(body)?;
    let input = body.remove("input").unwrap_or_else(|| json!({}));
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_string))
        .transpose()
        .map_err(|_| ApiError::bad_request("the Idempotency-Key header must be text"))?;
    let started = state
        .engine
        .start_run(
            &name,
            input,
            StartOptions {
                idempotency_key: key,
                trigger: "api".into(),
                actor: Some(caller.name.clone()),
                // Committed with the run: one commit per accepted run.
                audit: Some(audit::entry(
                    &caller,
                    "run.start",
                    json!({"workflow": name}),
                )),
                awaited: q.wait().is_some(),
                ..StartOptions::default()
            },
        )
        .await?;
    if let Some(wait) = q.wait()
        && let Some(run) = state.engine.wait_finished(&started.run_id, wait).await?
    {
        return Ok((StatusCode::OK, Json(run_view(&run))));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"run_id": started.run_id, "created": started.created})),
    ))
}

fn run_view(run: &RunRecord) -> Value {
    json!({
        "id": run.id,
        "workflow": run.workflow,
        "version": run.version,
        "status": run.status,
        "input": run.input,
        "output": run.output,
        "error": run.error,
        "trigger": run.trigger,
        "idempotency_key": run.idempotency_key,
        "key": run.key,
        "parent": run.parent.as_ref().map(|(run_id, node)| json!({"run_id": run_id, "node": node})),
        "created_at": run.created_at,
        "finished_at": run.finished_at,
    })
}

/// Query of `GET /runs`.
#[derive(Deserialize)]
pub struct ListQuery {
    workflow: Option<String>,
    status: Option<String>,
    /// Only runs with this batch or serial key.
    key: Option<String>,
    /// The `next` cursor of the previous page.
    cursor: Option<String>,
    /// Only runs created at or after this time (Unix milliseconds).
    since: Option<i64>,
    /// Only runs created before this time (Unix milliseconds).
    until: Option<i64>,
    limit: Option<u32>,
}

/// `GET /runs`: newest first, with a cursor.
#[utoipa::path(
    get,
    operation_id = "list_runs",
    path = "/runs",
    tag = "runs",
    params(("workflow" = Option<String>, Query), ("status" = Option<String>, Query, description = "running, held, succeeded, failed or cancelled"), ("key" = Option<String>, Query, description = "Only runs with this batch or serial key (the workflow's `key`)"), ("cursor" = Option<String>, Query, description = "The `next` of the previous page"), ("since" = Option<i64>, Query, description = "Only runs created at or after this time, in Unix milliseconds"), ("until" = Option<i64>, Query, description = "Only runs created before this time, in Unix milliseconds"), ("limit" = Option<u32>, Query)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Runs, newest first, and the next cursor", body = Value),
        BadRequest,
        Refused
    )
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            RunStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown status `{s}`: use running, held, succeeded, failed or cancelled"
                ))
            })
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let runs = state
        .engine
        .store()
        .list_runs(&RunFilter {
            workflow: q.workflow,
            status,
            key: q.key,
            before: q.cursor,
            created_after: q.since,
            created_before: q.until,
            limit,
        })
        .await?;
    let next = (runs.len() == limit as usize)
        .then(|| runs.last().map(|r| r.id.clone()))
        .flatten();
    Ok(Json(
        json!({"runs": runs.iter().map(run_view).collect::<Vec<_>>(), "next": next}),
    ))
}

/// Query of `GET /runs/{id}`.
#[derive(Deserialize)]
pub struct ShowQuery {
    /// With `false`, only the run itself, without its nodes: one row read
    /// instead of a replay of every event.
    nodes: Option<bool>,
}

/// `GET /runs/{id}`: the run and every node's state, attempts, output and error.
#[utoipa::path(
    get,
    operation_id = "show_run",
    path = "/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "Run id"), ("nodes" = Option<bool>, Query, description = "`false` for the run alone, without its nodes (cheap for a run with many events)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The run with every node's state and attempts", body = Value),
        Refused,
        NotFound
    )
)]
pub async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ShowQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Viewer)?;
    if q.nodes == Some(false) {
        let run = state
            .engine
            .store()
            .run(&id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no run `{id}`")))?;
        return Ok(Json(run_view(&run)));
    }
    let (run, run_state, wf, executions) = state.engine.inspect_executions(&id).await?;
    let nodes: Vec<Value> = wf
        .nodes
        .iter()
        .zip(&run_state.nodes)
        .map(|(node, s)| {
            let attempts: Vec<&baton_store::Execution> =
                executions.iter().filter(|x| x.node_id == node.id).collect();
            json!({
                "id": node.id,
                "type": node.def.kind.to_string(),
                "plugin": node.def.plugin,
                "needs": node.def.needs,
                "when": node.def.when,
                "foreach": node.def.foreach.is_some(),
                "status": s.status.as_str(),
                "input": s.input,
                "output": s.output,
                "error": s.error,
                "incident": s.incident,
                "attempts": attempts,
            })
        })
        .collect();
    let mut out = run_view(&run);
    out["nodes"] = Value::Array(nodes);
    // Only a workflow with a `type: workflow` node starts children.
    let starts_children = wf
        .nodes
        .iter()
        .any(|n| n.def.kind == baton_workflow::NodeKind::Workflow);
    let children = if starts_children {
        state.engine.store().child_runs(&id).await?
    } else {
        Vec::new()
    };
    out["children"] = Value::Array(
        children
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "workflow": c.workflow,
                    "version": c.version,
                    "status": c.status,
                    "node": c.parent.as_ref().map(|p| p.1.clone()),
                })
            })
            .collect(),
    );
    out["deadline_at"] = json!(
        wf.def
            .deadline
            .map(|d| run_state.started_at + d.as_millis() as i64)
    );
    Ok(Json(out))
}

/// Query of `GET /runs/{id}/events`.
#[derive(Deserialize)]
pub struct EventsQuery {
    /// Only events after this sequence number.
    after: Option<i64>,
}

/// `GET /runs/{id}/events`: the run's events in order, as JSON; or, when
/// the client accepts `text/event-stream`, as Server-Sent Events that follow
/// the run live until it ends (resuming after `Last-Event-ID`). A token may
/// hold `server.max_streams_per_token` streams at once; the next is a 429.
#[utoipa::path(
    get,
    operation_id = "run_events",
    path = "/runs/{id}/events",
    tag = "runs",
    params(("id" = String, Path, description = "Run id"), ("after" = Option<i64>, Query, description = "Only events after this sequence number"), ("Last-Event-ID" = Option<i64>, Header)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The events, as JSON or as a live text/event-stream", content((Value = "application/json"), (String = "text/event-stream"))),
        BadRequest,
        Refused,
        NotFound,
        TooManyStreams
    )
)]
pub async fn events(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let store = state.engine.store().clone();
    if store.run(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no run `{id}`")));
    }
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    let last_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let after = last_id.or(q.after).unwrap_or(0);
    if !wants_stream {
        let events = store.events(&id, after, 10_000).await?;
        return Ok(Json(json!({"events": events})).into_response());
    }
    let max = state.limits.max_streams_per_token;
    let Some(permit) = state.streams.open(&caller.token, max) else {
        return Err(ApiError {
            details: json!({"limit": max}),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                format!(
                    "the token `{}` has {max} event streams open, the most one token may \
                     (server.max_streams_per_token); close one first",
                    caller.name
                ),
            )
        });
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<StoredEvent>(256);
    let closed = state.streams.closed();
    let engine = state.engine.clone();
    tokio::spawn(async move {
        // Whichever comes first: the run's end (or a store failure), the
        // client leaving (the body, and so `rx`, is dropped), the shutdown.
        tokio::select! {
            () = follow(&engine, &id, after, &tx) => {}
            () = tx.closed() => {}
            () = closed => {}
        }
        drop::<StreamPermit>(permit);
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let event = rx.recv().await?;
        let sse = SseEvent::default()
            .id(event.seq.to_string())
            .event(event.kind.clone())
            .json_data(&event)
            .unwrap_or_else(|_| SseEvent::default().comment("unserialisable event"));
        Some((Ok::<_, std::convert::Infallible>(sse), rx))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// How often a stream re-reads the store when no live event came, on
/// PostgreSQL, for a run owned by another node (ten times less often for a
/// run owned here, which may move).
const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// Send a run's stored events after `after`, then its live ones, in order
/// and without gaps or repeats, until the run ends.
async fn follow(
    engine: &baton_engine::Engine,
    id: &str,
    mut after: i64,
    tx: &tokio::sync::mpsc::Sender<StoredEvent>,
) {
    let store = engine.store();
    let is_end = |e: &StoredEvent| {
        matches!(
            e.kind.as_str(),
            "run_succeeded" | "run_failed" | "run_cancelled"
        )
    };
    let mut live = store.subscribe();
    loop {
        // Read before the events, so that if it says finished, they include the end.
        let finished = match store.run(id).await {
            Ok(Some(run)) => run.status.is_terminal(),
            _ => return,
        };
        // Catch up from the store, a page at a time (at first, and whenever
        // the live feed lagged).
        loop {
            let Ok(page) = store.events(id, after, PAGE).await else {
                return;
            };
            let more = page.len() == PAGE as usize;
            for event in page {
                after = event.seq;
                let end = is_end(&event);
                if tx.send(event).await.is_err() || end {
                    return;
                }
            }
            if !more {
                break;
            }
        }
        // Resumed after its end: there is nothing more to send.
        if finished {
            return;
        }
        // On PostgreSQL another node may own the run, and its events reach
        // this process only through the store: read it again when nothing
        // came for a while.
        let poll = match store.backend() {
            baton_store::Backend::Sqlite => Duration::MAX,
            // Its events come through this process while it runs here; the
            // store is still read now and then, as it may move.
            baton_store::Backend::Postgres if engine.runs_here(id) => FOLLOW_POLL * 10,
            baton_store::Backend::Postgres => FOLLOW_POLL,
        };
        loop {
            let next = match tokio::time::timeout(poll, live.recv()).await {
                Ok(next) => next,
                Err(_) => break,
            };
            match next {
                Ok(event) if event.run_id.as_deref() == Some(id) && event.seq > after => {
                    after = event.seq;
                    let end = is_end(&event);
                    if tx.send((*event).clone()).await.is_err() || end {
                        return;
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                Err(_) => return,
            }
        }
    }
}

/// `POST /runs/{id}/cancel` with an optional `{"reason": ...}`.
#[utoipa::path(
    post,
    operation_id = "cancel_run",
    path = "/runs/{id}/cancel",
    tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    request_body(content = Option<Value>, description = "{\"reason\": ...}", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelling", body = Value),
        BadRequest,
        Refused,
        NotFound,
        Conflict
    )
)]
pub async fn cancel(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Operator)?;
    let body = object(body)?;
    let reason = body
        .get("reason")
        .and_then(Value::as_str)
        .map_or_else(|| format!("cancelled by {}", caller.name), str::to_string);
    state.engine.cancel(&id, &caller.name, &reason).await?;
    audit::record(
        &state,
        &caller,
        "run.cancel",
        json!({"run": id, "reason": reason}),
    )
    .await?;
    Ok(Json(json!({"run_id": id, "cancelling": true})))
}

async fn decide(
    state: ApiState,
    caller: Caller,
    id: String,
    node: String,
    approved: bool,
    body: Body,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Operator)?;
    let body = object(body)?;
    let comment = body
        .get("comment")
        .and_then(Value::as_str)
        .map(str::to_string);
    state
        .engine
        .decide_approval(&id, &node, approved, &caller.name, comment.clone())
        .await?;
    let action = if approved {
        "run.approve"
    } else {
        "run.reject"
    };
    audit::record(
        &state,
        &caller,
        action,
        json!({"run": id, "node": node, "comment": comment}),
    )
    .await?;
    Ok(Json(
        json!({"run_id": id, "node": node, "approved": approved}),
    ))
}

/// `POST /runs/{id}/nodes/{node}/approve` with an optional `{"comment": ...}`.
#[utoipa::path(
    post,
    operation_id = "approve_node",
    path = "/runs/{id}/nodes/{node}/approve",
    tag = "runs",
    params(("id" = String, Path, description = "Run id"), ("node" = String, Path, description = "Approval node id")),
    request_body(content = Option<Value>, description = "{\"comment\": ...}", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Approved", body = Value),
        BadRequest,
        Refused,
        NotFound,
        Conflict
    )
)]
pub async fn approve(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, node)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    decide(state, caller, id, node, true, body).await
}

/// `POST /runs/{id}/nodes/{node}/reject` with an optional `{"comment": ...}`.
#[utoipa::path(
    post,
    operation_id = "reject_node",
    path = "/runs/{id}/nodes/{node}/reject",
    tag = "runs",
    params(("id" = String, Path, description = "Run id"), ("node" = String, Path, description = "Approval node id")),
    request_body(content = Option<Value>, description = "{\"comment\": ...}", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rejected", body = Value),
        BadRequest,
        Refused,
        NotFound,
        Conflict
    )
)]
pub async fn reject(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, node)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    decide(state, caller, id, node, false, body).await
}

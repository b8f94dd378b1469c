//! `GET /metrics`: Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use baton_engine::metrics::Histogram;

use crate::ApiState;
use crate::auth::{Caller, Role};
use crate::error::{ApiResult, internal};
use crate::openapi::Refused;

/// Runs by status, run and slot gauges, attempt latency, compile times,
/// store batching and rows deleted by retention.
#[utoipa::path(
    get,
    operation_id = "metrics",
    path = "/metrics",
    tag = "health",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        Refused
    )
)]
pub async fn metrics(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<impl IntoResponse> {
    caller.require(Role::Viewer)?;
    let engine = &state.engine;
    let m = engine.metrics();
    let mut out = String::new();
    let w = &mut out;
    let counts = engine.store().count_runs().await?;
    line(
        w,
        "# HELP baton_runs Runs in the store by status.\n# TYPE baton_runs gauge",
    );
    for status in ["running", "held", "succeeded", "failed", "cancelled"] {
        let n = counts
            .iter()
            .find(|(s, _)| s.as_str() == status)
            .map_or(0, |(_, n)| *n);
        line(w, &format!("baton_runs{{status=\"{status}\"}} {n}"));
    }
    gauge(
        w,
        "baton_active_runs",
        "Runs with a live actor (executing or waiting).",
        engine.active_runs() as i64,
    );
    gauge(
        w,
        "baton_event_streams",
        "Live event streams (Server-Sent Events) open now.",
        state.streams.total() as i64,
    );
    gauge(
        w,
        "baton_attempts_running",
        "Task attempts executing now.",
        m.running.load(Ordering::Relaxed),
    );
    gauge(
        w,
        "baton_queue_depth",
        "Task attempts waiting for a free slot.",
        m.waiting_for_slot.load(Ordering::Relaxed),
    );
    gauge(
        w,
        "baton_free_task_slots",
        "Task slots free now.",
        engine.free_slots() as i64,
    );
    gauge(
        w,
        "baton_interlock_engaged",
        "1 while the safety interlock is engaged.",
        i64::from(engine.interlock()),
    );
    let node = engine.node_status();
    let id = label(&node.id);
    line(
        w,
        &format!(
            "# HELP baton_node_info This process as a node of its database; the value is 1.\n\
             # TYPE baton_node_info gauge\n\
             baton_node_info{{node=\"{id}\",version=\"{}\",clustered=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            node.clustered
        ),
    );
    line(
        w,
        &format!(
            "# HELP baton_node_healthy 1 while this node's heartbeat holds its lease.\n\
             # TYPE baton_node_healthy gauge\n\
             baton_node_healthy{{node=\"{id}\"}} {}",
            i64::from(node.healthy)
        ),
    );
    line(
        w,
        "# HELP baton_attempt_duration_seconds Wall time of task attempts.\n# TYPE baton_attempt_duration_seconds histogram",
    );
    for (outcome, h) in [("succeeded", &m.succeeded), ("failed", &m.failed)] {
        histogram(
            w,
            "baton_attempt_duration_seconds",
            &format!("outcome=\"{outcome}\""),
            h,
        );
    }
    line(
        w,
        "# HELP baton_plugin_compile_seconds Compile time of each loaded plugin (0 from the artifact cache).\n# TYPE baton_plugin_compile_seconds gauge",
    );
    for (plugin, secs) in m.compile_seconds.lock().map_err(internal)?.iter() {
        line(
            w,
            &format!(
                "baton_plugin_compile_seconds{{plugin=\"{}\"}} {secs}",
                label(plugin)
            ),
        );
    }
    line(
        w,
        "# HELP baton_connector_errors_total Failed PLC and MQTT calls made by tasks, by connection and kind.\n# TYPE baton_connector_errors_total counter",
    );
    for (e, n) in engine.runtime().connector_errors().snapshot() {
        line(
            w,
            &format!(
                "baton_connector_errors_total{{connector=\"{}\",name=\"{}\",kind=\"{}\"}} {n}",
                e.connector,
                label(&e.name),
                e.kind
            ),
        );
    }
    let stats = engine.store().writer_stats();
    line(
        w,
        "# HELP baton_store_transitions_total Run-state changes committed.\n# TYPE baton_store_transitions_total counter",
    );
    line(
        w,
        &format!(
            "baton_store_transitions_total {}",
            stats.transitions.load(Ordering::Relaxed)
        ),
    );
    line(
        w,
        "# HELP baton_store_commits_total Database transactions that committed them (group commit).\n# TYPE baton_store_commits_total counter",
    );
    line(w, &format!("baton_store_commits_total {}", stats.commits()));
    line(
        w,
        "# HELP baton_store_commit_seconds Time of each group commit, from its start to its sync to disk.\n# TYPE baton_store_commit_seconds histogram",
    );
    histogram(w, "baton_store_commit_seconds", "", &stats.commit_times);
    line(
        w,
        "# HELP baton_store_accepted_total Runs accepted through the intake log (SQLite file), answered before the writer created them.\n# TYPE baton_store_accepted_total counter",
    );
    line(
        w,
        &format!(
            "baton_store_accepted_total {}",
            stats.accepted.load(Ordering::Relaxed)
        ),
    );
    line(
        w,
        "# HELP baton_store_intake_commit_seconds Time of each commit of the intake log, from its start to its sync to disk.\n# TYPE baton_store_intake_commit_seconds histogram",
    );
    histogram(
        w,
        "baton_store_intake_commit_seconds",
        "",
        &stats.intake_times,
    );
    let deleted = m.retention.deleted();
    line(
        w,
        "# HELP baton_retention_deleted_total Rows deleted by retention on this node, by table (audit: audit events).\n# TYPE baton_retention_deleted_total counter",
    );
    for (table, n) in [
        ("runs", deleted.runs),
        ("node_executions", deleted.node_executions),
        ("events", deleted.events),
        ("audit", deleted.audit),
    ] {
        line(
            w,
            &format!("baton_retention_deleted_total{{table=\"{table}\"}} {n}"),
        );
    }
    line(
        w,
        &format!(
            "# HELP baton_retention_sweeps_total Retention sweeps finished on this node.\n\
             # TYPE baton_retention_sweeps_total counter\n\
             baton_retention_sweeps_total {}",
            m.retention.sweeps()
        ),
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}

fn line(w: &mut String, text: &str) {
    let _ = writeln!(w, "{text}");
}

fn gauge(w: &mut String, name: &str, help: &str, value: i64) {
    line(
        w,
        &format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"),
    );
}

/// A histogram's lines: `name` with `labels` (none, or `key="value"`
/// pairs), each bucket's cumulative count by upper bound, the sum and the
/// count.
fn histogram(w: &mut String, name: &str, labels: &str, h: &Histogram) {
    let (buckets, sum) = h.snapshot();
    let sep = if labels.is_empty() { "" } else { "," };
    let mut total = 0;
    for (bound, count) in buckets {
        let le = bound.map_or("+Inf".to_string(), |b| b.to_string());
        line(
            w,
            &format!("{name}_bucket{{{labels}{sep}le=\"{le}\"}} {count}"),
        );
        total = count;
    }
    let labels = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    line(w, &format!("{name}_sum{labels} {sum}"));
    line(w, &format!("{name}_count{labels} {total}"));
}

/// A label value, escaped as the text format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

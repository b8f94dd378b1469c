//! `baton status`: the server's overview: the interlock, task slots and
//! queue, runs by status, retention, and how each PLC device and MQTT
//! connection is doing.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::client::{Client, Remote};
use crate::table;

/// Run `baton status`.
pub async fn run(remote: &Remote) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    let status = client.get("/api/v1/status").await?;
    if remote.json {
        println!("{status}");
    } else {
        print!("{}", render(&status));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(s: &Value) -> String {
    let interlock = if s["interlock"]["engaged"] == json!(true) {
        "ENGAGED: actuation is denied and no run starts"
    } else {
        "released"
    };
    let runs = &s["runs"];
    let mut out = format!(
        "interlock   {interlock}\n\
         task slots  {} free, {} attempts running, {} waiting for a slot\n\
         runs        {} active; {} running, {} succeeded, {} failed, {} cancelled\n",
        s["free_task_slots"],
        s["attempts_running"],
        s["queue_depth"],
        s["active_runs"],
        runs["running"],
        runs["succeeded"],
        runs["failed"],
        runs["cancelled"],
    );
    out.push_str(&retention(&s["retention"]));
    let mut rows = Vec::new();
    for kind in ["plc", "mqtt"] {
        rows.extend(table::rows(&s["connectors"][kind], |c| {
            vec![
                kind.to_string(),
                table::cell(&c["name"]),
                table::cell(&c["state"]),
                table::time(&c["last_error_at"]),
                table::truncate(table::cell(&c["last_error"]), 80),
            ]
        }));
    }
    if !rows.is_empty() {
        out.push('\n');
        out.push_str(&table::render(
            &["KIND", "NAME", "STATE", "LAST ERROR AT", "LAST ERROR"],
            &rows,
        ));
    }
    out
}

/// The `retention` line: what is kept how long, and what this node deleted.
fn retention(r: &Value) -> String {
    const HOUR: u64 = 3_600_000;
    let kept = |key: &str| match r[key].as_u64() {
        // As `baton.toml` would say it: `90d` rather than `2months 29days ...`.
        Some(ms) if ms % (24 * HOUR) == 0 => format!("kept {}d", ms / (24 * HOUR)),
        Some(ms) if ms % HOUR == 0 => format!("kept {}h", ms / HOUR),
        Some(ms) => format!(
            "kept {}",
            humantime_serde::re::humantime::format_duration(std::time::Duration::from_millis(ms))
        ),
        None => "kept forever".to_string(),
    };
    if r.is_null() {
        return String::new();
    }
    let d = &r["deleted"];
    format!(
        "retention   finished runs {}, audit events {}; deleted {} runs ({} node executions, \
         {} events) and {} audit events\n",
        kept("runs_ms"),
        kept("audit_ms"),
        d["runs"],
        d["node_executions"],
        d["events"],
        d["audit"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_numbers_and_each_connection() {
        let out = render(&json!({
            "interlock": {"engaged": true},
            "queue_depth": 2, "free_task_slots": 0, "attempts_running": 8, "active_runs": 3,
            "runs": {"running": 3, "succeeded": 10, "failed": 1, "cancelled": 0},
            "connectors": {
                "plc": [{"name": "oven-1", "state": "offline", "last_error": "cannot connect to 10.0.0.5:502", "last_error_at": 0}],
                "mqtt": [{"name": "plant", "state": "connected", "last_error": null, "last_error_at": null}]
            }
        }));
        assert!(out.contains("interlock   ENGAGED"), "{out}");
        assert!(
            out.contains("0 free, 8 attempts running, 2 waiting for a slot"),
            "{out}"
        );
        assert!(out.contains("3 active; 3 running, 10 succeeded, 1 failed, 0 cancelled"));
        assert!(
            out.contains(
                "plc   oven-1  offline    1970-01-01 00:00:00  cannot connect to 10.0.0.5:502"
            ),
            "{out}"
        );
        assert!(out.contains("mqtt  plant   connected  -"), "{out}");
        assert!(!out.contains("retention"), "an older server: {out}");
    }

    #[test]
    fn shows_what_retention_keeps_and_deleted() {
        let status = |retention: Value| {
            render(&json!({
                "interlock": {"engaged": false}, "runs": {}, "connectors": {},
                "retention": retention,
            }))
        };
        let out = status(json!({
            "enabled": true, "runs_ms": 90u64 * 24 * 3600 * 1000, "audit_ms": null,
            "deleted": {"runs": 12, "node_executions": 40, "events": 300, "audit": 0}
        }));
        assert!(
            out.contains(
                "retention   finished runs kept 90d, audit events kept forever; \
                 deleted 12 runs (40 node executions, 300 events) and 0 audit events"
            ),
            "{out}"
        );
        let out = status(json!({
            "enabled": false, "runs_ms": null, "audit_ms": null,
            "deleted": {"runs": 0, "node_executions": 0, "events": 0, "audit": 0}
        }));
        assert!(
            out.contains("finished runs kept forever, audit events kept forever"),
            "{out}"
        );
    }
}

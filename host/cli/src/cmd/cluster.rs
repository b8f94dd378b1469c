//! `baton cluster`: the nodes sharing the server's database, how recently
//! each was heard from, and the runs each owns.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::client::{Client, Remote};
use crate::table;

/// Run `baton cluster`.
pub async fn run(remote: &Remote) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    let cluster = client.get("/api/v1/cluster").await?;
    if remote.json {
        println!("{cluster}");
    } else {
        print!("{}", render(&cluster));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(c: &Value) -> String {
    let node = &c["node"];
    let mode = if node["clustered"] == json!(true) {
        "cluster (PostgreSQL)"
    } else {
        "single node (SQLite)"
    };
    let health = if node["healthy"] == json!(true) {
        "healthy".to_string()
    } else {
        format!("NOT HEALTHY: {}", table::cell(&node["problem"]))
    };
    let mut out = format!(
        "this node  {} ({mode}), {health}\n\
         lease      {} ms, heartbeat every {} ms; {} unfinished runs have no owner\n\n",
        table::cell(&node["id"]),
        c["lease_ms"],
        c["heartbeat_ms"],
        c["unowned_runs"],
    );
    let rows = table::rows(&c["nodes"], |n| {
        let state = if n["alive"] == json!(true) {
            "alive"
        } else if n["stopped_at"].is_null() {
            "SILENT"
        } else {
            "stopped"
        };
        vec![
            table::cell(&n["id"]),
            state.to_string(),
            format!("{} ms", n["heartbeat_age_ms"]),
            table::cell(&n["runs"]),
            table::cell(&n["free_slots"]),
            table::cell(&n["address"]),
            table::cell(&n["version"]),
        ]
    });
    out.push_str(&table::render(
        &[
            "NODE",
            "STATE",
            "HEARD FROM",
            "RUNS",
            "FREE SLOTS",
            "ADDRESS",
            "VERSION",
        ],
        &rows,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_each_node_and_which_is_silent() {
        let out = render(&json!({
            "node": {"id": "line-a", "clustered": true, "healthy": true, "problem": null},
            "lease_ms": 10000, "heartbeat_ms": 2000, "unowned_runs": 0,
            "nodes": [
                {"id": "line-a", "alive": true, "stopped_at": null, "heartbeat_age_ms": 800,
                 "runs": 12, "free_slots": 60, "address": "http://10.0.0.1:8080", "version": "0.1.0"},
                {"id": "line-b", "alive": false, "stopped_at": null, "heartbeat_age_ms": 14000,
                 "runs": 3, "free_slots": 64, "address": "http://10.0.0.2:8080", "version": "0.1.0"}
            ]
        }));
        assert!(
            out.contains("line-a (cluster (PostgreSQL)), healthy"),
            "{out}"
        );
        assert!(out.contains("SILENT"), "{out}");
        assert!(out.contains("14000 ms"), "{out}");
    }
}

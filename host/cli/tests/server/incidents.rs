//! Plant features on a real server: a held run repaired from the CLI and
//! the API, batch keys, and a run deadline. What reached the PLC is read
//! from the simulated PLC's own write log.

use serde_json::{Value, json};

use crate::client::{Plant, Server, baton, unique};

fn held(name: &str) -> String {
    format!(
        r#"
name: {name}
on_failure: hold
key: "input.batch"
unique_key: true
nodes:
  heat:
    plugin: modbus-write@1
    config: {{ device: oven-1, kind: coil, address: 3, values: [true] }}
    grants: {{ plc: [{{ device: oven-1, write: ["coil:3"] }}] }}
  setpoint:
    needs: [heat]
    plugin: modbus-write@1
    config: {{ device: oven-1, kind: holding, address: 21, values: [180] }}
    grants: {{ plc: [{{ device: oven-1, write: ["holding:20"] }}] }}
  record:
    needs: [setpoint]
    plugin: scripted@1
    input: "nodes.setpoint.output"
"#
    )
}

fn writes(plant: &Plant, area: &str, address: u16) -> usize {
    plant
        .plc
        .writes()
        .iter()
        .filter(|w| w.area == area && w.address == address)
        .count()
}

fn wait_held(server: &Server, run: &str) -> Value {
    server.wait(&format!("run {run} to be held"), || {
        let r = server.get(&format!("/api/v1/runs/{run}"));
        (r["status"] == "held").then_some(r)
    })
}

#[test]
fn a_held_run_is_listed_repaired_and_its_batch_found_again() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));
    server.push_scripted();
    let name = unique("held");
    server.apply(&name, &held(&name));

    let run = server.start_run(&name, json!({"batch": "B-42"}));
    let shown = wait_held(&server, &run);
    assert_eq!(shown["key"], "B-42");
    let setpoint = shown["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "setpoint")
        .unwrap();
    assert_eq!(setpoint["incident"], true, "{setpoint}");
    assert!(shown["error"].to_string().contains("setpoint"), "{shown}");

    // unique_key: a second active run of batch B-42 is refused.
    let (status, body) = server.post(
        &format!("/api/v1/workflows/{name}/runs"),
        &json!({"input": {"batch": "B-42"}}),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"].to_string().contains(&run),
        "{body}"
    );

    // Listed where an operator looks.
    let incidents = server.get("/api/v1/incidents");
    assert!(
        incidents["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["run_id"] == run.as_str() && i["node"] == "setpoint"),
        "{incidents}"
    );
    let (code, out) = baton(&server, &["run", "incidents"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&run) && out.contains("setpoint"), "{out}");
    let (code, out) = baton(&server, &["run", "list", "--status", "held"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&run), "{out}");

    // A config the plugin refuses is a 422 naming the field; nothing changes.
    let (status, body) = server.post(
        &format!("/api/v1/runs/{run}/nodes/setpoint/retry"),
        &json!({"config": {"device": "oven-1", "kind": "banana", "address": 20}}),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("config"), "{body}");
    // Completing by hand needs a comment.
    let (status, body) = server.post(
        &format!("/api/v1/runs/{run}/nodes/setpoint/complete"),
        &json!({"output": {}}),
    );
    assert_eq!(status, 400, "{body}");

    // Mistakes get their own answers, and change nothing.
    let answers = [
        (
            "/api/v1/runs/no-such-run/nodes/setpoint/skip".to_string(),
            json!({}),
            404,
        ),
        (
            format!("/api/v1/runs/{run}/nodes/no_such_node/skip"),
            json!({}),
            404,
        ),
        (
            format!("/api/v1/runs/{run}/nodes/heat/skip"),
            json!({}),
            409,
        ),
        (
            format!("/api/v1/runs/{run}/nodes/setpoint/retry"),
            json!({"config": [1]}),
            400,
        ),
        (
            format!("/api/v1/runs/{run}/nodes/setpoint/skip"),
            json!({"output": 1}),
            400,
        ),
    ];
    for (path, body, want) in answers {
        let (status, answer) = server.post(&path, &body);
        assert_eq!(status, want, "{path}: {answer}");
    }
    assert_eq!(server.get(&format!("/api/v1/runs/{run}"))["status"], "held");

    // Retried from the CLI with the corrected address.
    let (code, out) = baton(
        &server,
        &[
            "run",
            "retry",
            &run,
            "setpoint",
            "--config",
            r#"{"device": "oven-1", "kind": "holding", "address": 20, "values": [180]}"#,
            "--comment",
            "address typo",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let done = server.wait_finished(&run);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(writes(&plant, "coil", 3), 1, "heat did not run again");
    assert_eq!(writes(&plant, "holding", 20), 1);
    assert_eq!(plant.plc.oven().memory().holding[20], 180);

    // The audit names who did it.
    let audit = server.get("/api/v1/audit?action=run.retry");
    let entry = &audit["entries"][0];
    assert_eq!(entry["data"]["details"]["run"], run.as_str(), "{audit}");
    assert!(entry["actor"].is_string(), "{audit}");

    // The batch's runs are found by key, from the API and the CLI; the key
    // is free again now that the run has ended.
    let second = server.start_run(&name, json!({"batch": "B-42"}));
    let found = server.get("/api/v1/runs?key=B-42");
    let ids: Vec<&str> = found["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, [second.as_str(), run.as_str()], "{found}");
    let (code, out) = baton(&server, &["run", "list", "--key", "B-42"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&run) && out.contains(&second), "{out}");

    // The second is completed by hand from the CLI; its output flows on.
    wait_held(&server, &second);
    let (code, out) = baton(
        &server,
        &[
            "run",
            "complete",
            &second,
            "setpoint",
            "--output",
            r#"{"set": "on the panel"}"#,
            "--comment",
            "set on the panel",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let done = server.wait_finished(&second);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        done["output"]["record"]["input"],
        json!({"set": "on the panel"}),
        "{done}"
    );
    let events = server.get(&format!("/api/v1/runs/{second}/events"));
    let resolved = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "incident_resolved")
        .cloned()
        .unwrap();
    assert_eq!(resolved["data"]["action"], "complete");
    assert!(resolved["actor"].is_string(), "{resolved}");
}

#[test]
fn a_run_past_its_deadline_is_cancelled_with_the_reason() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));
    let name = unique("cure");
    server.apply(
        &name,
        &format!(
            r#"
name: {name}
deadline: 1s
on_failure: compensate
nodes:
  heat:
    plugin: modbus-write@1
    config: {{ device: oven-1, kind: coil, address: 3, values: [true] }}
    grants: {{ plc: [{{ device: oven-1, write: ["coil:3"] }}] }}
    compensate:
      plugin: modbus-write@1
      config: {{ device: oven-1, kind: coil, address: 3, values: [false] }}
  approve:
    needs: [heat]
    type: approval
"#
        ),
    );
    let run = server.start_run(&name, json!({}));
    let waiting = server.wait_node(&run, "approve", "waiting");
    assert!(waiting["deadline_at"].is_i64(), "{waiting}");
    let done = server.wait_finished(&run);
    assert_eq!(done["status"], "cancelled", "{done}");
    assert!(done["error"].to_string().contains("deadline"), "{done}");
    assert!(!plant.coil(3), "compensated");
    assert_eq!(writes(&plant, "coil", 3), 2, "on, then off");
}

//! The full journey: upload a plugin, apply a workflow, trigger it by HTTP
//! and by MQTT, approve a step, follow the events live, see the PLC change.

use serde_json::json;

use crate::client::{ADMIN, Plant, Server, scripted_wasm, unique};

/// Read the oven, wait for approval, switch the heater on, then a vendor step.
pub fn workflow(name: &str, topic: &str) -> String {
    format!(
        r#"
name: {name}
triggers:
  - mqtt: {{ connection: plant, topic: "{topic}" }}
nodes:
  read_temp:
    plugin: modbus-read@1
    config: {{ device: oven-1, kind: holding, address: 10 }}
    grants: {{ plc: [{{ device: oven-1, read: ["holding:10"] }}] }}
  approve:
    needs: [read_temp]
    type: approval
  heat:
    needs: [approve]
    plugin: modbus-write@1
    config: {{ device: oven-1, kind: coil, address: 3, values: [true] }}
    grants: {{ plc: [{{ device: oven-1, write: ["coil:3"] }}] }}
  record:
    needs: [heat]
    plugin: scripted@1
    input: {{ batch: "input.batch", temp: "nodes.read_temp.output.values[0]" }}
    config: {{ tag: recorded }}
"#
    )
}

#[test]
fn upload_apply_trigger_approve_watch_and_the_plc_changes() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));

    // 1. Upload a plugin; the same bytes again are accepted as they are.
    let wasm = scripted_wasm();
    let (status, body) = server.call_with(
        "POST",
        "/api/v1/plugins",
        Some(ADMIN),
        &[("Content-Type", "application/wasm")],
        &wasm,
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "scripted");
    assert_eq!(body["version"], "1.0.0");
    let (again, _) = server.call_with(
        "POST",
        "/api/v1/plugins",
        Some(ADMIN),
        &[("Content-Type", "application/wasm")],
        &wasm,
    );
    assert_eq!(again, 200);

    // 2. Apply the workflow.
    let name = unique("journey");
    let topic = format!("baton-test/{name}/start");
    server.apply(&name, &workflow(&name, &topic));

    // 3. Trigger it by HTTP, and follow its events live from the start.
    assert!(!plant.coil(3));
    let run = server.start_run(&name, json!({"batch": "B-1"}));
    let events = std::thread::scope(|s| {
        let follower = s.spawn(|| {
            server.sse(&format!("/api/v1/runs/{run}/events"), |e| {
                e["kind"] == "run_succeeded" || e["kind"] == "run_failed"
            })
        });
        // 4. Approve the waiting step.
        server.wait_node(&run, "approve", "waiting");
        assert!(!plant.coil(3), "nothing is written before the approval");
        let (status, body) = server.post(
            &format!("/api/v1/runs/{run}/nodes/approve/approve"),
            &json!({"comment": "line clear"}),
        );
        assert_eq!(status, 200, "{body}");
        follower.join().unwrap()
    });

    // 5. The stream delivered every event, in order, ending with success.
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_succeeded"));
    let at = |kind: &str, node: &str| {
        events
            .iter()
            .position(|e| e["kind"] == kind && e["node_id"] == node)
            .unwrap_or_else(|| panic!("no {kind} for {node} in {kinds:?}"))
    };
    assert!(at("node_succeeded", "read_temp") < at("node_waiting", "approve"));
    assert!(at("node_approved", "approve") < at("node_started", "heat"));
    assert!(at("node_succeeded", "heat") < at("node_succeeded", "record"));
    let stored = server.get(&format!("/api/v1/runs/{run}/events"));
    assert_eq!(stored["events"].as_array().unwrap().len(), events.len());

    // 6. The PLC's coil changed, and 7. the run succeeded with its outputs.
    assert!(plant.coil(3), "the heater coil was switched on");
    let shown = server.get(&format!("/api/v1/runs/{run}"));
    assert_eq!(shown["status"], "succeeded");
    let record = shown["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "record")
        .unwrap();
    assert_eq!(
        record["output"]["input"],
        json!({"batch": "B-1", "temp": 20})
    );
    assert_eq!(record["attempts"].as_array().unwrap().len(), 1);

    // The same workflow, triggered by an MQTT message.
    plant.plc.oven().memory().coils[3] = false;
    plant.publish(&topic, r#"{"batch": "B-2"}"#);
    let mqtt_run = server.wait("a run started by MQTT", || {
        let runs = server.get(&format!("/api/v1/runs?workflow={name}"));
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["trigger"] == format!("mqtt:{topic}"))
            .cloned()
    });
    assert_eq!(mqtt_run["input"], json!({"batch": "B-2"}));
    let id = mqtt_run["id"].as_str().unwrap();
    server.wait_node(id, "approve", "waiting");
    let (status, _) = server.post(
        &format!("/api/v1/runs/{id}/nodes/approve/approve"),
        &json!({}),
    );
    assert_eq!(status, 200);
    assert_eq!(server.wait_finished(id)["status"], "succeeded");
    assert!(plant.coil(3));

    // Every change is in the audit trail, with its actor.
    let audit = server.get("/api/v1/audit?limit=100");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for action in [
        "plugin.upload",
        "workflow.apply",
        "run.start",
        "run.approve",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "admin")
    );
}

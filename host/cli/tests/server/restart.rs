//! A server restarted mid-run: the run completes, and its events and the
//! audit trail survive.

use serde_json::json;

use crate::client::{Plant, Server, unique};
use crate::journey::workflow;

#[test]
fn a_run_survives_a_server_killed_mid_run() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = plant.config(dir.path());
    let server = Server::start(&data, &config);
    let name = unique("restart");
    server.push_scripted();
    server.apply(&name, &workflow(&name, &format!("baton-test/{name}")));
    let run = server.start_run(&name, json!({"batch": "B-9"}));
    server.wait_node(&run, "approve", "waiting");
    let before = server.get(&format!("/api/v1/runs/{run}/events"))["events"]
        .as_array()
        .unwrap()
        .clone();
    server.kill();

    let server = Server::start(&data, &config);
    // The events committed before the crash are all there, unchanged.
    let after = server.get(&format!("/api/v1/runs/{run}/events"))["events"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(after[..before.len()], before[..]);
    server.wait_node(&run, "approve", "waiting");
    let (status, body) = server.post(
        &format!("/api/v1/runs/{run}/nodes/approve/approve"),
        &json!({"comment": "after the restart"}),
    );
    assert_eq!(status, 200, "{body}");
    let finished = server.wait_finished(&run);
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert!(plant.coil(3));

    // The audit trail kept what happened before the crash, and after it.
    let audit = server.get("/api/v1/audit?limit=100");
    let entries = audit["entries"].as_array().unwrap();
    let has = |kind: &str, of_run: bool| {
        entries
            .iter()
            .any(|e| e["kind"] == kind && (!of_run || e["data"]["details"]["run"] == run.as_str()))
    };
    assert!(has("workflow.apply", false), "{audit}");
    assert!(has("run.start", true), "{audit}");
    assert!(has("run.approve", true), "{audit}");
}

//! Sub-workflows on a real server: parent and child link to each other in
//! the API and the CLI, the parent reads the child's output, and a cancel
//! of the parent reaches the child.

use serde_json::json;

use crate::client::{Plant, Server, baton, unique};

#[test]
fn parent_and_child_link_wait_and_cancel_together() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));
    let child = unique("soak");
    let parent = unique("line");
    server.apply(
        &child,
        &format!("name: {child}\nnodes:\n  ok:\n    type: approval\n"),
    );
    server.apply(
        &parent,
        &format!("name: {parent}\nnodes:\n  soak:\n    type: workflow\n    workflow: {child}\n"),
    );

    let run = server.start_run(&parent, json!({}));
    let kid = server.wait("the child run", || {
        let shown = server.get(&format!("/api/v1/runs/{run}"));
        shown["children"][0]["id"].as_str().map(str::to_string)
    });
    let shown = server.wait_node(&kid, "ok", "waiting");
    assert_eq!(
        shown["parent"],
        json!({"run_id": run, "node": "soak"}),
        "{shown}"
    );
    let (code, out) = baton(&server, &["run", "show", &run]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&kid) && out.contains(&child), "{out}");

    // Approved, the child ends and the parent takes its output.
    let (status, body) = server.post(&format!("/api/v1/runs/{kid}/nodes/ok/approve"), &json!({}));
    assert_eq!(status, 200, "{body}");
    let done = server.wait_finished(&run);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["output"]["soak"]["ok"]["approved"], true, "{done}");

    // A second parent, cancelled: its child is cancelled too.
    let run = server.start_run(&parent, json!({}));
    let kid = server.wait("the child run", || {
        let shown = server.get(&format!("/api/v1/runs/{run}"));
        shown["children"][0]["id"].as_str().map(str::to_string)
    });
    server.wait_node(&kid, "ok", "waiting");
    let (status, body) = server.post(
        &format!("/api/v1/runs/{run}/cancel"),
        &json!({"reason": "line stopped"}),
    );
    assert_eq!(status, 200, "{body}");
    let kid = server.wait_finished(&kid);
    assert_eq!(kid["status"], "cancelled", "{kid}");
    assert!(kid["error"].to_string().contains("line stopped"), "{kid}");
}

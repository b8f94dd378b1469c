//! Equipment locks on a real server: a second recipe on the oven queues or
//! is refused, and after `kill -9` the lock is still held by the first run
//! and the second starts after it. The simulated PLC's write log shows who
//! actually reached the oven.

use serde_json::{Value, json};

use crate::client::{Plant, Server, baton, unique};

fn bake(name: &str, lock: &str) -> String {
    format!(
        r#"
name: {name}
locks: [{lock}]
nodes:
  heat:
    plugin: modbus-write@1
    config: {{ device: oven-1, kind: coil, address: 3, values: [true] }}
    grants: {{ plc: [{{ device: oven-1, write: ["coil:3"] }}] }}
  done:
    needs: [heat]
    type: approval
"#
    )
}

fn oven(server: &Server) -> Value {
    let locks = server.get("/api/v1/locks");
    locks["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["key"] == "oven-1")
        .cloned()
        .unwrap_or(Value::Null)
}

fn has_event(server: &Server, run: &str, kind: &str) -> bool {
    server.get(&format!("/api/v1/runs/{run}/events"))["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == kind)
}

#[test]
fn one_recipe_at_a_time_on_the_oven_even_across_a_kill() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = plant.config(dir.path());
    let server = Server::start(&data, &config);
    let name = unique("bake");
    server.apply(&name, &bake(&name, "oven-1"));

    let first = server.start_run(&name, json!({}));
    server.wait_node(&first, "done", "waiting");
    let second = server.start_run(&name, json!({}));
    server.wait(&format!("{second} to queue"), || {
        has_event(&server, &second, "locks_requested").then_some(())
    });
    let lock = oven(&server);
    assert_eq!(lock["holders"][0]["run_id"], first.as_str(), "{lock}");
    assert_eq!(lock["queue"][0]["run_id"], second.as_str(), "{lock}");
    let (code, out) = baton(&server, &["lock", "list"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("oven-1") && out.contains(&first) && out.contains(&second),
        "{out}"
    );
    assert!(out.contains("waiting #1"), "{out}");

    // With reject, a run on the same oven is refused while it is taken.
    let strict = unique("strict");
    server.apply(
        &strict,
        &bake(&strict, "{ key: oven-1, on_conflict: reject }"),
    );
    let (status, body) = server.post(&format!("/api/v1/workflows/{strict}/runs"), &json!({}));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"].to_string().contains("oven-1"),
        "{body}"
    );

    server.kill();
    let server = Server::start(&data, &config);
    let lock = oven(&server);
    assert_eq!(
        lock["holders"][0]["run_id"],
        first.as_str(),
        "still the first's: {lock}"
    );
    assert_eq!(lock["queue"][0]["run_id"], second.as_str(), "{lock}");
    assert!(!has_event(&server, &second, "node_started"));
    let heats = || {
        plant
            .plc
            .writes()
            .iter()
            .filter(|w| w.area == "coil" && w.address == 3)
            .count()
    };
    assert_eq!(heats(), 1, "only the first reached the oven");

    let (status, body) = server.post(
        &format!("/api/v1/runs/{first}/nodes/done/approve"),
        &json!({}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.wait_finished(&first)["status"], "succeeded");
    server.wait_node(&second, "done", "waiting");
    assert_eq!(heats(), 2, "the second heated only after the first ended");
    let lock = oven(&server);
    assert_eq!(lock["holders"][0]["run_id"], second.as_str(), "{lock}");
    assert!(lock["queue"].as_array().unwrap().is_empty(), "{lock}");
}

//! The operator's overview (`GET /status`, `baton status`) and the approvals
//! inbox (`GET /approvals`, `baton run waiting`) against a real server: a PLC
//! device that cannot be reached shows offline with its error, a reachable
//! one connected, and an approval node is listed while it waits and not after.

use serde_json::{Value, json};

use crate::client::{Plant, Server, baton, offline_plc_config, unique};
use crate::journey::workflow;

fn plc<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["connectors"]["plc"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no PLC device `{name}` in {status}"))
}

#[test]
fn status_shows_an_unreachable_plc_offline_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = offline_plc_config(dir.path());
    let server = Server::start(&dir.path().join("data"), &config);

    for path in ["/api/v1/status", "/api/v1/approvals"] {
        let (status, body) = server.call("GET", path, None, b"");
        assert_eq!(status, 401, "{path}: {body}");
    }

    let before = server.get("/api/v1/status");
    assert_eq!(plc(&before, "oven-1")["state"], "idle", "{before}");
    assert_eq!(before["interlock"], json!({"engaged": false}));
    for key in [
        "queue_depth",
        "free_task_slots",
        "attempts_running",
        "active_runs",
    ] {
        assert!(before[key].is_u64(), "{key} in {before}");
    }
    assert!(before["free_task_slots"].as_u64().unwrap() > 0, "{before}");
    assert_eq!(before["queue_depth"], 0);
    assert_eq!(
        before["runs"],
        json!({"running": 0, "held": 0, "succeeded": 0, "failed": 0, "cancelled": 0})
    );

    server.apply(
        "read-offline",
        r#"
name: read-offline
nodes:
  read:
    plugin: modbus-read@1
    config: { device: oven-1, kind: holding, address: 10 }
    grants: { plc: [{ device: oven-1, read: ["holding:10"] }] }
    retry: { max_attempts: 2, initial_interval: 10ms }
"#,
    );
    let run = server.start_run("read-offline", json!({}));
    assert_eq!(server.wait_finished(&run)["status"], "failed");

    let after = server.get("/api/v1/status");
    let oven = plc(&after, "oven-1");
    assert_eq!(oven["state"], "offline", "{after}");
    let error = oven["last_error"].as_str().unwrap();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(oven["last_error_at"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(after["runs"]["failed"], 1, "{after}");
    assert_eq!(after["attempts_running"], 0);

    let (code, out) = baton(&server, &["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("interlock   released"), "{out}");
    let line = out.lines().find(|l| l.contains("oven-1")).unwrap_or("");
    assert!(
        line.starts_with("plc") && line.contains("offline") && line.contains("cannot connect"),
        "{out}"
    );
    let (code, out) = baton(&server, &["--json", "status"]);
    assert_eq!(code, 0, "{out}");
    let json: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(json["connectors"]["plc"][0]["state"], "offline");
}

#[test]
fn approvals_list_a_waiting_node_until_it_is_approved_and_the_plc_shows_connected() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));
    server.push_scripted();
    let name = unique("approvals");
    server.apply(&name, &workflow(&name, &format!("baton-test/{name}/start")));

    assert_eq!(
        server.get("/api/v1/approvals"),
        json!({"approvals": [], "truncated": false})
    );
    let run = server.start_run(&name, json!({"batch": "B-7"}));
    server.wait_node(&run, "approve", "waiting");

    let approvals = server.get("/api/v1/approvals");
    assert_eq!(approvals["truncated"], false);
    let list = approvals["approvals"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{approvals}");
    let pending = &list[0];
    assert_eq!(pending["run"], run.as_str());
    assert_eq!(pending["workflow"], name.as_str());
    assert_eq!(pending["version"], 1);
    assert_eq!(pending["node"], "approve");
    assert_eq!(pending["until"], Value::Null);
    let created = pending["run_created_at"].as_i64().unwrap();
    assert!(pending["since"].as_i64().unwrap() >= created, "{pending}");

    // read_temp reached the oven, and the broker is up.
    let status = server.get("/api/v1/status");
    let oven = plc(&status, "oven-1");
    assert_eq!(oven["state"], "connected", "{status}");
    assert_eq!(oven["last_error"], Value::Null);
    assert_eq!(
        status["connectors"]["mqtt"],
        json!([{"name": "plant", "state": "connected", "last_error": null, "last_error_at": null}])
    );
    assert_eq!(status["runs"]["running"], 1, "{status}");
    assert_eq!(status["active_runs"], 1, "{status}");

    let (code, out) = baton(&server, &["run", "waiting"]);
    assert_eq!(code, 0, "{out}");
    let line = out.lines().find(|l| l.starts_with(&run)).unwrap_or("");
    assert!(
        line.contains(&format!("{name} v1")) && line.contains("approve"),
        "{out}"
    );
    let (code, out) = baton(&server, &["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 active; 1 running"), "{out}");

    let (status, body) = server.post(
        &format!("/api/v1/runs/{run}/nodes/approve/approve"),
        &json!({"comment": "line clear"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.wait_finished(&run)["status"], "succeeded");
    assert_eq!(
        server.get("/api/v1/approvals")["approvals"],
        json!([]),
        "an approved node is no longer pending"
    );
    let (code, out) = baton(&server, &["run", "waiting"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(&run), "{out}");
}

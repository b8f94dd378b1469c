//! The safety interlock and idempotent starts, on a real server.

use serde_json::json;

use crate::client::{ADMIN, Plant, Server, unique};
use crate::journey::workflow;

#[test]
fn the_interlock_denies_plc_writes_and_refuses_new_runs() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));
    let name = unique("interlock");
    server.push_scripted();
    server.apply(&name, &workflow(&name, &format!("baton-test/{name}")));

    // A run is waiting for approval when an operator hits the interlock.
    let run = server.start_run(&name, json!({}));
    server.wait_node(&run, "approve", "waiting");
    let (status, body) = server.call("POST", "/api/v1/interlock", Some(ADMIN), b"");
    assert_eq!((status, body["engaged"].clone()), (200, json!(true)));

    // No new run starts.
    let (status, body) = server.post(&format!("/api/v1/workflows/{name}/runs"), &json!({}));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "interlock");

    // The waiting run goes on, but its PLC write is denied: it fails, and
    // the heater stays off.
    let (status, body) = server.post(
        &format!("/api/v1/runs/{run}/nodes/approve/approve"),
        &json!({}),
    );
    assert_eq!(status, 200, "{body}");
    let finished = server.wait_finished(&run);
    assert_eq!(finished["status"], "failed", "{finished}");
    let heat = finished["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "heat")
        .unwrap();
    assert_eq!(heat["status"], "failed");
    assert!(
        heat["attempts"][0]["error"]
            .to_string()
            .contains("interlock"),
        "{heat}"
    );
    assert!(!plant.coil(3), "nothing reached the PLC");

    // Released, runs start again.
    let (status, _) = server.call(
        "DELETE",
        "/api/v1/interlock",
        Some(ADMIN),
        br#"{"comment": "oven checked"}"#,
    );
    assert_eq!(status, 200);
    server.start_run(&name, json!({}));
}

#[test]
fn a_repeated_idempotency_key_starts_one_run() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));
    let name = unique("replay");
    server.push_scripted();
    server.apply(&name, &workflow(&name, &format!("baton-test/{name}")));
    let start = || {
        server.call_with(
            "POST",
            &format!("/api/v1/workflows/{name}/runs"),
            Some(ADMIN),
            &[
                ("Content-Type", "application/json"),
                ("Idempotency-Key", "mes-order-4711"),
            ],
            br#"{"input": {"batch": "B-7"}}"#,
        )
    };
    let (first, a) = start();
    let (second, b) = start();
    assert_eq!((first, second), (202, 202));
    assert_eq!(a["run_id"], b["run_id"]);
    assert_eq!(
        (a["created"].clone(), b["created"].clone()),
        (json!(true), json!(false))
    );
    let runs = server.get(&format!("/api/v1/runs?workflow={name}"));
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
}

#[test]
fn the_cli_engages_and_releases_the_interlock_with_a_comment() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));
    let baton = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(args)
            .env("BATON_SERVER", format!("http://{}", server.addr))
            .env("BATON_TOKEN", ADMIN)
            .env_remove("BATON_CONFIG")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, out, err) = baton(&["interlock", "engage", "--comment", "smoke in hall 2"]);
    assert!(ok && out.contains("ENGAGED"), "{out}{err}");
    assert_eq!(server.get("/api/v1/interlock")["engaged"], true);
    // Releasing without a comment is refused before anything is sent.
    let (ok, _, err) = baton(&["interlock", "release"]);
    assert!(!ok && err.contains("--comment"), "{err}");
    assert_eq!(server.get("/api/v1/interlock")["engaged"], true);
    let (ok, out, err) = baton(&["interlock", "release", "--comment", "all clear"]);
    assert!(ok && out.contains("released"), "{out}{err}");
    let (ok, out, _) = baton(&["interlock", "show"]);
    assert!(ok && out.contains("released"), "{out}");
    let audit = server.get("/api/v1/audit").to_string();
    assert!(
        audit.contains("smoke in hall 2") && audit.contains("all clear"),
        "{audit}"
    );
}

//! A PLC trigger through the whole server: it is shown with the workflow,
//! a rising coil starts one run with what changed as its input, a `kill -9`
//! and a restart with the coil still on start no second run, and a bad
//! trigger is refused naming its field.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{ADMIN, Plant, Server, unique};

fn runs(server: &Server, workflow: &str) -> Vec<Value> {
    server.get(&format!("/api/v1/runs?workflow={workflow}"))["runs"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_rising_coil_starts_one_run_and_a_restart_does_not_repeat_it() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = plant.config(dir.path());
    let server = Server::start(&data, &config);
    let name = unique("on-coil");
    server.apply(
        &name,
        &format!(
            "name: {name}\ntriggers:\n  - plc: {{ device: oven-1, coil: 7, interval: 50ms }}\n\
             nodes:\n  note: {{ type: delay, duration: 1ms }}\n"
        ),
    );
    let shown = server.get(&format!("/api/v1/workflows/{name}"));
    assert_eq!(
        shown["definition"]["triggers"],
        json!([{"plc": {"device": "oven-1", "coil": 7, "interval": "50ms"}}])
    );
    // Polled every 50 ms: the baseline (off) is taken well within this.
    std::thread::sleep(Duration::from_millis(1000));
    assert!(runs(&server, &name).is_empty());

    plant.plc.oven().memory().coils[7] = true;
    let run = server.wait("a run started by the coil", || {
        runs(&server, &name).first().cloned()
    });
    let run = server.wait_finished(run["id"].as_str().unwrap());
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["input"]["value"], true);
    assert_eq!(run["input"]["previous"], false);
    assert_eq!(run["input"]["address"], 7);
    assert_eq!(run["trigger"], "plc:oven-1/coil:7/rising");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(runs(&server, &name).len(), 1, "one run per edge");

    server.kill();
    let server = Server::start(&data, &config);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        runs(&server, &name).len(),
        1,
        "the coil is still on: no new edge"
    );
}

#[test]
fn a_bad_plc_trigger_is_refused_naming_its_field() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));
    let (status, body) = server.call(
        "PUT",
        "/api/v1/workflows/bad-plc",
        Some(ADMIN),
        b"name: bad-plc\ntriggers:\n  - plc: { device: oven-9, holding: 10, above: 170, below: 180, edge: rising }\n\
          nodes:\n  note: { type: delay, duration: 1ms }\n",
    );
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["error"]["details"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "triggers[0].plc.device",
            "triggers[0].plc.edge",
            "triggers[0].plc.below"
        ],
        "{body}"
    );
}

//! Several `baton serve` processes on one database. On SQLite a second one
//! is refused. On PostgreSQL (`BATON_TEST_DATABASE_URL`) three nodes share
//! the runs: one is killed mid-flight and its runs finish on the others; one
//! is paused past its lease and, when it comes back, acts for nothing it
//! lost; the interlock holds for all; a run is steered through any node; and
//! a trigger fires once for the whole cluster. The simulated PLCs and MES
//! are the ledger.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use baton_sim::{Oven, SimulatedMes, SimulatedPlc};
use serde_json::{Value, json};

use crate::client::{ADMIN, Plant, Server, unique};

/// A fresh PostgreSQL database for one test, or `None` (one `skipped:`
/// line) without `BATON_TEST_DATABASE_URL`; under `CI=true` that fails.
fn database(plant: &Plant, name: &str) -> Option<String> {
    plant.rt.block_on(baton_sim::suite::fresh_database(
        "PostgreSQL cluster suite",
        &format!("baton_cluster_{name}"),
    ))
}

/// Lease and heartbeat for the tests: failover in about two seconds.
const LEASE_MS: u64 = 2000;

/// A node: its own data directory and config, the shared database.
fn node(dir: &Path, id: &str, database: &str, plc: &str, mqtt: &str) -> Server {
    let data = dir.join(id);
    std::fs::create_dir_all(&data).unwrap();
    let config = data.join("baton.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndatabase = \"{database}\"\n\
             [engine.cluster]\nnode_id = \"{id}\"\nheartbeat = \"200ms\"\nlease = \"{LEASE_MS}ms\"\n\
             [plc.oven-1]\nurl = \"{plc}\"\n[mqtt.plant]\nurl = \"{mqtt}\"\n"
        ),
    )
    .unwrap();
    Server::start(&data, &config)
}

fn nodes(dir: &Path, n: usize, database: &str, plant: &Plant) -> Vec<Server> {
    (1..=n)
        .map(|i| {
            node(
                dir,
                &format!("n{i}"),
                database,
                &plant.plc.url(),
                &plant.mqtt,
            )
        })
        .collect()
}

fn owners(server: &Server) -> HashMap<String, i64> {
    let cluster = server.get("/api/v1/cluster");
    cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_string(),
                n["runs"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn run(server: &Server, id: &str) -> Value {
    server.get(&format!("/api/v1/runs/{id}"))
}

fn node_status(run: &Value, node: &str) -> String {
    run["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == node)
        .map(|n| n["status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

fn approve(server: &Server, id: &str) {
    let (status, body) = server.post(
        &format!("/api/v1/runs/{id}/nodes/approve/approve"),
        &json!({"comment": "checked"}),
    );
    assert_eq!(
        status, 200,
        "approving {id} through {}: {body}",
        server.addr
    );
}

#[test]
fn a_second_server_on_one_sqlite_database_is_refused_and_names_the_first() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let config = plant.config(dir.path());
    let first = Server::start(dir.path(), &config);
    let second = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .arg("--config-file")
        .arg(&config)
        .env("BATON_ADMIN_TOKEN", ADMIN)
        .env_remove("BATON_DATABASE_URL")
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success(),
        "the second server started: {stderr}"
    );
    assert!(
        stderr.contains("in use by another Baton process")
            && stderr.contains(&format!("process {}", first.child.id())),
        "{stderr}"
    );
    // The first one serves on, untouched.
    assert_eq!(first.get("/readyz")["status"], "ready");
}

const LINE: &str = r#"
name: line
nodes:
  stamp:
    plugin: modbus-write@1
    config: { device: oven-1, kind: holding, address: 100 }
    input: { values: "[int(input.n)]" }
    grants: { plc: [{ device: oven-1, write: ["holding:100"] }] }
  book:
    needs: [stamp]
    plugin: http-request@1
    config: { url: "MES/api/book", method: POST, timeout_ms: 5000 }
    input: { n: "input.n" }
    grants: { http: ["MES/api/*"] }
  soak: { needs: [book], type: delay, duration: 1500ms }
  approve: { needs: [soak], type: approval }
  seal:
    needs: [approve]
    plugin: modbus-write@1
    config: { device: oven-1, kind: holding, address: 102 }
    input: { values: "[int(input.n)]" }
    grants: { plc: [{ device: oven-1, write: ["holding:102"] }] }
"#;

#[test]
fn a_killed_nodes_runs_finish_on_the_others_and_no_effect_repeats() {
    let plant = Plant::start();
    let Some(db) = database(&plant, "failover") else {
        return;
    };
    let mes = plant
        .rt
        .block_on(SimulatedMes::start_deduplicating())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut servers = nodes(dir.path(), 3, &db, &plant);
    servers[0].apply("line", &LINE.replace("MES", &mes.url()));
    let runs = 30;
    let ids: Vec<String> = (0..runs)
        .map(|n| servers[n % 3].start_run("line", json!({"n": n})))
        .collect();
    // Mid-flight: every run has booked and is soaking (a timer) or waits.
    servers[1].wait("every run past its effects", || {
        ids.iter()
            .all(|id| {
                let r = run(&servers[1], id);
                matches!(node_status(&r, "soak").as_str(), "waiting" | "succeeded")
            })
            .then_some(())
    });
    let before = owners(&servers[1]);
    assert_eq!(before.get("n1"), Some(&10), "{before:?}");
    let killed = servers.remove(0);
    let crashed = Instant::now();
    killed.kill();
    // The survivors take n1's runs once it has been silent for the lease.
    let failover = servers[0].wait("n1's runs to move", || {
        let now = owners(&servers[0]);
        (now.get("n1") == Some(&0)).then(|| crashed.elapsed())
    });
    assert!(
        failover >= Duration::from_millis(LEASE_MS - 300)
            && failover < Duration::from_millis(LEASE_MS + 3000),
        "failover took {failover:?} with a {LEASE_MS} ms lease"
    );
    eprintln!("failover: n1's runs owned elsewhere {failover:?} after the kill");
    // Approved through either survivor, whoever owns the run.
    for (i, id) in ids.iter().enumerate() {
        servers[i % 2].wait_node(id, "approve", "waiting");
        approve(&servers[i % 2], id);
    }
    for id in &ids {
        let r = servers[1].wait_finished(id);
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    // The ledger: every effect applied once.
    let writes = plant.plc.writes();
    for n in 0..runs as u16 {
        for address in [100, 102] {
            let count = writes
                .iter()
                .filter(|w| w.address == address && w.values == vec![n])
                .count();
            assert_eq!(count, 1, "run {n}: {count} writes to holding:{address}");
        }
    }
    let deliveries = mes.deliveries();
    assert_eq!(deliveries.len(), runs, "one booking per run");
    assert!(deliveries.iter().all(|d| !d.duplicate));
    let after = owners(&servers[0]);
    assert_eq!(
        after.values().sum::<i64>(),
        0,
        "every run finished: {after:?}"
    );
}

const CHAIN: &str = r#"
name: chain
nodes:
  w1: { plugin: modbus-write@1, timeout: 1s, config: { device: oven-1, kind: holding, address: 200 }, input: { values: "[int(input.n)]" }, grants: { plc: [{ device: oven-1, write: ["holding:200-203"] }] } }
  d1: { needs: [w1], type: delay, duration: 400ms }
  w2: { needs: [d1], plugin: modbus-write@1, timeout: 1s, config: { device: oven-1, kind: holding, address: 201 }, input: { values: "[int(input.n)]" }, grants: { plc: [{ device: oven-1, write: ["holding:200-203"] }] } }
  d2: { needs: [w2], type: delay, duration: 400ms }
  w3: { needs: [d2], plugin: modbus-write@1, timeout: 1s, config: { device: oven-1, kind: holding, address: 202 }, input: { values: "[int(input.n)]" }, grants: { plc: [{ device: oven-1, write: ["holding:200-203"] }] } }
  d3: { needs: [w3], type: delay, duration: 400ms }
  w4: { needs: [d3], plugin: modbus-write@1, timeout: 1s, config: { device: oven-1, kind: holding, address: 203 }, input: { values: "[int(input.n)]" }, grants: { plc: [{ device: oven-1, write: ["holding:200-203"] }] } }
"#;

fn signal(server: &Server, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &server.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn a_node_paused_past_its_lease_acts_for_nothing_it_lost() {
    let plant = Plant::start();
    let Some(db) = database(&plant, "fencing") else {
        return;
    };
    // Each node drives its own PLC, so the ledger says which node wrote.
    let (plc_a, plc_b) = plant.rt.block_on(async {
        let start = || SimulatedPlc::start(([127, 0, 0, 1], 0).into(), Oven::new(), None);
        (start().await.unwrap(), start().await.unwrap())
    });
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), "a", &db, &plc_a.url(), &plant.mqtt);
    let b = node(dir.path(), "b", &db, &plc_b.url(), &plant.mqtt);
    a.apply("chain", CHAIN);
    let ids: Vec<String> = (0..4)
        .map(|n| a.start_run("chain", json!({"n": n})))
        .collect();
    a.wait("the first writes on a", || {
        (plc_a.writes().iter().filter(|w| w.address == 200).count() == 4).then_some(())
    });
    signal(&a, "-STOP");
    let paused = Instant::now();
    // b takes the runs over after the lease and finishes them.
    for id in &ids {
        let deadline = Instant::now() + Duration::from_secs(60);
        let r = loop {
            let r = b.get(&format!("/api/v1/runs/{id}"));
            if r["status"] != "running" {
                eprintln!(
                    "takeover-timing: {id} finished on b {:?} after the pause",
                    paused.elapsed()
                );
                break r;
            }
            if Instant::now() > deadline {
                let events = b.get(&format!("/api/v1/runs/{id}/events"));
                let kinds: Vec<String> = events["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| format!("{}@{} {}", e["kind"], e["at"], e["node_id"]))
                    .collect();
                panic!(
                    "run {id} did not finish on b: {r}\nevents: {kinds:#?}\ncluster: {}",
                    b.get("/api/v1/cluster")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    while paused.elapsed() < Duration::from_millis(LEASE_MS + 1000) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let event_counts = || -> Vec<usize> {
        ids.iter()
            .map(|id| {
                b.get(&format!("/api/v1/runs/{id}/events"))["events"]
                    .as_array()
                    .map_or(0, Vec::len)
            })
            .collect()
    };
    let events_before = event_counts();
    let resumed_at = baton_sim_now_ms();
    signal(&a, "-CONT");
    // Give a every chance to act on what it held when it was paused.
    std::thread::sleep(Duration::from_secs(3));
    let late: Vec<_> = plc_a
        .writes()
        .into_iter()
        .filter(|w| w.at_ms >= resumed_at)
        .collect();
    assert!(late.is_empty(), "a wrote after it lost its runs: {late:?}");
    let events_after = event_counts();
    assert_eq!(
        events_before, events_after,
        "a committed events for runs it lost"
    );
    // Every write of every run happened, on one PLC or the other (a write
    // in flight at the pause may have been repeated by `b`).
    for n in 0..4u16 {
        for address in 200..204 {
            let count = plc_a
                .writes()
                .iter()
                .chain(plc_b.writes().iter())
                .filter(|w| w.address == address && w.values == vec![n])
                .count();
            assert!(count >= 1, "run {n}: holding:{address} never written");
        }
    }
    assert_eq!(a.get("/readyz")["status"], "ready", "a is back, healthy");
}

fn baton_sim_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

const GATED: &str = r#"
name: gated
nodes:
  approve: { type: approval }
  write:
    needs: [approve]
    plugin: modbus-write@1
    config: { device: oven-1, kind: holding, address: 300, values: [1] }
    grants: { plc: [{ device: oven-1, write: ["holding:300"] }] }
"#;

#[test]
fn any_node_steers_streams_and_interlocks_the_runs_of_another() {
    let plant = Plant::start();
    let Some(db) = database(&plant, "routing") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let servers = nodes(dir.path(), 2, &db, &plant);
    let (a, b) = (&servers[0], &servers[1]);
    a.apply("gated", GATED);
    let approved = a.start_run("gated", json!({}));
    let cancelled = a.start_run("gated", json!({}));
    b.wait_node(&approved, "approve", "waiting");
    b.wait_node(&cancelled, "approve", "waiting");
    // b streams a run a owns while b approves it.
    let stream = std::thread::scope(|s| {
        let events = s.spawn(|| {
            b.sse(&format!("/api/v1/runs/{approved}/events"), |e| {
                e["kind"] == "run_succeeded"
            })
        });
        std::thread::sleep(Duration::from_millis(300));
        approve(b, &approved);
        events.join().unwrap()
    });
    assert!(
        stream.iter().any(|e| e["kind"] == "node_approved"),
        "{stream:?}"
    );
    let (status, body) = b.post(
        &format!("/api/v1/runs/{cancelled}/cancel"),
        &json!({"reason": "wrong batch"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(a.wait_finished(&cancelled)["status"], "cancelled");
    let (status, body) = b.post(
        &format!("/api/v1/runs/{cancelled}/nodes/approve/approve"),
        &json!({}),
    );
    assert_eq!(status, 409, "the same answer as on one node: {body}");

    // Engaged through a: b refuses to start runs and denies its writes.
    let (status, body) = a.post("/api/v1/interlock", &json!({"comment": "e-stop drill"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(b.get("/api/v1/interlock")["engaged"], true);
    let (status, body) = b.post("/api/v1/workflows/gated/runs", &json!({"input": {}}));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "interlock");
    // Released through b: a writes again.
    let (status, body) = b.call_with(
        "DELETE",
        "/api/v1/interlock",
        Some(ADMIN),
        &[("Content-Type", "application/json")],
        json!({"comment": "drill over"}).to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    a.wait("a to see the release", || {
        (a.get("/api/v1/interlock")["engaged"] == false).then_some(())
    });
    let writes = plant.plc.writes().len();
    let again = a.start_run("gated", json!({}));
    a.wait_node(&again, "approve", "waiting");
    approve(a, &again);
    assert_eq!(a.wait_finished(&again)["status"], "succeeded");
    assert_eq!(plant.plc.writes().len(), writes + 1);
}

#[test]
fn a_trigger_fires_once_for_the_whole_cluster() {
    let plant = Plant::start();
    let Some(db) = database(&plant, "triggers") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let servers = nodes(dir.path(), 3, &db, &plant);
    let topic = unique("cluster/start");
    servers[0].apply(
        "on-message",
        &format!(
            "name: on-message\ntriggers:\n  - mqtt: {{ connection: plant, topic: \"{topic}\" }}\n\
             nodes:\n  note: {{ type: delay, duration: 1ms }}\n"
        ),
    );
    servers[1].apply(
        "every-second",
        "name: every-second\ntriggers:\n  - cron: \"* * * * * *\"\nnodes:\n  note: { type: delay, duration: 1ms }\n",
    );
    // Every node follows both workflows (applied through two of them).
    std::thread::sleep(Duration::from_millis(1500));
    for n in 0..3 {
        plant.publish(&topic, &format!("{{\"n\": {n}}}"));
    }
    std::thread::sleep(Duration::from_secs(3));
    let list = |workflow: &str| -> Vec<Value> {
        servers[2].get(&format!("/api/v1/runs?workflow={workflow}&limit=200"))["runs"]
            .as_array()
            .unwrap()
            .clone()
    };
    let by_message = list("on-message");
    assert_eq!(by_message.len(), 3, "one run per message: {by_message:?}");
    let by_cron = list("every-second");
    assert!(by_cron.len() >= 2, "the schedule fired: {}", by_cron.len());
    let mut instants: Vec<&str> = by_cron
        .iter()
        .filter_map(|r| r["idempotency_key"].as_str())
        .collect();
    let all = instants.len();
    instants.sort_unstable();
    instants.dedup();
    assert_eq!(instants.len(), all, "one run per instant");
    assert_eq!(all, by_cron.len());
}

//! Crash and resume: the engine runs in a child process that is killed with
//! SIGKILL mid-flight, twice, and restarted on the same database. Every run
//! must reach its correct end, no completed node may run again, and no run
//! may be lost.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use baton_engine::Event;
use baton_sim::{EmbeddedBroker, Oven, SimulatedPlc};
use baton_store::{Phase, RunStatus, Store, StoreOptions};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::json;

use crate::engine_node::{EngineNode, postgres_database};

const WORKFLOW: &str = r#"
name: crash
nodes:
  read:
    plugin: modbus-read@1
    config: { device: oven-1, kind: holding, address: 10, count: 1 }
    grants: { plc: [{ device: oven-1, read: ["holding:10"] }] }
  slow_a: { needs: [read], plugin: scripted@1, config: { sleep_ms: 400 } }
  slow_b: { needs: [read], plugin: scripted@1, config: { sleep_ms: 700 } }
  flaky:
    needs: [slow_a]
    plugin: scripted@1
    config: { fail_attempts: 1 }
    retry: { max_attempts: 3, initial_interval: 800ms }
  fan:
    needs: [slow_b]
    plugin: scripted@1
    foreach: "[1, 2, 3]"
    concurrency: 2
    config: { sleep_ms: 300 }
  pause: { needs: [flaky, fan], type: delay, duration: 600ms }
  approve: { needs: [pause], type: approval, timeout: 1500ms, on_timeout: approve }
  go:
    needs: [approve]
    type: wait
    mqtt: { connection: plant, topic: "test/crash/go" }
    timeout: 120s
  done: { needs: [go], plugin: scripted@1, input: "nodes.fan.output.map(o, o.input)" }
"#;

const RUNS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_flight_every_run_resumes_and_finishes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("baton.db").display());
    crash_and_resume(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_flight_every_run_resumes_and_finishes_on_postgres() {
    let Some(db) = postgres_database("PostgreSQL crash-recovery suite", "baton_crash").await else {
        return;
    };
    crash_and_resume(db).await;
}

async fn crash_and_resume(db: String) {
    let plc = SimulatedPlc::start(([127, 0, 0, 1], 0).into(), Oven::new(), None)
        .await
        .unwrap();
    let broker = EmbeddedBroker::test_url()
        .await
        .unwrap_or_else(|e| panic!("the test broker: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("crash.yaml");
    std::fs::write(&workflow, WORKFLOW).unwrap();
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crash-artifacts");
    let mut args: Vec<String> = [
        "--db",
        &db,
        "--plc",
        &plc.url(),
        "--broker",
        &broker,
        "--cache",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(cache.display().to_string());

    // First life: start the runs, kill while nodes are running and retries are pending.
    let mut first = args.clone();
    first.extend([
        "--workflow".into(),
        workflow.display().to_string(),
        "--start".into(),
        RUNS.to_string(),
    ]);
    let (node, ids) = EngineNode::start(&first);
    assert_eq!(ids.len(), RUNS);
    tokio::time::sleep(Duration::from_millis(900)).await;
    node.kill();

    // Second life: resume, and kill again while delays and approvals are pending.
    let (node, _) = EngineNode::start(&args);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.kill();

    // Third life: resume and release the waits with real MQTT messages until all finish.
    let (_node, _) = EngineNode::start(&args);
    let store = Store::open(&db, StoreOptions::default()).await.unwrap();
    let url = url::Url::parse(&broker).unwrap();
    let options = MqttOptions::new(
        format!(
            "crash-test-{}-{}",
            std::process::id(),
            store.backend() as u8
        ),
        url.host_str().unwrap(),
        url.port().unwrap_or(1883),
    );
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let finished = finished_count(&store, &ids).await;
        if finished == ids.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {finished} of {} runs finished",
            ids.len()
        );
        client
            .publish("test/crash/go", QoS::AtLeastOnce, false, "go")
            .await
            .expect("the test's MQTT client is running");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let mut resumed = 0;
    for id in &ids {
        let run = store.run(id).await.unwrap().expect("no run is lost");
        assert_eq!(
            run.status,
            RunStatus::Succeeded,
            "run {id}: {:?}",
            run.error
        );
        assert_eq!(
            run.output.as_ref().unwrap()["done"]["input"],
            json!([1, 2, 3])
        );

        let events: Vec<Event> = store
            .all_events(id)
            .await
            .unwrap()
            .into_iter()
            .flat_map(|e| serde_json::from_value::<Event>(e.data).unwrap().unfolded())
            .collect();
        let mut succeeded: HashSet<(String, Option<u32>, Phase)> = HashSet::new();
        let mut successes: HashMap<(String, Option<u32>), usize> = HashMap::new();
        for e in &events {
            match e {
                Event::AttemptStarted {
                    node,
                    item,
                    phase,
                    resumed: r,
                    ..
                } => {
                    assert!(
                        !succeeded.contains(&(node.clone(), *item, *phase)),
                        "run {id}: `{node}` {item:?} started again after it had succeeded"
                    );
                    if *r {
                        resumed += 1;
                    }
                }
                Event::AttemptSucceeded {
                    node,
                    item,
                    phase,
                    output,
                    ..
                } => {
                    succeeded.insert((node.clone(), *item, *phase));
                    *successes.entry((node.clone(), *item)).or_default() += 1;
                    if node.starts_with("slow") || node == "flaky" || node == "done" {
                        assert_eq!(
                            output["key"],
                            json!(format!("{id}/{node}")),
                            "the same idempotency key"
                        );
                    }
                }
                _ => {}
            }
        }
        assert!(
            successes.values().all(|&n| n == 1),
            "run {id}: {successes:?}"
        );
        assert_eq!(
            successes.len(),
            8,
            "read, slow_a, slow_b, flaky, 3 fan items, done"
        );
        let node_done = |n: &str| {
            events
                .iter()
                .filter(|e| matches!(e, Event::NodeSucceeded { node, .. } if node == n))
                .count()
        };
        for n in [
            "read", "slow_a", "slow_b", "flaky", "fan", "pause", "approve", "go", "done",
        ] {
            assert_eq!(node_done(n), 1, "run {id}: node {n}");
        }
        let flaky = events.iter().rev().find_map(|e| match e {
            Event::AttemptSucceeded { node, attempt, .. } if node == "flaky" => Some(*attempt),
            _ => None,
        });
        assert_eq!(
            flaky,
            Some(2),
            "run {id}: the retry after the failure succeeds"
        );
    }
    assert!(
        resumed > 0,
        "the kill should have caught attempts in flight"
    );
}

async fn finished_count(store: &Store, ids: &[String]) -> usize {
    let mut n = 0;
    for id in ids {
        if store
            .run(id)
            .await
            .unwrap()
            .is_some_and(|r| r.status.is_terminal())
        {
            n += 1;
        }
    }
    n
}

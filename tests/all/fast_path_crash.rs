//! SIGKILL on the fast path, where pure steps run ahead of their commit.
//!
//! - A long pure chain, killed mid-way: the run resumes from its last
//!   commit, reruns the pure steps after it, and ends with the output an
//!   undisturbed run of the same input gives.
//! - A mixed chain (a PLC write every fifth step), killed at seeded random
//!   moments: the simulated PLC's write log shows every write, and none
//!   after its step's success was committed.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baton_engine::Event;
use baton_sim::{EmbeddedBroker, Oven, SimulatedPlc};
use baton_store::{Phase, RunRecord, RunStatus, Store, StoreOptions};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

use crate::engine_node::{EngineNode, postgres_database};

const PURE_STEPS: usize = 60;

/// Each step adds one to the previous step's `n`; each takes about 15 ms.
fn pure_chain() -> String {
    let mut yaml = "name: pure-chain\nnodes:\n  s0: { plugin: scripted@1, \
                    config: { sleep_ms: 15 }, input: { n: \"int(input.n)\" } }\n"
        .to_string();
    for i in 1..PURE_STEPS {
        yaml += &format!(
            "  s{i}: {{ needs: [s{p}], plugin: scripted@1, config: {{ sleep_ms: 15 }}, \
             input: {{ n: \"int(nodes.s{p}.output.input.n) + 1\" }} }}\n",
            p = i - 1
        );
    }
    yaml
}

const MIXED_STEPS: usize = 20;

/// Pure steps, with step 4, 9, 14 and 19 writing `n * 32 + step` to
/// holding register `100 + step / 5`.
fn mixed_chain() -> String {
    let mut yaml = "name: mixed-chain\nnodes:\n".to_string();
    for i in 0..MIXED_STEPS {
        let needs = match i {
            0 => String::new(),
            _ => format!("needs: [m{}], ", i - 1),
        };
        if i % 5 == 4 {
            let address = 100 + i / 5;
            yaml += &format!(
                "  m{i}: {{ {needs}plugin: modbus-write@1, \
                 config: {{ device: oven-1, kind: holding, address: {address} }}, \
                 input: {{ values: \"[int(input.n) * 32 + {i}]\" }}, \
                 grants: {{ plc: [{{ device: oven-1, write: [\"holding:{address}\"] }}] }} }}\n"
            );
        } else {
            yaml +=
                &format!("  m{i}: {{ {needs}plugin: scripted@1, config: {{ sleep_ms: 15 }} }}\n");
        }
    }
    yaml
}

struct Setup {
    plc: SimulatedPlc,
    args: Vec<String>,
    _dir: tempfile::TempDir,
    workflow: std::path::PathBuf,
}

async fn setup(db: &str, yaml: &str) -> Setup {
    let plc = SimulatedPlc::start(([127, 0, 0, 1], 0).into(), Oven::new(), None)
        .await
        .unwrap();
    let broker = EmbeddedBroker::test_url()
        .await
        .unwrap_or_else(|e| panic!("the test broker: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("workflow.yaml");
    std::fs::write(&workflow, yaml).unwrap();
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crash-artifacts");
    let args = [
        "--db",
        db,
        "--plc",
        &plc.url(),
        "--broker",
        &broker,
        "--cache",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([cache.display().to_string()])
    .collect();
    Setup {
        plc,
        args,
        _dir: dir,
        workflow,
    }
}

impl Setup {
    fn starting(&self, runs: usize, first: usize) -> Vec<String> {
        let mut a = self.args.clone();
        a.extend([
            "--workflow".into(),
            self.workflow.display().to_string(),
            "--start".into(),
            runs.to_string(),
            "--first".into(),
            first.to_string(),
        ]);
        a
    }
}

fn start(args: &[String]) -> (EngineNode, Vec<String>) {
    tokio::task::block_in_place(|| EngineNode::start(args))
}

async fn finished(store: &Store, ids: &[String], within: Duration) -> Vec<RunRecord> {
    let deadline = Instant::now() + within;
    loop {
        let mut done = Vec::new();
        for id in ids {
            match store.run(id).await.unwrap() {
                Some(run) if run.status.is_terminal() => done.push(run),
                _ => {}
            }
        }
        if done.len() == ids.len() {
            return done;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {} runs finished",
            done.len(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stored_events(store: &Store, id: &str) -> Vec<(i64, Event)> {
    store
        .all_events(id)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|e| {
            let at = e.at;
            let event: Event = serde_json::from_value(e.data).unwrap();
            event.unfolded().into_iter().map(move |event| (at, event))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_in_a_long_pure_chain_the_run_resumes_with_the_same_output_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("baton.db").display());
    pure_chain_crash(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_in_a_long_pure_chain_the_run_resumes_with_the_same_output_on_postgres() {
    let Some(db) = postgres_database("PostgreSQL fast-path crash suite", "baton_pure").await else {
        return;
    };
    pure_chain_crash(&db).await;
}

async fn pure_chain_crash(db: &str) {
    let setup = setup(db, &pure_chain()).await;
    let (node, ids) = start(&setup.starting(1, 1000));
    let store = Store::open(db, StoreOptions::default()).await.unwrap();
    let id = ids[0].clone();
    // Kill once some progress is committed, well before the chain ends.
    let deadline = Instant::now() + Duration::from_secs(20);
    let committed = loop {
        let done = stored_events(&store, &id)
            .await
            .iter()
            .filter(|(_, e)| matches!(e, Event::NodeSucceeded { .. }))
            .count();
        if done >= 5 {
            break done;
        }
        assert!(Instant::now() < deadline, "no progress was committed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    node.kill();
    let at_kill = store.run(&id).await.unwrap().unwrap();
    assert_eq!(at_kill.status, RunStatus::Running, "killed mid-chain");
    assert!(committed < PURE_STEPS, "{committed} steps committed");

    // Resume it, and run an undisturbed one with the same input beside it.
    let (_node, undisturbed) = start(&setup.starting(1, 1000));
    let runs = finished(
        &store,
        &[id.clone(), undisturbed[0].clone()],
        Duration::from_secs(60),
    )
    .await;
    for run in &runs {
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    }
    let last = format!("s{}", PURE_STEPS - 1);
    let result = |run: &RunRecord| -> Value {
        let out = &run.output.as_ref().unwrap()[&last];
        serde_json::json!({"node": out["node"], "input": out["input"]})
    };
    assert_eq!(result(&runs[0]), result(&runs[1]));
    assert_eq!(
        result(&runs[0])["input"]["n"],
        serde_json::json!(1000 + PURE_STEPS - 1)
    );

    // The resumed run committed each step's success once, and reran the
    // step that was in flight at its last commit.
    let events = stored_events(&store, &id).await;
    let mut succeeded: HashMap<&str, usize> = HashMap::new();
    let mut resumed = 0;
    for (_, e) in &events {
        match e {
            Event::NodeSucceeded { node, .. } => *succeeded.entry(node).or_default() += 1,
            Event::AttemptStarted { resumed: true, .. } => resumed += 1,
            _ => {}
        }
    }
    assert_eq!(succeeded.len(), PURE_STEPS);
    assert!(succeeded.values().all(|&n| n == 1), "{succeeded:?}");
    assert_eq!(resumed, 1, "the step in flight at the last commit reran");
    println!(
        "pure chain: killed with {committed} of {PURE_STEPS} steps committed; resumed and \
         ended with the undisturbed run's output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_in_a_mixed_chain_no_write_repeats_after_its_commit_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("baton.db").display());
    mixed_chain_crash(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_in_a_mixed_chain_no_write_repeats_after_its_commit_on_postgres() {
    let Some(db) = postgres_database("PostgreSQL fast-path crash suite", "baton_mixed").await
    else {
        return;
    };
    mixed_chain_crash(&db).await;
}

const MIXED_RUNS: usize = 12;
const MIXED_KILLS: usize = 8;

async fn mixed_chain_crash(db: &str) {
    let seed = std::env::var("FAST_PATH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("mixed chain: seed {seed} (FAST_PATH_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let setup = setup(db, &mixed_chain()).await;
    // Every life starts two runs, so that each kill finds work in flight.
    let (mut node, mut ids) = start(&setup.starting(2, 0));
    let store = Store::open(db, StoreOptions::default()).await.unwrap();
    let mut busy = 0;
    for _ in 0..MIXED_KILLS {
        tokio::time::sleep(Duration::from_millis(rng.random_range(30..=250))).await;
        node.kill();
        for id in &ids {
            // Accepted and not created yet is in flight too: the next
            // life creates it from the intake log.
            let run = store.run(id).await.unwrap();
            if run.is_none_or(|r| !r.status.is_terminal()) {
                busy += 1;
                break;
            }
        }
        let next = match ids.len() < MIXED_RUNS {
            true => start(&setup.starting(2, ids.len())),
            false => start(&setup.args),
        };
        node = next.0;
        ids.extend(next.1);
    }
    assert_eq!(ids.len(), MIXED_RUNS);
    assert!(
        busy * 2 >= MIXED_KILLS,
        "only {busy} of {MIXED_KILLS} kills found runs in flight"
    );
    let runs = finished(&store, &ids, Duration::from_secs(60)).await;
    drop(node);
    for run in &runs {
        assert_eq!(
            run.status,
            RunStatus::Succeeded,
            "seed {seed}: {:?}",
            run.error
        );
    }

    // When each write step's success was committed.
    let mut committed: HashMap<(usize, usize), i64> = HashMap::new();
    for (n, id) in ids.iter().enumerate() {
        for (at, e) in stored_events(&store, id).await {
            if let Event::AttemptSucceeded {
                node,
                phase: Phase::Run,
                ..
            } = e
            {
                let step: usize = node[1..].parse().unwrap();
                let before = committed.insert((n, step), at);
                assert!(
                    before.is_none(),
                    "seed {seed}: run {n} step {step} succeeded twice"
                );
            }
        }
    }
    // The ledger: what the PLC recorded, attributed by value.
    let mut ledger: BTreeMap<(usize, usize), Vec<i64>> = BTreeMap::new();
    let writes = setup.plc.writes();
    for w in &writes {
        let value = usize::from(w.values[0]);
        let (n, step) = (value / 32, value % 32);
        assert!(
            n < MIXED_RUNS && step % 5 == 4,
            "a write no run made: {value}"
        );
        assert_eq!(usize::from(w.address), 100 + step / 5);
        ledger.entry((n, step)).or_default().push(w.at_ms);
    }
    for n in 0..MIXED_RUNS {
        for step in (4..MIXED_STEPS).step_by(5) {
            let times = ledger
                .get(&(n, step))
                .unwrap_or_else(|| panic!("seed {seed}: run {n} step {step} never wrote"));
            let done = committed[&(n, step)];
            for &at in times {
                assert!(
                    at <= done,
                    "seed {seed}: run {n} step {step} wrote at {at}, after its success was \
                     committed at {done}"
                );
            }
        }
    }
    let expected = MIXED_RUNS * MIXED_STEPS / 5;
    println!(
        "mixed chain: {MIXED_KILLS} kills ({busy} with runs in flight), {MIXED_RUNS} runs \
         succeeded, {expected} writes expected, {} recorded ({} repeated while in flight), \
         none after its commit",
        writes.len(),
        writes.len() - expected
    );
}

const ACCEPTED_RUNS: usize = 30;

/// A slow pure step, so that nothing but the runs' creations is committed
/// before the kill, then a PLC write of the run's own number.
const ACCEPTED: &str = r#"
name: accepted
nodes:
  a: { plugin: scripted@1, config: { sleep_ms: 200 } }
  w:
    needs: [a]
    plugin: modbus-write@1
    config: { device: oven-1, kind: holding, address: 150 }
    input: { values: "[int(input.n)]" }
    grants: { plc: [{ device: oven-1, write: ["holding:150"] }] }
"#;

/// The ids in `table` of the SQLite file at `path`, read on a connection
/// of its own (a store would take the intake log over).
fn ids_in(path: &std::path::Path, table: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut statement = conn.prepare(&format!("SELECT id FROM {table}")).unwrap();
    statement
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_as_it_accepts_every_accepted_run_is_created_and_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.db");
    let db = format!("sqlite://{}", path.display());
    let setup = setup(&db, ACCEPTED).await;
    // Killed as soon as it has answered the last start.
    let (node, ids) = start(&setup.starting(ACCEPTED_RUNS, 0));
    node.kill();
    assert_eq!(ids.len(), ACCEPTED_RUNS);
    let created = ids_in(&path, "runs");
    let mut intake = path.as_os_str().to_owned();
    intake.push("-intake");
    let waiting = ids_in(std::path::Path::new(&intake), "accepted");
    for id in &ids {
        assert!(
            created.contains(id) || waiting.contains(id),
            "run {id} was accepted, and is neither created nor in the intake log"
        );
    }
    assert!(setup.plc.writes().is_empty(), "a run wrote before the kill");

    // The next life creates what was only accepted, and runs everything.
    let (_node, _) = start(&setup.args);
    let store = Store::open(&db, StoreOptions::default()).await.unwrap();
    let runs = finished(&store, &ids, Duration::from_secs(60)).await;
    for run in &runs {
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
        let starts = stored_events(&store, &run.id)
            .await
            .iter()
            .filter(|(_, e)| matches!(e, Event::RunStarted { .. }))
            .count();
        assert_eq!(starts, 1, "run {} started twice", run.id);
    }
    // The PLC saw each run's write once.
    let mut written: BTreeMap<u16, usize> = BTreeMap::new();
    for write in setup.plc.writes() {
        assert_eq!(write.address, 150);
        for value in &write.values {
            *written.entry(*value).or_default() += 1;
        }
    }
    let expected: BTreeMap<u16, usize> = (0..ACCEPTED_RUNS as u16).map(|n| (n, 1)).collect();
    assert_eq!(written, expected);
    let only_accepted = ids.iter().filter(|id| !created.contains(id)).count();
    println!(
        "accepted: killed after {ACCEPTED_RUNS} accepts, {only_accepted} of them only in the \
         intake log; all created and run once after the restart"
    );
}

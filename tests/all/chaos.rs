//! Crash chaos with an outside ledger: an engine process is killed with
//! SIGKILL at many random moments while runs write to a simulated PLC, post
//! to a simulated MES, wait on delays and approvals and fan out. What the
//! engine did is judged from what the equipment recorded, not from the
//! engine's own log:
//!
//! - the MES deduplicates by `Idempotency-Key` and records every delivery;
//! - the PLC records every write. Modbus carries no key, so each effect
//!   writes its own value (`n * 8 + slot` for run `n`) and is attributed by it.
//!
//! Every expected effect must be in the ledger, the MES must have applied each
//! key once, and no effect may arrive after its node's success was committed
//! (which would mean a completed node ran again). Redeliveries of attempts
//! that were in flight at a kill are expected: that is at-least-once delivery,
//! made exactly-once by the receiver.
//!
//! Short by default; for a long run:
//! `CHAOS_KILLS=500 CHAOS_RUNS=200 cargo test -p baton-tests --test all chaos -- --nocapture`
//! (`CHAOS_SEED` replays a seed, `CHAOS_MIN_MS`/`CHAOS_MAX_MS` bound the
//! time an engine lives after it is up).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baton_engine::Event;
use baton_sim::{EmbeddedBroker, Oven, SimulatedMes, SimulatedPlc};
use baton_store::{Phase, RunStatus, Store, StoreOptions};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::engine_node::{EngineNode, postgres_database};

/// `MES` is replaced by the simulated MES's URL. PLC values are
/// `n * 8 + slot`: stamp 1, fill items 2 to 4, seal 5.
const WORKFLOW: &str = r#"
name: chaos
nodes:
  stamp:
    plugin: modbus-write@1
    config: { device: oven-1, kind: holding, address: 100 }
    input: { values: "[int(input.n) * 8 + 1]" }
    grants: { plc: [{ device: oven-1, write: ["holding:100"] }] }
  book:
    needs: [stamp]
    plugin: http-request@1
    config: { url: "MES/api/batches", method: POST, timeout_ms: 5000 }
    input: { n: "input.n", step: "'book'" }
    grants: { http: ["MES/api/*"] }
  pause: { needs: [book], type: delay, duration: 150ms }
  approve: { needs: [pause], type: approval, timeout: 10m }
  fill:
    needs: [approve]
    plugin: modbus-write@1
    foreach: "[0, 1, 2]"
    concurrency: 2
    config: { device: oven-1, kind: holding, address: 101 }
    input: { values: "[int(input.n) * 8 + 2 + item]" }
    grants: { plc: [{ device: oven-1, write: ["holding:101"] }] }
  report:
    needs: [approve]
    plugin: http-request@1
    foreach: "[0, 1, 2]"
    concurrency: 2
    config: { url: "MES/api/items", method: POST, timeout_ms: 5000 }
    input: { n: "input.n", item: "item" }
    grants: { http: ["MES/api/*"] }
  cool: { needs: [fill, report], type: delay, duration: 100ms }
  seal:
    needs: [cool]
    plugin: modbus-write@1
    config: { device: oven-1, kind: holding, address: 102 }
    input: { values: "[int(input.n) * 8 + 5]" }
    grants: { plc: [{ device: oven-1, write: ["holding:102"] }] }
"#;

/// The effects of one run, by idempotency key suffix: 5 PLC writes, 4 posts.
const PLC_EFFECTS: [&str; 5] = ["stamp", "fill[0]", "fill[1]", "fill[2]", "seal"];
const MES_EFFECTS: [&str; 4] = ["book", "report[0]", "report[1]", "report[2]"];

struct Settings {
    seed: u64,
    kills: usize,
    runs: usize,
    live_ms: (u64, u64),
}

impl Settings {
    fn from_env() -> Self {
        let var = |name: &str, default: u64| -> u64 {
            std::env::var(name)
                .ok()
                .map(|v| {
                    v.parse()
                        .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
                })
                .unwrap_or(default)
        };
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Self {
            seed: var("CHAOS_SEED", clock),
            kills: var("CHAOS_KILLS", 50) as usize,
            runs: var("CHAOS_RUNS", 40) as usize,
            live_ms: (var("CHAOS_MIN_MS", 20), var("CHAOS_MAX_MS", 300)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_kills_never_repeat_a_completed_effect_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("baton.db").display());
    chaos(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_kills_never_repeat_a_completed_effect_on_postgres() {
    let Some(db) = postgres_database("PostgreSQL chaos suite", "baton_chaos").await else {
        return;
    };
    chaos(db).await;
}

/// What the test has seen of one run's events so far.
#[derive(Default)]
struct Seen {
    after: i64,
    waiting: bool,
    approved: bool,
    finished: bool,
}

async fn chaos(db: String) {
    let settings = Settings::from_env();
    let backend = db.split(':').next().unwrap().to_string();
    println!(
        "chaos ({backend}): seed {} (CHAOS_SEED={} replays it), {} kills, {} runs, \
         engine lives {}-{} ms after it is up",
        settings.seed,
        settings.seed,
        settings.kills,
        settings.runs,
        settings.live_ms.0,
        settings.live_ms.1
    );
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let began = Instant::now();

    let plc = SimulatedPlc::start(([127, 0, 0, 1], 0).into(), Oven::new(), None)
        .await
        .unwrap();
    let mes = SimulatedMes::start_deduplicating().await.unwrap();
    let broker = EmbeddedBroker::test_url()
        .await
        .unwrap_or_else(|e| panic!("the test broker: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("chaos.yaml");
    std::fs::write(&workflow, WORKFLOW.replace("MES", &mes.url())).unwrap();
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crash-artifacts");
    let args: Vec<String> = [
        "--db",
        &db,
        "--plc",
        &plc.url(),
        "--broker",
        &broker,
        "--cache",
        &cache.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Runs start in batches over the first four fifths of the lives, so that
    // most kills find work in flight rather than an idle engine.
    let waves = (settings.kills * 4 / 5).max(1);
    let due = |life: usize| {
        (settings.runs * (life + 1))
            .div_ceil(waves)
            .min(settings.runs)
    };
    let with_batch = |first: usize, n: usize| {
        let mut a = args.clone();
        if n > 0 {
            a.extend([
                "--workflow".into(),
                workflow.display().to_string(),
                "--start".into(),
                n.to_string(),
                "--first".into(),
                first.to_string(),
            ]);
        }
        a
    };

    // Starting reads the child's stdout until `ready`: off the async workers,
    // which serve the simulated PLC and MES meanwhile.
    let start = |args: &[String]| tokio::task::block_in_place(|| EngineNode::start(args));
    let mut ids: Vec<String> = Vec::new();
    let (mut node, started) = start(&with_batch(0, due(0)));
    ids.extend(started);
    let store = Store::open(&db, StoreOptions::default()).await.unwrap();
    let mut seen: Vec<Seen> = ids.iter().map(|_| Seen::default()).collect();

    let mut kills = 0;
    let mut busy_kills = 0;
    let mut all_done_at_kill = None;
    while kills < settings.kills {
        let live = Duration::from_millis(rng.random_range(settings.live_ms.0..=settings.live_ms.1));
        let until = Instant::now() + live;
        while Instant::now() < until {
            poll(&store, &ids, &mut seen, &mut node).await;
            tokio::time::sleep(Duration::from_millis(10).min(until - Instant::now())).await;
        }
        node.kill();
        kills += 1;
        if seen.iter().any(|s| !s.finished) {
            busy_kills += 1;
        }
        if all_done_at_kill.is_none()
            && ids.len() == settings.runs
            && seen.iter().all(|s| s.finished)
        {
            all_done_at_kill = Some(kills);
        }
        let (next, started) = start(&with_batch(ids.len(), due(kills) - ids.len()));
        node = next;
        seen.extend(started.iter().map(|_| Seen::default()));
        ids.extend(started);
    }
    assert_eq!(ids.len(), settings.runs, "every run was started");

    // The last life: everything must finish.
    let deadline = Instant::now() + Duration::from_secs(60 + settings.runs as u64 / 2);
    loop {
        poll(&store, &ids, &mut seen, &mut node).await;
        let finished = seen.iter().filter(|s| s.finished).count();
        if finished == ids.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "seed {}: only {finished} of {} runs finished after the last restart",
            settings.seed,
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(node);

    // When each node (or foreach item) success was committed, and the engine's
    // own view: one success per node and item.
    let mut committed: HashMap<String, i64> = HashMap::new();
    let mut resumed = 0;
    for id in &ids {
        let run = store.run(id).await.unwrap().expect("no run is lost");
        assert_eq!(
            run.status,
            RunStatus::Succeeded,
            "run {id}: {:?}",
            run.error
        );
        for e in store.all_events(id).await.unwrap() {
            let event: Event = serde_json::from_value(e.data).unwrap();
            for event in event.unfolded() {
                match event {
                    Event::AttemptSucceeded {
                        node,
                        item,
                        phase: Phase::Run,
                        ..
                    } => {
                        let key = effect_key(id, &node, item);
                        let before = committed.insert(key.clone(), e.at);
                        assert!(before.is_none(), "{key} succeeded twice");
                    }
                    Event::AttemptStarted { resumed: true, .. } => resumed += 1,
                    _ => {}
                }
            }
        }
    }

    // The ledger: every effect the equipment applied, by key, with its times.
    let mut ledger: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let writes = plc.writes();
    for w in &writes {
        let value = w.values[0];
        let (n, slot) = (usize::from(value / 8), value % 8);
        let node = match (w.address, slot) {
            (100, 1) => "stamp".to_string(),
            (101, 2..=4) => format!("fill[{}]", slot - 2),
            (102, 5) => "seal".to_string(),
            other => panic!("a PLC write no run made: {other:?} value {value}"),
        };
        let id = ids.get(n).unwrap_or_else(|| panic!("no run {n}"));
        ledger
            .entry(format!("{id}/{node}"))
            .or_default()
            .push(w.at_ms);
    }
    let deliveries = mes.deliveries();
    let mut applied: HashMap<&str, usize> = HashMap::new();
    for d in &deliveries {
        ledger.entry(d.key.clone()).or_default().push(d.at_ms);
        if !d.duplicate {
            *applied.entry(&d.key).or_default() += 1;
        }
    }

    for id in &ids {
        for effect in PLC_EFFECTS.iter().chain(&MES_EFFECTS) {
            let key = format!("{id}/{effect}");
            let times = ledger
                .get(&key)
                .unwrap_or_else(|| panic!("seed {}: {key} never took effect", settings.seed));
            let done = committed[&key];
            for &at in times {
                assert!(
                    at <= done,
                    "seed {}: {key} took effect at {at}, after its success was committed at {done}",
                    settings.seed
                );
            }
        }
        for effect in MES_EFFECTS {
            let key = format!("{id}/{effect}");
            assert_eq!(
                applied.get(key.as_str()),
                Some(&1),
                "the MES applies {key} once"
            );
        }
    }
    let expected = ids.len() * (PLC_EFFECTS.len() + MES_EFFECTS.len());
    assert_eq!(
        ledger.len(),
        expected,
        "every effect is attributed to a run"
    );

    let plc_repeats = writes.len() - ids.len() * PLC_EFFECTS.len();
    let mes_duplicates = deliveries.iter().filter(|d| d.duplicate).count();
    println!(
        "chaos ({backend}): {kills} kills ({busy_kills} with runs in flight), {} runs \
         succeeded, {expected} effects ({} PLC writes, {} MES posts); at-least-once \
         redeliveries: {mes_duplicates} duplicates dropped by the MES, {plc_repeats} PLC \
         writes repeated; {resumed} attempts resumed; every run had finished by kill {}; \
         {:.1} s",
        ids.len(),
        writes.len(),
        deliveries.len(),
        all_done_at_kill.map_or("-".to_string(), |k| k.to_string()),
        began.elapsed().as_secs_f64()
    );
}

/// Read the runs' new events; approve the approvals that are waiting.
async fn poll(store: &Store, ids: &[String], seen: &mut [Seen], node: &mut EngineNode) {
    for (id, s) in ids.iter().zip(seen.iter_mut()) {
        if s.finished {
            continue;
        }
        for e in store.events(id, s.after, 1000).await.unwrap() {
            s.after = e.seq;
            match serde_json::from_value::<Event>(e.data).unwrap() {
                Event::NodeWaiting { node, .. } if node == "approve" => s.waiting = true,
                Event::NodeApproved { .. } => s.approved = true,
                Event::RunSucceeded { .. }
                | Event::RunFailed { .. }
                | Event::RunCancelled { .. } => s.finished = true,
                _ => {}
            }
        }
        if s.waiting && !s.approved {
            node.approve(id, "approve");
        }
    }
}

/// The idempotency key of a node's (or foreach item's) effect.
fn effect_key(run: &str, node: &str, item: Option<u32>) -> String {
    match item {
        Some(i) => format!("{run}/{node}[{i}]"),
        None => format!("{run}/{node}"),
    }
}

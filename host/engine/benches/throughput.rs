//! Engine throughput, durable on SQLite (WAL, `synchronous = FULL`) in a
//! directory on the real disk (under `target/`, not a tmpfs): trivial `noop`
//! tasks in chains and fan-outs, against the bare cost of running the same
//! task in the runtime, measured in the same run. Each workload runs twice:
//! on the fast path (the default) and with `[engine.fast_path] enabled =
//! false`, where every step is committed before the next one starts.
//!
//! - `task/bare`: one attempt through the runtime, no engine: the baseline;
//!   `task/bare/keep_resident=0` is the same with every page of the
//!   instance's memory returned to the kernel between attempts.
//! - `chain/40`: one run of 40 `noop` nodes in sequence: per-step latency;
//!   the overhead per step is `chain/40 / 40 - task/bare`.
//! - `chain/1`: one run of one `noop` node: what a run costs besides its
//!   steps, its two commits (its creation and its end) included. A step's
//!   own cost, the commits aside, is `(chain/40 - chain/1) / 39`.
//! - `runs/100x10`: 100 concurrent runs of 10-step chains.
//! - `fanout/1000`: one `foreach` node over 1000 items, 64 at a time.
//! - `mixed/20`: a 20-step chain with a PLC write (to a simulated PLC) every
//!   fifth step.
//!
//! Then, as plain-text `summary:` lines: an fsync microbenchmark of the
//! bench's own directory; commits per run and steps per commit for each
//! workload; a step's own cost (medians of `task/bare`, `chain/1` and
//! `chain/40`, taken together); the steady state of 200 concurrent clients each starting 10-step
//! runs and waiting for them, for `BENCH_STEADY_SECS` (default 10) seconds;
//! and what a parked run costs.
//!
//! `cargo bench -p baton-engine --bench throughput`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use baton_connectors::config::PlcConfig;
use baton_connectors::{Connectors, ConnectorsConfig};
use baton_engine::{Engine, EngineConfig, FastPath, StartOptions};
use baton_runtime::{Limits, Runtime, RuntimeConfig, TaskContext, TaskRequest};
use baton_sim::{Oven, SimulatedPlc};
use baton_store::{Store, StoreOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

fn chain(name: &str, steps: usize) -> String {
    let mut yaml = format!("name: {name}\nnodes:\n  s0: {{ plugin: noop@1 }}\n");
    for i in 1..steps {
        yaml += &format!("  s{i}: {{ plugin: noop@1, needs: [s{}] }}\n", i - 1);
    }
    yaml
}

/// Pure `noop` steps with a PLC write as every fifth.
fn mixed(steps: usize) -> String {
    let mut yaml = "name: mixed-20\nnodes:\n".to_string();
    for i in 0..steps {
        let needs = if i == 0 {
            String::new()
        } else {
            format!("needs: [s{}], ", i - 1)
        };
        if i % 5 == 4 {
            yaml += &format!(
                "  s{i}: {{ {needs}plugin: modbus-write@1, \
                 config: {{ device: oven-1, kind: holding, address: 100 }}, \
                 input: {{ values: \"[{i}]\" }}, \
                 grants: {{ plc: [{{ device: oven-1, write: [\"holding:100\"] }}] }} }}\n"
            );
        } else {
            yaml += &format!("  s{i}: {{ {needs}plugin: noop@1 }}\n");
        }
    }
    yaml
}

async fn setup(dir: &Path, name: &str, plc: &str, fast_path: FastPath) -> Engine {
    let store = Store::open(
        &format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    let mut connectors = ConnectorsConfig::default();
    connectors.plc.insert("oven-1".into(), PlcConfig::new(plc));
    let connectors = Connectors::from_config(&connectors).unwrap();
    connectors.wait_connected(Duration::from_secs(10)).await;
    // Under valgrind the pool's address space must be small:
    // `BENCH_MAX_INSTANCES=2` bounds instances and task slots together.
    let instances: Option<u32> = std::env::var("BENCH_MAX_INSTANCES")
        .ok()
        .and_then(|s| s.parse().ok());
    let defaults = RuntimeConfig::default();
    let runtime = Runtime::new(
        RuntimeConfig {
            // Kept between runs: a profiler need not watch plugins compile.
            cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-artifacts")),
            max_instances: instances.unwrap_or(defaults.max_instances),
            ..defaults
        },
        connectors,
    )
    .unwrap();
    let config = EngineConfig {
        fast_path,
        max_concurrent_tasks: instances
            .map_or(EngineConfig::default().max_concurrent_tasks, |n| n as usize),
        ..EngineConfig::default()
    };
    let engine = Engine::start(store, Arc::new(runtime), config)
        .await
        .unwrap();
    engine
        .add_plugin(&std::fs::read(baton_plugins::test_programs::NOOP).unwrap())
        .await
        .unwrap();
    engine
        .add_plugin(baton_plugins::find("modbus-write").unwrap().wasm)
        .await
        .unwrap();
    engine.apply_workflow(&chain("chain-40", 40)).await.unwrap();
    engine.apply_workflow(&chain("chain-1", 1)).await.unwrap();
    engine.apply_workflow(&chain("chain-10", 10)).await.unwrap();
    engine.apply_workflow(&mixed(20)).await.unwrap();
    engine
        .apply_workflow(
            "name: fanout\nnodes:\n  each: { plugin: noop@1, foreach: 'input.items', concurrency: 64 }\n",
        )
        .await
        .unwrap();
    engine
}

/// Start `runs` runs at once and wait for all of them, as API callers with
/// `?wait=` would.
async fn run_all(engine: &Engine, workflow: &str, runs: usize, input: serde_json::Value) {
    let mut waiting = tokio::task::JoinSet::new();
    for _ in 0..runs {
        let started = engine
            .start_run(workflow, input.clone(), StartOptions::default())
            .await
            .unwrap();
        let engine = engine.clone();
        waiting.spawn(async move {
            let run = engine
                .wait_finished(&started.run_id, Duration::from_secs(120))
                .await
                .unwrap()
                .expect("runs finish in time");
            assert!(
                run.status == baton_store::RunStatus::Succeeded,
                "run failed: {:?}",
                run.error
            );
        });
    }
    while let Some(done) = waiting.join_next().await {
        done.unwrap();
    }
}

/// Commits (group-commit batches) and transitions written so far.
fn writes(engine: &Engine) -> (u64, u64) {
    let stats = engine.store().writer_stats();
    (stats.commits(), stats.transitions.load(Ordering::Relaxed))
}

/// The median of `n` timed rounds of `f`.
async fn median<F: std::future::Future<Output = ()>>(
    n: usize,
    mut f: impl FnMut() -> F,
) -> Duration {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

/// One attempt of `plugin` through the runtime alone: `task/bare`.
async fn bare_attempt(runtime: &Runtime, plugin: &baton_runtime::Plugin) {
    let attempt = runtime
        .run(
            plugin,
            TaskRequest {
                context: TaskContext::new("r", "n", 1),
                config: "{}".into(),
                input: "{}".into(),
                grants: Default::default(),
                limits: Limits::default(),
                act_until: None,
            },
        )
        .await;
    assert!(attempt.result.is_ok());
}

/// A step's own cost, measured here in one go: medians of `task/bare`,
/// `chain/1` and `chain/40`, and what a step costs besides the run's two
/// commits and besides its task.
async fn step_cost(runtime: &Runtime, plugin: &baton_runtime::Plugin, engines: &[(&str, &Engine)]) {
    let bare = median(2000, || bare_attempt(runtime, plugin)).await;
    for (mode, engine) in engines {
        let one = median(200, || run_all(engine, "chain-1", 1, json!({}))).await;
        let forty = median(200, || run_all(engine, "chain-40", 1, json!({}))).await;
        let step = forty.saturating_sub(one) / 39;
        println!(
            "summary: step cost, {mode}: task/bare {:.1} µs; chain/1 {:.2} ms; chain/40 {:.2} ms; \
             a step beyond chain/1 {:.1} µs, {:.1} µs beyond task/bare",
            bare.as_secs_f64() * 1e6,
            one.as_secs_f64() * 1e3,
            forty.as_secs_f64() * 1e3,
            step.as_secs_f64() * 1e6,
            step.saturating_sub(bare).as_secs_f64() * 1e6,
        );
    }
}

fn bench(c: &mut Criterion) {
    // `BENCH_WORKERS` sets the runtime's worker threads (default: one per core).
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        builder.worker_threads(n);
    }
    let rt = builder.enable_all().build().unwrap();
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(base).unwrap();
    let dir = tempfile::tempdir_in(base).unwrap();
    let plc = rt
        .block_on(SimulatedPlc::start(
            ([127, 0, 0, 1], 0).into(),
            Oven::new(),
            None,
        ))
        .unwrap();
    let fast = rt.block_on(setup(dir.path(), "fast", &plc.url(), FastPath::default()));
    let off = FastPath {
        enabled: false,
        ..FastPath::default()
    };
    let durable = rt.block_on(setup(dir.path(), "durable", &plc.url(), off));
    let engines = [("fast", &fast), ("durable", &durable)];
    let items: Vec<u32> = (0..1000).collect();
    let workloads: [(&str, &str, usize, u64, serde_json::Value); 5] = [
        ("chain/40", "chain-40", 1, 40, json!({})),
        ("chain/1", "chain-1", 1, 1, json!({})),
        ("runs/100x10", "chain-10", 100, 1000, json!({})),
        ("fanout/1000", "fanout", 1, 1000, json!({"items": items})),
        ("mixed/20", "mixed-20", 1, 20, json!({})),
    ];
    if let Ok(target) = std::env::var("BENCH_PROFILE") {
        rt.block_on(profile(&target, &engines, &workloads));
        return;
    }

    let mut group = c.benchmark_group("engine");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));

    let runtime: Runtime = (**fast.runtime()).clone();
    let plugin = rt
        .block_on(runtime.load(&std::fs::read(baton_plugins::test_programs::NOOP).unwrap()))
        .unwrap();
    // The same task with every page returned to the kernel between
    // instances (`[runtime] keep_resident = 0`): what keeping them saves.
    let cold = Runtime::new(
        RuntimeConfig {
            keep_resident: 0,
            max_instances: 8,
            ..RuntimeConfig::default()
        },
        Connectors::from_config(&ConnectorsConfig::default()).unwrap(),
    )
    .unwrap();
    let cold_plugin = rt
        .block_on(cold.load(&std::fs::read(baton_plugins::test_programs::NOOP).unwrap()))
        .unwrap();
    group.throughput(Throughput::Elements(1));
    for (name, runtime, plugin) in [
        ("task/bare", &runtime, &plugin),
        ("task/bare/keep_resident=0", &cold, &cold_plugin),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| bare_attempt(runtime, plugin))
        });
    }

    for (label, workflow, runs, steps, input) in &workloads {
        group.throughput(Throughput::Elements(*steps));
        for (mode, engine) in engines {
            group.bench_function(format!("{label}/{mode}"), |b| {
                b.to_async(&rt)
                    .iter(|| run_all(engine, workflow, *runs, input.clone()))
            });
        }
    }
    group.finish();

    rt.block_on(async {
        println!(
            "summary: fsync (4 KiB write + fdatasync) in {}: median {:.0} µs",
            dir.path().display(),
            baton_sim::disk::fsync_median(dir.path()).unwrap().as_secs_f64() * 1e6
        );
        for (label, workflow, runs, steps, input) in &workloads {
            for (mode, engine) in engines {
                let before = writes(engine);
                run_all(engine, workflow, *runs, input.clone()).await;
                let after = writes(engine);
                let commits = after.0 - before.0;
                println!(
                    "summary: {label}/{mode}: {:.1} commits per run, {:.1} steps per commit, \
                     {:.1} transitions per commit",
                    commits as f64 / *runs as f64,
                    *steps as f64 / commits.max(1) as f64,
                    (after.1 - before.1) as f64 / commits.max(1) as f64,
                );
            }
        }

        step_cost(&runtime, &plugin, &engines).await;

        let secs: u64 = std::env::var("BENCH_STEADY_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10);
        for (mode, engine) in engines {
            let (tasks, commits, elapsed) = steady(engine, 200, Duration::from_secs(secs)).await;
            println!(
                "summary: steady state, 200 clients starting 10-step runs, {mode}: \
                 {:.0} task executions/s over {:.1} s, {:.1} steps per commit",
                tasks as f64 / elapsed.as_secs_f64(),
                elapsed.as_secs_f64(),
                tasks as f64 / commits.max(1) as f64
            );
        }

        fast.apply_workflow("name: parked\nnodes:\n  approve: { type: approval }\n")
            .await
            .unwrap();
        let before = resident_bytes();
        let parked = 5000;
        for _ in 0..parked {
            fast.start_run("parked", json!({}), StartOptions::default())
                .await
                .unwrap();
        }
        let after = resident_bytes();
        println!(
            "summary: {parked} runs parked on approvals: {} active, {:.1} KiB of resident memory each",
            fast.active_runs(),
            (after.saturating_sub(before)) as f64 / parked as f64 / 1024.0
        );
    });
}

/// `BENCH_PROFILE=runs/100x10/fast` (a workload and a mode) runs only that
/// workload, for a profiler: once to warm up, then `BENCH_PROFILE_ITERS`
/// (default 3) times between `callgrind_control --zero` and `--dump`, so
/// that under `valgrind --tool=callgrind` the profile holds only those runs.
/// Outside valgrind the two commands fail quietly.
async fn profile(
    target: &str,
    engines: &[(&str, &Engine)],
    workloads: &[(&str, &str, usize, u64, serde_json::Value)],
) {
    let iters: usize = std::env::var("BENCH_PROFILE_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let (label, mode) = target
        .rsplit_once('/')
        .expect("BENCH_PROFILE=WORKLOAD/MODE");
    let engine = engines
        .iter()
        .find(|(m, _)| *m == mode)
        .map(|(_, e)| *e)
        .expect("mode is fast or durable");
    let (_, workflow, runs, steps, input) = workloads
        .iter()
        .find(|w| w.0 == label)
        .expect("a workload named in the bench");
    run_all(engine, workflow, *runs, input.clone()).await;
    let callgrind = |what: &str| {
        let _ = std::process::Command::new("callgrind_control")
            .arg(what)
            .arg(std::process::id().to_string())
            .output();
    };
    callgrind("--zero");
    let before = writes(engine);
    let began = Instant::now();
    for _ in 0..iters {
        run_all(engine, workflow, *runs, input.clone()).await;
    }
    let elapsed = began.elapsed();
    callgrind("--dump");
    let after = writes(engine);
    println!(
        "profile: {target}: {iters} x {runs} runs, {} steps, {} commits, {:.1} ms",
        *steps as usize * iters,
        after.0 - before.0,
        elapsed.as_secs_f64() * 1e3
    );
}

/// `clients` callers, each starting a 10-step run and waiting for it, over
/// and over. Counts only the window after a warm-up second, so the figure
/// is the steady state. Returns tasks finished, commits and the window.
async fn steady(engine: &Engine, clients: usize, window: Duration) -> (u64, u64, Duration) {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (engine, done, stop) = (engine.clone(), done.clone(), stop.clone());
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let started = engine
                    .start_run("chain-10", json!({}), StartOptions::default())
                    .await
                    .unwrap();
                engine
                    .wait_finished(&started.run_id, Duration::from_secs(120))
                    .await
                    .unwrap()
                    .expect("runs finish in time");
                done.fetch_add(10, Ordering::Relaxed);
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (tasks_before, commits_before) = (done.load(Ordering::Relaxed), writes(engine).0);
    let began = Instant::now();
    tokio::time::sleep(window).await;
    let (tasks_after, commits_after) = (done.load(Ordering::Relaxed), writes(engine).0);
    let elapsed = began.elapsed();
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    (
        tasks_after - tasks_before,
        commits_after - commits_before,
        elapsed,
    )
}

/// Resident set size of this process (Linux).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Engine throughput, durable on SQLite (WAL, `synchronous = FULL`): trivial
//! `noop` tasks in chains and fan-outs, against the bare cost of running the
//! same task in the runtime, measured in the same run.
//!
//! - `task/bare`: one attempt through the runtime, no engine: the baseline.
//! - `chain/40`: one run of 40 `noop` nodes in sequence. Each step commits
//!   (completion of one node and start of the next, one transaction) before
//!   the next task starts, so this is per-task latency; the overhead per task
//!   is `chain/40 / 40 - task/bare`.
//! - `runs/100x10`: 100 concurrent runs of 10-step chains: executions per
//!   second when group commit can batch across runs.
//! - `fanout/1000`: one `foreach` node over 1000 items, 64 at a time.
//!
//! `cargo bench -p baton-engine --bench throughput`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_connectors::Connectors;
use baton_engine::{Engine, EngineConfig, StartOptions};
use baton_runtime::{Limits, Runtime, RuntimeConfig, TaskContext, TaskRequest};
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

async fn setup(dir: &std::path::Path) -> Engine {
    let store = Store::open(
        &format!("sqlite://{}", dir.join("bench.db").display()),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    let runtime = Runtime::new(
        RuntimeConfig {
            cache_dir: Some(dir.join("artifacts")),
            ..RuntimeConfig::default()
        },
        Connectors::default(),
    )
    .unwrap();
    let engine = Engine::start(store, Arc::new(runtime), EngineConfig::default())
        .await
        .unwrap();
    engine
        .add_plugin(&std::fs::read(baton_plugins::test_programs::NOOP).unwrap())
        .await
        .unwrap();
    engine.apply_workflow(&chain("chain-40", 40)).await.unwrap();
    engine.apply_workflow(&chain("chain-10", 10)).await.unwrap();
    engine
        .apply_workflow(
            "name: fanout\nnodes:\n  each: { plugin: noop@1, foreach: 'input.items', concurrency: 64 }\n",
        )
        .await
        .unwrap();
    engine
}

async fn run_all(engine: &Engine, workflow: &str, runs: usize, input: serde_json::Value) {
    // One subscription for all runs: waiting per run would cost the bench,
    // not the engine, a receiver per run.
    let mut events = engine.store().subscribe();
    let mut pending = std::collections::HashSet::with_capacity(runs);
    for _ in 0..runs {
        let started = engine
            .start_run(workflow, input.clone(), StartOptions::default())
            .await
            .unwrap();
        pending.insert(started.run_id);
    }
    while !pending.is_empty() {
        let e = match tokio::time::timeout(Duration::from_secs(120), events.recv())
            .await
            .expect("runs finish in time")
        {
            Ok(e) => e,
            Err(_) => {
                // Fell behind the event stream: ask the store instead.
                let mut done = Vec::new();
                for id in &pending {
                    let run = engine.store().run(id).await.unwrap().unwrap();
                    if run.status.is_terminal() {
                        done.push(id.clone());
                    }
                }
                for id in done {
                    pending.remove(&id);
                }
                continue;
            }
        };
        match e.kind.as_str() {
            "run_succeeded" => {
                pending.remove(e.run_id.as_deref().unwrap_or_default());
            }
            "run_failed" | "run_cancelled" => panic!("run failed: {:?}", e.data),
            _ => {}
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = rt.block_on(setup(dir.path()));
    let mut group = c.benchmark_group("engine");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(15));

    let runtime = engine.runtime().clone();
    let plugin = rt
        .block_on(runtime.load(&std::fs::read(baton_plugins::test_programs::NOOP).unwrap()))
        .unwrap();
    group.throughput(Throughput::Elements(1));
    group.bench_function("task/bare", |b| {
        b.to_async(&rt).iter(|| async {
            let attempt = runtime
                .run(
                    &plugin,
                    TaskRequest {
                        context: TaskContext::new("r", "n", 1),
                        config: "{}".into(),
                        input: "{}".into(),
                        grants: Default::default(),
                        limits: Limits::default(),
                    },
                )
                .await;
            assert!(attempt.result.is_ok());
        })
    });

    group.throughput(Throughput::Elements(40));
    group.bench_function("chain/40", |b| {
        b.to_async(&rt)
            .iter(|| run_all(&engine, "chain-40", 1, json!({})))
    });

    group.throughput(Throughput::Elements(1000));
    group.bench_function("runs/100x10", |b| {
        b.to_async(&rt)
            .iter(|| run_all(&engine, "chain-10", 100, json!({})))
    });

    let items: Vec<u32> = (0..1000).collect();
    group.bench_function("fanout/1000", |b| {
        b.to_async(&rt)
            .iter(|| run_all(&engine, "fanout", 1, json!({"items": items})))
    });
    group.finish();

    // A plain-text summary: sustained throughput, and what a parked run costs.
    rt.block_on(async {
        let started = Instant::now();
        run_all(&engine, "chain-10", 200, json!({})).await;
        let per_second = 2000.0 / started.elapsed().as_secs_f64();
        println!("summary: 200 runs x 10 tasks: {per_second:.0} task executions/s");

        engine
            .apply_workflow("name: parked\nnodes:\n  approve: { type: approval }\n")
            .await
            .unwrap();
        let before = resident_bytes();
        let parked = 5000;
        for _ in 0..parked {
            engine
                .start_run("parked", json!({}), StartOptions::default())
                .await
                .unwrap();
        }
        let after = resident_bytes();
        println!(
            "summary: {parked} runs parked on approvals: {} active, {:.1} KiB of resident memory each",
            engine.active_runs(),
            (after.saturating_sub(before)) as f64 / parked as f64 / 1024.0
        );
    });
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

//! The fast path: pure steps (no grants) go on without waiting for the
//! disk, and nothing about them leaves the engine before it is committed.
//! Each test holds the store's commits back and looks from outside: the
//! store, the event stream, `wait_finished` and the simulated PLC.

use std::time::Duration;

use baton_engine::{EngineConfig, Event, FastPath};
use baton_store::RunStatus;
use serde_json::json;

use crate::support::{Db, Harness, events, fast_path};

/// `a` is slow enough to hold the commits while it runs; `b` and `c` are
/// pure; `w` writes the PLC; `d` is pure again.
const MIXED: &str = r#"
name: mixed
nodes:
  a: { plugin: scripted@1, config: { sleep_ms: 300 } }
  b: { needs: [a], plugin: scripted@1 }
  c: { needs: [b], plugin: scripted@1 }
  w:
    needs: [c]
    plugin: modbus-write@1
    config: { device: oven-1, kind: holding, address: 100 }
    input: { values: "[7]" }
    grants: { plc: [{ device: oven-1, write: ["holding:100"] }] }
  d: { needs: [w], plugin: scripted@1 }
"#;

/// Attempts the engine has finished successfully, from its metrics.
fn succeeded(h: &Harness) -> u64 {
    h.engine.metrics().succeeded.count()
}

async fn until_succeeded(h: &Harness, n: u64) {
    for _ in 0..200 {
        if succeeded(h) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("only {} attempts succeeded, not {n}", succeeded(h));
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::kind).collect()
}

/// The fast path with a `max_delay` longer than any of these tests: the
/// run's first pure step (`a`, 300 ms) waits for a commit point with the
/// steps after it, and would otherwise fall due at 100 ms, while the test
/// holds the commits.
fn patient() -> EngineConfig {
    fast_path(FastPath {
        max_delay: Duration::from_secs(30),
        ..FastPath::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pure_steps_run_ahead_of_their_commit_and_nothing_of_them_shows_until_it_happens() {
    let h = Harness::configured(Db::sqlite(), patient()).await;
    h.apply(MIXED).await;
    let mut stream = h.engine.store().subscribe();
    let id = h.start("mixed", json!({})).await;
    let created = events(h.engine.store(), &id).await;
    let hold = h.engine.store().hold_commits().await;
    // The first step is pure: the creation committed the run's start alone.
    assert_eq!(kinds(&created), ["run_started"]);

    // a, b and c run while no commit can happen...
    until_succeeded(&h, 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...but none of it is visible, and the step that holds a grant waits.
    assert_eq!(events(h.engine.store(), &id).await, created);
    let mut streamed = Vec::new();
    while let Ok(e) = stream.try_recv() {
        streamed.push(e.kind.clone());
    }
    assert!(
        streamed
            .iter()
            .all(|k| ["run_started", "node_started", "attempt_started"].contains(&k.as_str())),
        "only the run's creation was streamed before the commit: {streamed:?}"
    );
    assert_eq!(
        h.engine
            .wait_finished(&id, Duration::from_millis(100))
            .await
            .unwrap(),
        None
    );
    let (_, state, wf) = h.engine.inspect(&id).await.unwrap();
    let c = wf.index("c").unwrap();
    assert_eq!(state.nodes[c].status.as_str(), "pending", "as committed");
    assert!(
        h.plc.writes().is_empty(),
        "the PLC was written before the steps before it were committed"
    );
    assert_eq!(succeeded(&h), 3, "w did not start");

    drop(hold);
    let run = h.finish(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let writes = h.plc.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0].address, writes[0].values.clone()),
        (100, vec![7])
    );

    // In the log, every pure step's result comes before the write started.
    let stored = h.engine.store().all_events(&id).await.unwrap();
    let seq = |kind: &str, node: &str| {
        stored
            .iter()
            .find(|e| e.kind == kind && e.node_id.as_deref() == Some(node))
            .map(|e| e.seq)
            .unwrap_or_else(|| panic!("no {kind} of {node}"))
    };
    let w_started = seq("attempt_started", "w");
    for node in ["a", "b", "c"] {
        assert!(seq("node_succeeded", node) < w_started, "{node}");
    }
    let all = events(h.engine.store(), &id).await;
    assert_eq!(
        kinds(&all)
            .iter()
            .filter(|k| **k == "attempt_succeeded")
            .count(),
        5,
        "each step ran once: {:?}",
        kinds(&all)
    );
}

/// A chain whose second step is slow, so that a hold taken while it runs
/// catches the third step's start.
const CHAIN: &str = r#"
name: chain
nodes:
  a: { plugin: scripted@1, config: { sleep_ms: 300 } }
  b: { needs: [a], plugin: scripted@1, DURABLE }
  c: { needs: [b], plugin: scripted@1 }
"#;

/// Whether `b` starts while commits are held, after `a` ended.
async fn next_step_runs_while_held(config: EngineConfig, durable: bool) -> bool {
    let h = Harness::configured(Db::sqlite(), config).await;
    let yaml = CHAIN.replace("DURABLE", if durable { "durable: true" } else { "" });
    h.apply(&yaml).await;
    let id = h.start("chain", json!({})).await;
    let hold = h.engine.store().hold_commits().await;
    until_succeeded(&h, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ran = succeeded(&h) > 1;
    drop(hold);
    let run = h.finish(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    ran
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_node_and_a_disabled_fast_path_wait_for_the_commit() {
    assert!(
        next_step_runs_while_held(patient(), false).await,
        "a pure step runs before the previous one is committed"
    );
    assert!(
        !next_step_runs_while_held(patient(), true).await,
        "a `durable: true` step waits for the commit"
    );
    let off = fast_path(FastPath {
        enabled: false,
        ..FastPath::default()
    });
    assert!(
        !next_step_runs_while_held(off, false).await,
        "with the fast path off, every step waits for the commit"
    );
}

/// A run whose first step holds a grant commits that step's start with its
/// creation, as before the step acts: two commits in all for one such
/// step, not a third for the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_step_that_holds_a_grant_starts_in_the_creations_commit() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: write-first
nodes:
  w:
    plugin: modbus-write@1
    config: { device: oven-1, kind: holding, address: 101 }
    input: { values: "[9]" }
    grants: { plc: [{ device: oven-1, write: ["holding:101"] }] }
"#,
    )
    .await;
    let commits = || h.engine.store().writer_stats().commits();
    let before = commits();
    let id = h.start("write-first", json!({})).await;
    let run = h.finish(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(
        commits() - before,
        2,
        "the creation with w's start, then its end"
    );
    let stored = h.engine.store().all_events(&id).await.unwrap();
    let kinds: Vec<&str> = stored.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds[..3],
        ["run_started", "node_started", "attempt_started"],
        "{kinds:?}"
    );
    assert_eq!(
        stored[2].at, stored[0].at,
        "w started in the creation's commit"
    );
    let writes = h.plc.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0].address, writes[0].values.clone()),
        (101, vec![9])
    );
}

/// A long pure chain commits its progress at least every `max_delay`, so
/// a crash repeats a bounded amount of work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_pure_chain_commits_its_progress_every_max_delay() {
    let config = fast_path(FastPath {
        max_delay: Duration::from_millis(50),
        ..FastPath::default()
    });
    let h = Harness::configured(Db::sqlite(), config).await;
    let mut yaml =
        "name: long\nnodes:\n  s0: { plugin: scripted@1, config: { sleep_ms: 10 } }\n".to_string();
    for i in 1..40 {
        yaml += &format!(
            "  s{i}: {{ needs: [s{}], plugin: scripted@1, config: {{ sleep_ms: 10 }} }}\n",
            i - 1
        );
    }
    h.apply(&yaml).await;
    let batches = || h.engine.store().writer_stats().commits();
    let before = batches();
    let run = h.run("long", json!({})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let commits = batches() - before;
    // 40 steps of at least 10 ms: 400 ms or more, so at least 4 commits of
    // progress besides the creation and the end, and far fewer than 40.
    assert!(
        (5..40).contains(&commits),
        "{commits} commits for 40 pure steps"
    );
}

/// A pure step whose start and end are committed together is stored as one
/// `node_succeeded` event that carries the step, and the state read back
/// from the store is the state the four events it stands for give.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pure_step_committed_whole_is_one_stored_event_and_replays_the_same() {
    let h = Harness::configured(Db::sqlite(), EngineConfig::default()).await;
    let mut yaml = "name: short\nnodes:\n  s0: { plugin: scripted@1 }\n".to_string();
    for i in 1..5 {
        let before = i - 1;
        yaml += &format!(
            "  s{i}: {{ needs: [s{before}], plugin: scripted@1, input: \"nodes.s{before}.output\" }}\n"
        );
    }
    h.apply(&yaml).await;
    let run = h.run("short", json!({"n": 1})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);

    let stored = h.engine.store().all_events(&run.id).await.unwrap();
    let kinds: Vec<&str> = stored.iter().map(|e| e.kind.as_str()).collect();
    // The creation's commit holds the run's start alone: the first step,
    // pure too, waits with the others and is as whole as they are.
    assert_eq!(
        kinds,
        [
            "run_started",
            "node_succeeded",
            "node_succeeded",
            "node_succeeded",
            "node_succeeded",
            "node_succeeded",
            "run_succeeded"
        ]
    );
    for e in &stored[1..6] {
        assert_eq!(e.data["step"]["attempt"], 1, "{:?}", e.data);
        assert!(e.data["step"]["input"].is_object(), "{:?}", e.data);
    }

    let (_, state, wf) = h.engine.inspect(&run.id).await.unwrap();
    let events: Vec<(Event, i64)> = stored
        .iter()
        .flat_map(|e| {
            let event: Event = serde_json::from_value(e.data.clone()).unwrap();
            event.unfolded().into_iter().map(|x| (x, e.at))
        })
        .collect();
    assert_eq!(
        events.len(),
        22,
        "five steps of four events and the run's two"
    );
    let unfolded = baton_engine::state::RunState::replay(
        &run.id,
        run.input.clone(),
        &wf,
        events.iter().map(|(e, at)| (e, *at)),
    );
    assert_eq!(state, unfolded);
    for i in 1..5 {
        let node = &state.nodes[wf.index(&format!("s{i}")).unwrap()];
        let before = &state.nodes[wf.index(&format!("s{}", i - 1)).unwrap()];
        assert_eq!(node.status.as_str(), "succeeded");
        assert_eq!(node.execs.len(), 1);
        assert_eq!(node.execs[0].attempt, 1);
        assert!(node.input.is_some());
        assert_eq!(node.input, before.output, "s{i} got s{}'s output", i - 1);
    }

    // The whole steps' attempts have no rows of their own: the table has
    // none. The engine lists all five, each as its event has it, in order.
    let rows = h.engine.store().executions(&run.id).await.unwrap();
    assert!(rows.is_empty(), "{rows:?}");
    let listed = h.executions(&run.id).await;
    let nodes: Vec<&str> = listed.iter().map(|x| x.node_id.as_str()).collect();
    assert_eq!(nodes, ["s0", "s1", "s2", "s3", "s4"]);
    let mut after = listed[0].started_at;
    for (x, e) in listed.iter().zip(&stored[1..6]) {
        assert_eq!((x.status.as_str(), x.attempt), ("succeeded", 1), "{x:?}");
        assert_eq!(x.output.as_ref(), Some(&e.data["output"]), "{x:?}");
        assert_eq!(json!(x.started_at), e.data["step"]["started_at"], "{x:?}");
        let duration = e.data["step"]["duration_ms"].as_i64().unwrap();
        assert_eq!(x.finished_at, Some(x.started_at + duration), "{x:?}");
        assert!(x.started_at >= after && x.started_at <= e.at, "{x:?}");
        after = x.started_at;
    }
}

/// A pure step is polled first in the run's own task; one that computes
/// past an epoch tick goes on as a task of its own. The run's other branch
/// then runs and commits beside it, and a cancel stops it at once rather
/// than at its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pure_step_that_computes_on_does_not_hold_up_its_run() {
    let h = Harness::configured(Db::sqlite(), EngineConfig::default()).await;
    h.engine
        .add_plugin(&std::fs::read(baton_plugins::test_programs::HOSTILE).unwrap())
        .await
        .unwrap();
    h.apply(
        r#"
name: spinning
nodes:
  spin: { plugin: hostile@1, config: { mode: spin }, timeout: 20s, limits: { cpu: 20s } }
  quick: { plugin: scripted@1 }
  after: { needs: [quick], plugin: scripted@1 }
"#,
    )
    .await;
    let id = h.start("spinning", json!({})).await;
    h.until_event(
        &id,
        |e| matches!(e, Event::NodeSucceeded { node, .. } if node == "after"),
    )
    .await;
    let asked = std::time::Instant::now();
    h.engine.cancel(&id, "ana", "enough").await.unwrap();
    let run = h.finish(&id).await;
    assert_eq!(run.status, RunStatus::Cancelled, "{:?}", run.error);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "the spinning step was stopped only after {:?}",
        asked.elapsed()
    );
    let x = h.executions(&id).await;
    let spin: Vec<_> = x.iter().filter(|e| e.node_id == "spin").collect();
    assert_eq!(spin.len(), 1, "{x:?}");
    assert_eq!(spin[0].error_kind.as_deref(), Some("cancelled"), "{x:?}");
}

/// The end of a run of pure steps that nobody waits for or watches waits
/// for another commit, up to the writer's 5 ms (see `docs/engine.md`, "An
/// unobserved run's end waits for another commit"): with nothing else to
/// commit, it is committed that long after its last step ended, as the
/// stored times show. A run with a caller waiting is committed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unobserved_runs_end_waits_for_another_commit() {
    let h = Harness::configured(Db::sqlite(), EngineConfig::default()).await;
    // The step outlasts the run's creation, which waits in the writer too.
    h.apply("name: one\nnodes:\n  a: { plugin: scripted@1, config: { sleep_ms: 30 } }\n")
        .await;
    let id = h.start("one", json!({})).await;
    // Read from the store, with no waiter and no event stream open.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let run = h
            .engine
            .store()
            .run(&id)
            .await
            .unwrap()
            .expect("the run is stored");
        if run.status.is_terminal() {
            assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the run did not end");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let stored = h.engine.store().all_events(&id).await.unwrap();
    let step = stored
        .iter()
        .find(|e| e.kind == "node_succeeded")
        .expect("a's step is stored");
    let ended = step.data["step"]["started_at"].as_i64().unwrap()
        + step.data["step"]["duration_ms"].as_i64().unwrap();
    let end = stored.last().unwrap();
    assert_eq!(end.kind, "run_succeeded");
    // Whole milliseconds on both sides: at least 4 of the writer's 5.
    assert!(
        end.at - ended >= 4,
        "the run's end was committed {} ms after its step ended: it did not wait",
        end.at - ended
    );
}

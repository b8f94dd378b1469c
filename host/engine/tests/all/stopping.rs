//! Stopping work that is acting on the plant: engaging the interlock aborts
//! running attempts that hold a write grant, and cancelling a run stops its
//! running attempts at once. Both are proved from the PLC's side: its
//! register stops changing.

use std::time::{Duration, Instant};

use baton_store::RunStatus;
use serde_json::json;

use crate::support::{Harness, assert_status, attempts};

const REGISTER: usize = 20;

/// A run whose `writer` node writes a rising counter to the PLC until stopped,
/// next to a `reader` that only holds a read grant.
async fn writing(h: &Harness) -> String {
    h.engine
        .add_plugin(&std::fs::read(baton_plugins::test_programs::HOSTILE).unwrap())
        .await
        .unwrap();
    h.apply(&format!(
        r#"
name: writing
nodes:
  writer:
    plugin: hostile@1
    config: {{ mode: write-loop, size: {REGISTER} }}
    grants: {{ plc: [{{ device: oven-1, write: ["holding:{REGISTER}"] }}] }}
    timeout: 20s
    limits: {{ cpu: 20s }}
  reader:
    plugin: hostile@1
    config: {{ mode: spin }}
    grants: {{ plc: [{{ device: oven-1, read: ["holding:0-9"] }}] }}
    timeout: 3s
    limits: {{ cpu: 1s }}
"#
    ))
    .await;
    let run = h.start("writing", json!({})).await;
    let before = h.plc.oven().memory().holding[REGISTER];
    wait_for(|| h.plc.oven().memory().holding[REGISTER] != before).await;
    run
}

async fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How long after now the register keeps changing: polls until it has held
/// still for 300 ms, and returns when it last changed.
async fn settles(h: &Harness) -> Duration {
    let started = Instant::now();
    let mut last = h.plc.oven().memory().holding[REGISTER];
    let mut changed = Duration::ZERO;
    while started.elapsed() < changed + Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = h.plc.oven().memory().holding[REGISTER];
        if now != last {
            last = now;
            changed = started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never settled");
    }
    changed
}

#[tokio::test]
async fn engaging_the_interlock_aborts_attempts_that_can_write() {
    let h = Harness::new().await;
    let run = writing(&h).await;
    h.engine.set_interlock(true, "ana").await.unwrap();
    let stopped_after = settles(&h).await;
    eprintln!("the PLC saw its last write {stopped_after:?} after the interlock was engaged");
    assert!(
        stopped_after < Duration::from_millis(100),
        "writes went on for {stopped_after:?}"
    );
    let finished = h.finish(&run).await;
    assert_status(&finished, RunStatus::Failed);
    let x = h.executions(&run).await;
    let writer = attempts(&x, "writer");
    assert_eq!(writer.len(), 1, "an interlock abort is not retried");
    assert!(
        writer[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("the safety interlock was engaged"),
        "{writer:?}"
    );
    // The reader holds no write grant: it ran on until its own CPU bound.
    let reader = attempts(&x, "reader");
    assert!(
        !reader[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("interlock"),
        "{reader:?}"
    );
    h.engine.set_interlock(false, "ana").await.unwrap();
}

#[tokio::test]
async fn cancelling_a_run_stops_its_running_attempts_at_once() {
    let h = Harness::new().await;
    let run = writing(&h).await;
    let asked = Instant::now();
    h.engine.cancel(&run, "ana", "line stop").await.unwrap();
    let answered = asked.elapsed();
    let stopped_after = settles(&h).await;
    eprintln!(
        "cancel answered in {answered:?}; the PLC saw its last write {stopped_after:?} after that"
    );
    assert!(
        answered + stopped_after < Duration::from_millis(100),
        "writes went on for {:?} after the cancel",
        answered + stopped_after
    );
    assert_status(&h.finish(&run).await, RunStatus::Cancelled);
}

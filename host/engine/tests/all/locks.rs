//! Equipment locks: one recipe at a time on an oven, queued runs starting
//! in arrival order, `reject`, limits, node locks with computed names, and
//! locks that outlive a crash.

use std::time::Duration;

use baton_engine::{Error, Event, StartOptions};
use baton_store::RunStatus;
use serde_json::json;

use crate::support::*;

const BAKE: &str = r#"
name: bake
locks: ["oven-1"]
nodes:
  heat:
    plugin: modbus-write@1
    config: { device: oven-1, kind: coil, address: 3, values: [true] }
    grants: { plc: [{ device: oven-1, write: ["coil:3"] }] }
  done:
    needs: [heat]
    type: approval
"#;

async fn waiting(h: &Harness, run: &str) {
    h.until_event(run, |e| matches!(e, Event::NodeWaiting { .. }))
        .await;
}

fn started(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::NodeStarted { .. } | Event::NodeWaiting { .. }))
}

#[tokio::test]
async fn a_second_run_on_the_oven_starts_only_after_the_first_ends() {
    let h = Harness::new().await;
    h.apply(BAKE).await;
    let first = h.start("bake", json!({})).await;
    waiting(&h, &first).await;
    let second = h.start("bake", json!({})).await;
    let third = h.start("bake", json!({})).await;
    h.until_event(&third, |e| matches!(e, Event::LocksRequested { .. }))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !started(&h.events(&second).await),
        "second waits for the oven"
    );

    let locks = h.engine.locks().await.unwrap();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0].key, "oven-1");
    assert_eq!(locks[0].holders[0].run_id, first);
    let queue: Vec<&str> = locks[0].queue.iter().map(|q| q.run_id.as_str()).collect();
    assert_eq!(queue, [second.as_str(), third.as_str()], "arrival order");
    assert_eq!(h.plc.writes().len(), 1, "only the first wrote to the oven");

    h.engine
        .decide_approval(&first, "done", true, "ana", None)
        .await
        .unwrap();
    assert_status(&h.finish(&first).await, RunStatus::Succeeded);
    waiting(&h, &second).await;
    assert!(
        !started(&h.events(&third).await),
        "third is still behind second"
    );
    assert_eq!(h.plc.writes().len(), 2);
    let locks = h.engine.locks().await.unwrap();
    assert_eq!(locks[0].holders[0].run_id, second);

    // Cancelling the holder frees the oven too.
    h.engine
        .cancel(&second, "ana", "wrong recipe")
        .await
        .unwrap();
    assert_status(&h.finish(&second).await, RunStatus::Cancelled);
    waiting(&h, &third).await;
}

#[tokio::test]
async fn with_reject_a_second_run_is_refused_and_nothing_is_created() {
    let h = Harness::new().await;
    h.apply(&BAKE.replace(
        r#"locks: ["oven-1"]"#,
        "locks: [{ key: oven-1, on_conflict: reject }]",
    ))
    .await;
    let first = h.start("bake", json!({})).await;
    waiting(&h, &first).await;
    match h
        .engine
        .start_run("bake", json!({}), StartOptions::default())
        .await
    {
        Err(Error::Conflict(m)) => assert!(m.contains("oven-1"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let runs = h
        .engine
        .store()
        .list_runs(&baton_store::RunFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "the refused run was not created");
}

#[tokio::test]
async fn locks_and_their_queue_survive_a_crash() {
    let h = Harness::new().await;
    h.apply(BAKE).await;
    let first = h.start("bake", json!({})).await;
    waiting(&h, &first).await;
    let second = h.start("bake", json!({})).await;
    h.until_event(&second, |e| matches!(e, Event::LocksRequested { .. }))
        .await;
    h.engine.halt();

    let engine = h.restart().await;
    let locks = engine.locks().await.unwrap();
    assert_eq!(locks[0].holders[0].run_id, first, "still held by the first");
    assert_eq!(locks[0].queue[0].run_id, second);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!started(&events(engine.store(), &second).await));

    engine
        .decide_approval(&first, "done", true, "ana", None)
        .await
        .unwrap();
    until_event(engine.store(), &second, |e| {
        matches!(e, Event::NodeWaiting { .. })
    })
    .await;
    assert_eq!(h.plc.writes().len(), 2);
}

#[tokio::test]
async fn node_locks_with_computed_names_and_a_limit() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: line
nodes:
  fill:
    plugin: scripted@1
    config: { sleep_ms: 400 }
    locks:
      - "'line-' + string(input.line)"
      - { key: filler, limit: 2 }
"#,
    )
    .await;
    let began = std::time::Instant::now();
    let a = h.start("line", json!({"line": 1})).await;
    let b = h.start("line", json!({"line": 2})).await;
    let c = h.start("line", json!({"line": 1})).await;
    for run in [&a, &b, &c] {
        assert_status(&h.finish(run).await, RunStatus::Succeeded);
    }
    // a and b share nothing but the filler (limit 2): they overlap; c waits
    // for a's line.
    let x = |run: &str| {
        let h = &h;
        let run = run.to_string();
        async move {
            let x = h.executions(&run).await;
            (x[0].started_at, x[0].finished_at.unwrap())
        }
    };
    let ((_, a1), (b0, _), (c0, _)) = (x(&a).await, x(&b).await, x(&c).await);
    assert!(b0 < a1, "b ran beside a");
    assert!(c0 >= a1, "c waited for line-1: started {c0}, a ended {a1}");
    assert!(
        began.elapsed() >= Duration::from_millis(800),
        "c's 400 ms came after a's"
    );
    assert!(h.engine.locks().await.unwrap().is_empty(), "all given back");
}

#[tokio::test]
async fn a_lock_holds_across_the_nodes_of_a_cluster() {
    let Some(db) = Db::postgres().await else {
        return;
    };
    let a = Harness::configured(db, cluster_node("a")).await;
    a.apply(BAKE).await;
    let b = start_engine_with(&a.db.url, &a.plc.url(), cluster_node("b")).await;

    let first = a.start("bake", json!({})).await;
    waiting(&a, &first).await;
    // Started on the other node, the second run queues behind the first.
    let second = b
        .start_run("bake", json!({}), StartOptions::default())
        .await
        .unwrap()
        .run_id;
    until_event(b.store(), &second, |e| {
        matches!(e, Event::LocksRequested { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!started(&events(b.store(), &second).await));
    let seen_from_b = b.locks().await.unwrap();
    assert_eq!(seen_from_b[0].holders[0].run_id, first);
    assert_eq!(seen_from_b[0].queue[0].run_id, second);

    // The first ends on node a; node b's run gets the oven.
    a.engine
        .decide_approval(&first, "done", true, "ana", None)
        .await
        .unwrap();
    until_event(b.store(), &second, |e| {
        matches!(e, Event::NodeWaiting { .. })
    })
    .await;
    assert!(b.runs_here(&second), "it ran on node b");
    assert_eq!(a.plc.writes().len(), 2);
    b.halt();
}

#[tokio::test]
async fn a_node_that_refuses_to_wait_fails_naming_the_lock() {
    let h = Harness::new().await;
    h.apply(BAKE).await;
    h.apply(
        "name: quick\nnodes:\n  peek:\n    plugin: scripted@1\n    locks: [{ key: oven-1, on_conflict: reject }]\n",
    )
    .await;
    let holder = h.start("bake", json!({})).await;
    waiting(&h, &holder).await;
    let run = h.run("quick", json!({})).await;
    assert_status(&run, RunStatus::Failed);
    let why = run.error.unwrap_or_default();
    assert!(
        why.contains("`oven-1`") && why.contains("on_conflict: reject"),
        "{why}"
    );
    assert!(h.executions(&run.id).await.is_empty(), "the node never ran");
    let locks = h.engine.locks().await.unwrap();
    assert_eq!(locks[0].holders.len(), 1);
    assert!(
        locks[0].queue.is_empty(),
        "the refused request left nothing behind"
    );
}

//! Retention: the background sweep deletes finished runs with their node
//! executions and events, batch after batch, counts every row it deleted,
//! leaves a waiting run and the audit log alone, and stops with the engine.

use std::time::{Duration, Instant};

use baton_engine::{RetentionConfig, StartOptions};
use baton_store::{Deleted, NewEvent};
use serde_json::json;

use crate::support::*;

// `durable`, so that each attempt has its execution row for the sweep to
// delete: a pure step committed whole has none, its event stands for it.
const TWO_STEPS: &str = r#"
name: two-steps
nodes:
  a: { plugin: scripted@1, durable: true }
  b: { needs: [a], plugin: scripted@1, durable: true }
"#;

const GATED: &str = r#"
name: gated
nodes:
  approve: { type: approval }
"#;

#[tokio::test]
async fn the_sweep_deletes_finished_runs_and_counts_every_row() {
    let h = Harness::new().await;
    h.apply(TWO_STEPS).await;
    h.apply(GATED).await;
    let store = h.engine.store();

    let mut finished = Vec::new();
    let mut expected = Deleted::default();
    for i in 0..3 {
        let options = StartOptions {
            audit: Some(NewEvent {
                kind: "run.start".into(),
                node_id: None,
                actor: Some("ana".into()),
                data: json!({"details": {}}).into(),
            }),
            ..StartOptions::default()
        };
        let id = h
            .engine
            .start_run("two-steps", json!({"n": i}), options)
            .await
            .unwrap()
            .run_id;
        h.finish(&id).await;
        expected.runs += 1;
        expected.events += store.all_events(&id).await.unwrap().len() as u64;
        expected.node_executions += store.executions(&id).await.unwrap().len() as u64;
        finished.push(id);
    }
    assert!(
        expected.events > 3 && expected.node_executions >= 6,
        "{expected:?}"
    );
    let waiting = h.start("gated", json!({})).await;
    h.until_event(&waiting, |e| {
        matches!(e, baton_engine::Event::NodeWaiting { .. })
    })
    .await;
    let waiting_events = store.all_events(&waiting).await.unwrap().len();
    assert_eq!(store.audit(None, 10).await.unwrap().len(), 3);
    tokio::time::sleep(Duration::from_millis(5)).await;

    // A tiny age and batch, so that every run goes over several batches.
    h.engine.spawn_retention(RetentionConfig {
        runs: Some(Duration::from_millis(1)),
        audit: None,
        batch: 4,
        interval: Duration::from_millis(50),
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.engine.retention().deleted.runs < 3 {
        assert!(Instant::now() < deadline, "{:?}", h.engine.retention());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let status = h.engine.retention();
    assert_eq!(status.deleted, expected, "{status:?}");
    assert!(status.enabled && status.sweeps >= 1, "{status:?}");
    assert_eq!((status.runs_ms, status.audit_ms), (Some(1), None));
    assert_eq!(status.last_error, None);
    for id in &finished {
        assert!(
            store.run(id).await.unwrap().is_none(),
            "{id} is still there"
        );
        assert!(store.all_events(id).await.unwrap().is_empty());
        assert!(store.executions(id).await.unwrap().is_empty());
    }
    // The waiting run and the audit log are untouched.
    let run = store.run(&waiting).await.unwrap().unwrap();
    assert_eq!(run.status, baton_store::RunStatus::Running);
    assert_eq!(
        store.all_events(&waiting).await.unwrap().len(),
        waiting_events
    );
    assert_eq!(store.audit(None, 10).await.unwrap().len(), 3);

    // Halting the engine stops the sweep.
    h.engine.halt();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sweeps = h.engine.retention().sweeps;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.engine.retention().sweeps, sweeps, "the sweep went on");
}

#[tokio::test]
async fn without_an_age_nothing_is_swept() {
    let h = Harness::new().await;
    h.apply(TWO_STEPS).await;
    let run = h.run("two-steps", json!({})).await;
    h.engine.spawn_retention(RetentionConfig {
        interval: Duration::from_millis(100),
        ..RetentionConfig::default()
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = h.engine.retention();
    assert!(!status.enabled, "{status:?}");
    assert_eq!((status.sweeps, status.deleted), (0, Deleted::default()));
    assert!(h.engine.store().run(&run.id).await.unwrap().is_some());
}

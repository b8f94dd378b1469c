//! Workflow versions: a run keeps the version it started on.

use baton_store::RunStatus;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn applying_a_new_version_never_changes_a_started_run() {
    let h = Harness::new().await;
    let v1 = "name: line\nnodes:\n  approve: { type: approval }\n  step: { needs: [approve], plugin: scripted@1, config: { tag: v1 } }\n";
    h.apply(v1).await;
    let old = h.start("line", json!({})).await;
    h.until_event(&old, |e| {
        matches!(e, baton_engine::Event::NodeWaiting { .. })
    })
    .await;

    h.apply(&v1.replace("tag: v1", "tag: v2")).await;
    let versions = h.engine.store().workflow_versions("line").await.unwrap();
    assert_eq!(versions.iter().map(|v| v.0).collect::<Vec<_>>(), [1, 2]);

    h.engine
        .decide_approval(&old, "approve", true, "ana", None)
        .await
        .unwrap();
    let run = h.finish(&old).await;
    assert_status(&run, RunStatus::Succeeded);
    assert_eq!(run.version, 1);
    assert_eq!(run.output.unwrap()["step"]["tag"], json!("v1"));

    let new = h.start("line", json!({})).await;
    h.until_event(&new, |e| {
        matches!(e, baton_engine::Event::NodeWaiting { .. })
    })
    .await;
    h.engine
        .decide_approval(&new, "approve", true, "ana", None)
        .await
        .unwrap();
    let run = h.finish(&new).await;
    assert_eq!(run.version, 2);
    assert_eq!(run.output.unwrap()["step"]["tag"], json!("v2"));
}

#[tokio::test]
async fn an_invalid_workflow_is_refused_with_every_problem_and_nothing_is_stored() {
    let h = Harness::new().await;
    let err = h
        .engine
        .apply_workflow(
            r#"
name: broken
nodes:
  a: { plugin: nothing@1, needs: [ghost] }
  b: { plugin: scripted@1, when: "input.x >", grants: { plc: [{ device: no-such-plc, read: ["holding:0"] }] } }
"#,
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    for expected in [
        "node `a`, plugin",
        "node `a`, needs[0]",
        "node `b`, when",
        "node `b`, grants.plc[0].device",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    assert!(
        h.engine
            .store()
            .latest_workflow("broken")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn idempotency_keys_start_one_run() {
    let h = Harness::new().await;
    h.apply("name: once\nnodes:\n  a: { plugin: scripted@1 }\n")
        .await;
    let options = baton_engine::StartOptions {
        idempotency_key: Some("batch-17".into()),
        ..Default::default()
    };
    let first = h
        .engine
        .start_run("once", json!({}), options.clone())
        .await
        .unwrap();
    let second = h
        .engine
        .start_run("once", json!({}), options)
        .await
        .unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.run_id, second.run_id);
    let runs = h
        .engine
        .store()
        .list_runs(&baton_store::RunFilter {
            workflow: Some("once".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
}

#[tokio::test]
async fn the_interlock_denies_plc_writes_refuses_new_runs_and_survives_a_restart() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: write
nodes:
  heat:
    plugin: modbus-write@1
    config: { device: oven-1, kind: coil, address: 3, values: [true] }
    grants: { plc: [{ device: oven-1, write: ["coil:3"] }] }
  approve: { needs: [heat], type: approval }
  heat_later:
    needs: [approve]
    plugin: modbus-write@1
    config: { device: oven-1, kind: coil, address: 3, values: [true] }
    grants: { plc: [{ device: oven-1, write: ["coil:3"] }] }
"#,
    )
    .await;
    // A run already parked when the interlock is engaged: its later write is denied.
    let parked = h.start("write", json!({})).await;
    h.until_event(&parked, |e| {
        matches!(e, baton_engine::Event::NodeWaiting { .. })
    })
    .await;
    h.plc.oven().memory().coils[3] = false;

    h.engine.set_interlock(true, "ana").await.unwrap();
    let refused = h
        .engine
        .start_run("write", json!({}), Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, baton_engine::Error::Interlock),
        "{refused}"
    );

    h.engine
        .decide_approval(&parked, "approve", true, "ana", None)
        .await
        .unwrap();
    let run = h.finish(&parked).await;
    assert_status(&run, RunStatus::Failed);
    assert!(!h.plc.oven().heater(), "no write reached the PLC");
    let x = h.executions(&parked).await;
    assert!(
        attempts(&x, "heat_later")[0]
            .error
            .as_deref()
            .unwrap()
            .contains("interlock"),
        "{x:?}"
    );

    // Still engaged after a restart, until released.
    h.engine.halt();
    let engine = h.restart().await;
    assert!(engine.interlock());
    assert!(
        engine
            .start_run("write", json!({}), Default::default())
            .await
            .is_err()
    );
    engine.set_interlock(false, "ana").await.unwrap();
    let started = engine
        .start_run("write", json!({}), Default::default())
        .await
        .unwrap();
    assert!(
        started.created,
        "released, the interlock lets runs start again"
    );
}

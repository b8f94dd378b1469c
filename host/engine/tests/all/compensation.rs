//! Sagas: compensation in reverse completion order, recorded.

use baton_engine::Event;
use baton_store::{Phase, RunStatus};
use serde_json::json;

use crate::support::*;

const SAGA: &str = r#"
name: saga
on_failure: compensate
nodes:
  heat:
    plugin: modbus-write@1
    config: { device: oven-1, kind: coil, address: 3, values: [true] }
    grants: { plc: [{ device: oven-1, write: ["coil:3"] }] }
    compensate:
      plugin: modbus-write@1
      config: { device: oven-1, kind: coil, address: 3, values: [false] }
  reserve:
    needs: [heat]
    plugin: scripted@1
    config: { tag: reserve }
    compensate: { plugin: scripted@1, config: { tag: release } }
  log:
    needs: [reserve]
    plugin: scripted@1
  check:
    needs: [log]
    plugin: scripted@1
    input: "input.fail"
    config: { fail_attempts: 1, fail: fatal }
    when: "input.fail == true"
"#;

#[tokio::test]
async fn a_failed_run_compensates_completed_nodes_in_reverse_order() {
    let h = Harness::new().await;
    h.apply(SAGA).await;
    assert!(!h.plc.oven().heater());

    let run = h.run("saga", json!({"fail": true})).await;
    assert_status(&run, RunStatus::Failed);
    assert!(
        !h.plc.oven().heater(),
        "the heater must be switched off again"
    );

    let ev = h.events(&run.id).await;
    let compensated: Vec<&str> = ev
        .iter()
        .filter_map(|e| match e {
            Event::CompensationStarted { node, .. } => Some(node.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        compensated,
        ["reserve", "heat"],
        "reverse completion order; `log` has no compensation"
    );
    let succeeded: Vec<&str> = ev
        .iter()
        .filter_map(|e| match e {
            Event::CompensationSucceeded { node, .. } => Some(node.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(succeeded, ["reserve", "heat"]);

    // The compensation saw what it undoes, and is recorded as an execution.
    let x = h.executions(&run.id).await;
    let release = x
        .iter()
        .find(|e| e.node_id == "reserve" && e.phase == Phase::Compensate)
        .unwrap();
    assert_eq!(release.status, "succeeded");
    let out = release.output.as_ref().unwrap();
    assert_eq!(out["tag"], json!("release"));
    assert_eq!(out["key"], json!(format!("{}/reserve/compensate", run.id)));
    assert_eq!(out["input"]["output"]["tag"], json!("reserve"));
    assert!(matches!(ev.last(), Some(Event::RunFailed { .. })));
}

#[tokio::test]
async fn a_successful_run_compensates_nothing_and_the_effect_stays() {
    let h = Harness::new().await;
    h.apply(SAGA).await;
    let run = h.run("saga", json!({"fail": false})).await;
    assert_status(&run, RunStatus::Succeeded);
    assert!(
        h.plc.oven().heater(),
        "the heater stays on when nothing failed"
    );
    let ev = h.events(&run.id).await;
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::CompensationStarted { .. }))
    );
}

#[tokio::test]
async fn without_compensate_a_failed_run_leaves_completed_work_alone() {
    let h = Harness::new().await;
    h.apply(&SAGA.replace("on_failure: compensate", "on_failure: fail"))
        .await;
    let run = h.run("saga", json!({"fail": true})).await;
    assert_status(&run, RunStatus::Failed);
    assert!(h.plc.oven().heater());
    let ev = h.events(&run.id).await;
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::CompensationStarted { .. }))
    );
}

//! Run deadlines: past its deadline a run is cancelled, says why, and its
//! completed nodes are compensated.

use std::time::{Duration, Instant};

use baton_engine::Event;
use baton_store::RunStatus;
use serde_json::json;

use crate::support::*;

const CURE: &str = r#"
name: cure
on_failure: compensate
deadline: 1500ms
nodes:
  heat:
    plugin: modbus-write@1
    config: { device: oven-1, kind: coil, address: 3, values: [true] }
    grants: { plc: [{ device: oven-1, write: ["coil:3"] }] }
    compensate:
      plugin: modbus-write@1
      config: { device: oven-1, kind: coil, address: 3, values: [false] }
  cure:
    needs: [heat]
    type: delay
    duration: 1h
  unload:
    needs: [cure]
    plugin: scripted@1
"#;

#[tokio::test]
async fn a_run_past_its_deadline_is_cancelled_and_compensated() {
    let h = Harness::new().await;
    h.apply(CURE).await;
    let began = Instant::now();
    let run = h.start("cure", json!({})).await;
    h.until_event(&run, |e| matches!(e, Event::NodeWaiting { .. }))
        .await;
    assert!(h.plc.oven().heater());

    let done = h.finish(&run).await;
    let took = began.elapsed();
    assert_status(&done, RunStatus::Cancelled);
    assert!(
        took >= Duration::from_millis(1400),
        "cancelled after {took:?}, before its deadline"
    );
    let reason = done.error.unwrap_or_default();
    assert!(reason.contains("deadline"), "{reason}");
    assert!(!h.plc.oven().heater(), "the compensation switched it off");
    let ev = h.events(&run).await;
    assert_eq!(node_outcome(&ev, "cure"), "cancelled");
    assert_eq!(node_outcome(&ev, "unload"), "pending");
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::CompensationSucceeded { node, .. } if node == "heat"))
    );
}

#[tokio::test]
async fn a_deadline_survives_a_restart() {
    let h = Harness::new().await;
    h.apply(CURE).await;
    let run = h.start("cure", json!({})).await;
    h.until_event(&run, |e| matches!(e, Event::NodeWaiting { .. }))
        .await;
    h.engine.halt();
    let engine = h.restart().await;
    let done = engine
        .wait_finished(&run, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_status(&done, RunStatus::Cancelled);
    assert!(done.error.unwrap_or_default().contains("deadline"));
    assert!(!h.plc.oven().heater());
}

#[tokio::test]
async fn a_run_within_its_deadline_is_not_touched() {
    let h = Harness::new().await;
    h.apply(
        &CURE
            .replace("duration: 1h", "duration: 10ms")
            .replace("1500ms", "1h"),
    )
    .await;
    let run = h.run("cure", json!({})).await;
    assert_status(&run, RunStatus::Succeeded);
    assert!(h.plc.oven().heater());
}

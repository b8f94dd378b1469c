//! Incidents: a node that fails for good under `on_failure: hold` holds the
//! run, and an operator retries, completes, skips or fails it. Upstream work
//! is never repeated: the simulated PLC's write log proves it.

use baton_engine::{Error, Event, Fix, Resolution};
use baton_store::RunStatus;
use serde_json::json;

use crate::support::*;

const HELD: &str = r#"
name: held
on_failure: hold
nodes:
  heat:
    plugin: modbus-write@1
    config: { device: oven-1, kind: coil, address: 3, values: [true] }
    grants: { plc: [{ device: oven-1, write: ["coil:3"] }] }
    compensate:
      plugin: modbus-write@1
      config: { device: oven-1, kind: coil, address: 3, values: [false] }
  setpoint:
    needs: [heat]
    plugin: modbus-write@1
    # Outside its grant: refused, a fatal error, so it fails for good.
    config: { device: oven-1, kind: holding, address: 21, values: [180] }
    grants: { plc: [{ device: oven-1, write: ["holding:20"] }] }
  report:
    needs: [setpoint]
    plugin: scripted@1
    input: "nodes.setpoint.output"
"#;

fn fix(action: Resolution) -> Fix {
    Fix::new(action)
}

/// Wait until the run is held with an incident on `node`.
async fn held_on(h: &Harness, run: &str, node: &str) {
    h.until_event(
        run,
        |e| matches!(e, Event::IncidentOpened { node: n, .. } if n == node),
    )
    .await;
    let stored = h.engine.store().run(run).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Held, "{stored:?}");
}

fn writes_to(h: &Harness, area: &str, address: u16) -> usize {
    h.plc
        .writes()
        .iter()
        .filter(|w| w.area == area && w.address == address)
        .count()
}

#[tokio::test]
async fn a_retry_with_a_corrected_config_finishes_the_run_without_rerunning_upstream() {
    let h = Harness::new().await;
    h.apply(HELD).await;
    let run = h.start("held", json!({})).await;
    held_on(&h, &run, "setpoint").await;
    assert_eq!(writes_to(&h, "coil", 3), 1);
    assert_eq!(writes_to(&h, "holding", 20), 0);

    let incidents = h.engine.incidents().await.unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0].run_id, run);
    assert_eq!(incidents[0].node, "setpoint");
    assert!(incidents[0].error.contains("denied"), "{:?}", incidents[0]);

    // A config the plugin's schema refuses is refused before anything changes.
    let bad = Fix {
        config: Some(json!({"device": "oven-1", "kind": "banana", "address": 20})),
        ..fix(Resolution::Retry)
    };
    match h
        .engine
        .resolve_incident(&run, "setpoint", bad, "ana")
        .await
    {
        Err(Error::Invalid(problems)) => {
            assert!(
                problems.0.iter().any(|p| p.node.as_deref() == Some("setpoint")
                    && p.field.starts_with("config")),
                "{problems:?}"
            );
        }
        other => panic!("expected the config to be refused, got {other:?}"),
    }
    // Nothing else can be resolved: `heat` has no incident.
    let wrong = h
        .engine
        .resolve_incident(&run, "heat", fix(Resolution::Skip), "ana")
        .await;
    assert!(matches!(wrong, Err(Error::Conflict(_))), "{wrong:?}");

    let corrected = Fix {
        config: Some(
            json!({"device": "oven-1", "kind": "holding", "address": 20, "values": [180]}),
        ),
        comment: Some("address typo".into()),
        ..fix(Resolution::Retry)
    };
    h.engine
        .resolve_incident(&run, "setpoint", corrected, "ana")
        .await
        .unwrap();
    let done = h.finish(&run).await;
    assert_status(&done, RunStatus::Succeeded);

    // Upstream did not run again; the corrected write happened once.
    assert_eq!(writes_to(&h, "coil", 3), 1, "{:?}", h.plc.writes());
    assert_eq!(writes_to(&h, "holding", 20), 1, "{:?}", h.plc.writes());
    assert_eq!(
        writes_to(&h, "holding", 21),
        0,
        "the refused write never reached the PLC"
    );
    assert_eq!(h.plc.oven().memory().holding[20], 180);

    // Attempt numbers go on; the retry is in the events with its actor.
    let x = h.executions(&run).await;
    let set: Vec<(u32, &str)> = attempts(&x, "setpoint")
        .iter()
        .map(|e| (e.attempt, e.status.as_str()))
        .collect();
    assert_eq!(set, [(1, "failed"), (2, "succeeded")]);
    assert_eq!(attempts(&x, "heat").len(), 1);
    let stored = h.engine.store().all_events(&run).await.unwrap();
    let resolved = stored
        .iter()
        .find(|e| e.kind == "incident_resolved")
        .expect("the resolution is an event");
    assert_eq!(resolved.actor.as_deref(), Some("ana"));
    assert_eq!(resolved.data["action"], "retry");
    assert_eq!(resolved.data["comment"], "address typo");
    assert!(h.engine.incidents().await.unwrap().is_empty());
}

#[tokio::test]
async fn completing_by_hand_feeds_the_given_output_downstream() {
    let h = Harness::new().await;
    h.apply(HELD).await;
    let run = h.start("held", json!({})).await;
    held_on(&h, &run, "setpoint").await;

    // The manual override needs its output and a comment.
    let no_comment = Fix {
        output: Some(json!({"written": 1})),
        ..fix(Resolution::Complete)
    };
    let refused = h
        .engine
        .resolve_incident(&run, "setpoint", no_comment, "ana")
        .await;
    assert!(matches!(refused, Err(Error::BadRequest(_))), "{refused:?}");
    let no_output = Fix {
        comment: Some("set on the panel".into()),
        ..fix(Resolution::Complete)
    };
    let refused = h
        .engine
        .resolve_incident(&run, "setpoint", no_output, "ana")
        .await;
    assert!(matches!(refused, Err(Error::BadRequest(_))), "{refused:?}");

    let by_hand = Fix {
        output: Some(json!({"written": 1, "by": "panel"})),
        comment: Some("set on the panel".into()),
        ..fix(Resolution::Complete)
    };
    h.engine
        .resolve_incident(&run, "setpoint", by_hand, "ana")
        .await
        .unwrap();
    let done = h.finish(&run).await;
    assert_status(&done, RunStatus::Succeeded);
    assert_eq!(
        done.output.as_ref().unwrap()["report"]["input"],
        json!({"written": 1, "by": "panel"}),
        "the dependant read the given output"
    );
    assert_eq!(writes_to(&h, "coil", 3), 1);
    let stored = h.engine.store().all_events(&run).await.unwrap();
    let resolved = stored
        .iter()
        .find(|e| e.kind == "incident_resolved")
        .unwrap();
    assert_eq!(resolved.actor.as_deref(), Some("ana"));
    assert_eq!(resolved.data["action"], "complete");
    assert_eq!(resolved.data["comment"], "set on the panel");
}

#[tokio::test]
async fn skipping_skips_what_needs_only_it_and_failing_compensates() {
    let h = Harness::new().await;
    h.apply(HELD).await;

    let skipped = h.start("held", json!({})).await;
    held_on(&h, &skipped, "setpoint").await;
    h.engine
        .resolve_incident(&skipped, "setpoint", fix(Resolution::Skip), "ana")
        .await
        .unwrap();
    let done = h.finish(&skipped).await;
    assert_status(&done, RunStatus::Succeeded);
    let ev = h.events(&skipped).await;
    assert_eq!(node_outcome(&ev, "setpoint"), "skipped");
    assert_eq!(node_outcome(&ev, "report"), "skipped");

    let failed = h.start("held", json!({})).await;
    held_on(&h, &failed, "setpoint").await;
    assert!(h.plc.oven().heater());
    let give_up = Fix {
        comment: Some("batch scrapped".into()),
        ..fix(Resolution::Fail)
    };
    h.engine
        .resolve_incident(&failed, "setpoint", give_up, "ana")
        .await
        .unwrap();
    let done = h.finish(&failed).await;
    assert_status(&done, RunStatus::Failed);
    assert!(
        done.error
            .as_deref()
            .unwrap_or_default()
            .contains("batch scrapped"),
        "{:?}",
        done.error
    );
    assert!(!h.plc.oven().heater(), "the heater was switched off again");
    let offs = h
        .plc
        .writes()
        .iter()
        .filter(|w| w.area == "coil" && w.address == 3 && w.values == [0])
        .count();
    assert_eq!(offs, 1, "one compensation");
}

#[tokio::test]
async fn a_held_run_stays_held_across_a_restart_and_can_be_retried_after_it() {
    held_across_a_restart(Db::sqlite()).await;
}

#[tokio::test]
async fn the_same_on_postgres() {
    if let Some(db) = Db::postgres().await {
        held_across_a_restart(db).await;
    }
}

async fn held_across_a_restart(db: Db) {
    let h = Harness::on(db).await;
    h.apply(HELD).await;
    let run = h.start("held", json!({})).await;
    held_on(&h, &run, "setpoint").await;
    h.engine.halt();

    let engine = h.restart().await;
    let stored = engine.store().run(&run).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Held);
    assert_eq!(engine.incidents().await.unwrap().len(), 1);
    let corrected = Fix {
        config: Some(json!({"device": "oven-1", "kind": "holding", "address": 20, "values": [7]})),
        ..fix(Resolution::Retry)
    };
    engine
        .resolve_incident(&run, "setpoint", corrected, "ana")
        .await
        .unwrap();
    let done = engine
        .wait_finished(&run, std::time::Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_status(&done, RunStatus::Succeeded);
    assert_eq!(
        writes_to(&h, "coil", 3),
        1,
        "heat ran once, before the restart"
    );
    assert_eq!(h.plc.oven().memory().holding[20], 7);
}

#[tokio::test]
async fn without_hold_a_failure_still_fails_the_run() {
    let h = Harness::new().await;
    h.apply(&HELD.replace("on_failure: hold", "on_failure: fail"))
        .await;
    let run = h.run("held", json!({})).await;
    assert_status(&run, RunStatus::Failed);
    let refused = h
        .engine
        .resolve_incident(&run.id, "setpoint", fix(Resolution::Skip), "ana")
        .await;
    assert!(matches!(refused, Err(Error::Conflict(_))), "{refused:?}");
}

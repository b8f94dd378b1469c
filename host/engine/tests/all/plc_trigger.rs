//! Runs started by PLC changes, against the simulated PLC: one run per edge,
//! nothing for a flapping signal or a device coming back, nothing again after
//! a restart, and one run per edge with two nodes polling.

use std::time::Duration;

use baton_connectors::HealthState;
use baton_engine::StartOptions;
use baton_sim::SimulatedPlc;
use baton_store::{AuditFilter, PlcTriggerState, RunFilter, RunRecord, Store};
use serde_json::json;

use crate::support::*;

/// A workflow `name` with one trigger.
fn workflow(name: &str, trigger: &str) -> String {
    format!("name: {name}\ntriggers:\n  - plc: {trigger}\nnodes:\n  a: {{ plugin: scripted@1 }}\n")
}

async fn runs(store: &Store, workflow: &str) -> Vec<RunRecord> {
    let mut runs = store
        .list_runs(&RunFilter {
            workflow: Some(workflow.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    runs.sort_by_key(|r| r.created_at);
    runs
}

async fn state(store: &Store, workflow: &str, key: &str) -> Option<PlcTriggerState> {
    store.plc_trigger(workflow, key).await.unwrap()
}

/// Wait until the trigger's stored state satisfies `pred`.
async fn until_state(
    store: &Store,
    workflow: &str,
    key: &str,
    pred: impl Fn(&PlcTriggerState) -> bool,
) {
    for _ in 0..200 {
        if state(store, workflow, key).await.is_some_and(|s| pred(&s)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "trigger {key}: the awaited state never came; it is {:?}",
        state(store, workflow, key).await
    );
}

/// Wait until `workflow` has `n` runs, then a little longer, and return them.
async fn until_runs(store: &Store, workflow: &str, n: usize) -> Vec<RunRecord> {
    for _ in 0..200 {
        if runs(store, workflow).await.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Long enough for a second run, if one were coming.
    tokio::time::sleep(Duration::from_millis(600)).await;
    runs(store, workflow).await
}

fn set_coil(plc: &SimulatedPlc, address: usize, on: bool) {
    plc.oven().memory().coils[address] = on;
}

fn set_holding(plc: &SimulatedPlc, address: usize, value: u16) {
    plc.oven().memory().holding[address] = value;
}

const COIL: &str = "oven-1/coil:5/rising";

#[tokio::test]
async fn a_rising_coil_starts_one_run_with_the_value_and_the_previous_one() {
    let h = Harness::new().await;
    h.apply(&workflow(
        "on-coil",
        "{ device: oven-1, coil: 5, edge: rising, interval: 50ms }",
    ))
    .await;
    let store = h.engine.store();
    // The first reading is the baseline, and starts nothing.
    until_state(store, "on-coil", COIL, |s| s.edges == 0 && !s.level).await;
    assert!(runs(store, "on-coil").await.is_empty());

    set_coil(&h.plc, 5, true);
    let started = until_runs(store, "on-coil", 1).await;
    assert_eq!(started.len(), 1, "one run per edge: {started:#?}");
    let run = h.finish(&started[0].id).await;
    assert_eq!(
        run.input,
        json!({"device": "oven-1", "kind": "coil", "address": 5, "edge": "rising",
               "value": true, "previous": false, "sequence": 1})
    );
    assert_eq!(run.trigger, format!("plc:{COIL}"));
    assert_eq!(
        run.idempotency_key.as_deref(),
        Some("plc:oven-1/coil:5/rising#1")
    );

    // A fall is counted but starts nothing; the next rise starts the second run.
    set_coil(&h.plc, 5, false);
    until_state(store, "on-coil", COIL, |s| s.edges == 2 && !s.level).await;
    assert_eq!(runs(store, "on-coil").await.len(), 1);
    set_coil(&h.plc, 5, true);
    let started = until_runs(store, "on-coil", 2).await;
    assert_eq!(started.len(), 2, "{started:#?}");
    assert_eq!(started[1].input["sequence"], 3);
}

#[tokio::test]
async fn a_coil_flapping_faster_than_the_debounce_starts_nothing() {
    let h = Harness::new().await;
    h.apply(&workflow(
        "flappy",
        "{ device: oven-1, coil: 5, interval: 50ms, debounce: 500ms }",
    ))
    .await;
    let store = h.engine.store();
    until_state(store, "flappy", COIL, |s| s.edges == 0).await;
    // On and off every 150 ms for two seconds: each on lasts less than 500 ms.
    for i in 0..14 {
        set_coil(&h.plc, 5, i % 2 == 0);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    set_coil(&h.plc, 5, false);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(runs(store, "flappy").await.is_empty());
    assert_eq!(state(store, "flappy", COIL).await.unwrap().edges, 0);

    // Held on for longer than the debounce, it counts.
    set_coil(&h.plc, 5, true);
    assert_eq!(until_runs(store, "flappy", 1).await.len(), 1);
}

#[tokio::test]
async fn a_restart_with_the_coil_still_high_does_not_start_another_run() {
    let h = Harness::new().await;
    h.apply(&workflow(
        "restarted",
        "{ device: oven-1, coil: 5, interval: 50ms }",
    ))
    .await;
    until_state(h.engine.store(), "restarted", COIL, |s| s.edges == 0).await;
    set_coil(&h.plc, 5, true);
    assert_eq!(until_runs(h.engine.store(), "restarted", 1).await.len(), 1);
    until_state(h.engine.store(), "restarted", COIL, |s| s.level).await;
    h.engine.halt();

    let engine = h.restart().await;
    let store = engine.store();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        runs(store, "restarted").await.len(),
        1,
        "the stored value is the baseline"
    );
    assert_eq!(state(store, "restarted", COIL).await.unwrap().edges, 1);

    // The new engine polls: a fall and a rise start the second run.
    set_coil(&h.plc, 5, false);
    until_state(store, "restarted", COIL, |s| !s.level).await;
    set_coil(&h.plc, 5, true);
    let started = until_runs(store, "restarted", 2).await;
    assert_eq!(started.len(), 2, "{started:#?}");
    assert_eq!(
        started[1].idempotency_key.as_deref(),
        Some("plc:oven-1/coil:5/rising#3")
    );
}

#[tokio::test]
async fn a_run_started_before_a_crash_is_not_started_again() {
    let h = Harness::new().await;
    h.apply(&workflow(
        "crashed",
        "{ device: oven-1, coil: 5, interval: 50ms }",
    ))
    .await;
    let store = h.engine.store();
    until_state(store, "crashed", COIL, |s| s.edges == 0).await;
    // As after a crash between starting the run of edge 1 and storing the
    // edge: the run is there, the stored state is still off.
    let before = h
        .engine
        .start_run(
            "crashed",
            json!({"before": "crash"}),
            StartOptions {
                idempotency_key: Some(format!("plc:{COIL}#1")),
                ..StartOptions::default()
            },
        )
        .await
        .unwrap();
    set_coil(&h.plc, 5, true);
    until_state(store, "crashed", COIL, |s| s.edges == 1 && s.level).await;
    let started = until_runs(store, "crashed", 2).await;
    assert_eq!(started.len(), 1, "{started:#?}");
    assert_eq!(started[0].id, before.run_id);
}

#[tokio::test]
async fn a_register_fires_once_above_and_again_only_after_going_below() {
    let h = Harness::new().await;
    h.apply(&workflow(
        "hot",
        "{ device: oven-1, holding: 20, above: 180, below: 170, interval: 50ms }",
    ))
    .await;
    let store = h.engine.store();
    let key = "oven-1/holding:20/above:180/below:170";
    until_state(store, "hot", key, |s| s.edges == 0).await;

    set_holding(&h.plc, 20, 185);
    let started = until_runs(store, "hot", 1).await;
    assert_eq!(started.len(), 1);
    assert_eq!(
        started[0].input,
        json!({"device": "oven-1", "kind": "holding", "address": 20, "edge": "rising",
               "value": 185, "previous": 0, "above": 180, "below": 170, "sequence": 1})
    );
    // Inside the band and above again: not re-armed, nothing new.
    set_holding(&h.plc, 20, 175);
    tokio::time::sleep(Duration::from_millis(300)).await;
    set_holding(&h.plc, 20, 190);
    assert_eq!(until_runs(store, "hot", 2).await.len(), 1);
    assert_eq!(state(store, "hot", key).await.unwrap().edges, 1);

    // Below `below` re-arms it; the next crossing starts the second run.
    set_holding(&h.plc, 20, 165);
    until_state(store, "hot", key, |s| !s.level).await;
    set_holding(&h.plc, 20, 181);
    let started = until_runs(store, "hot", 2).await;
    assert_eq!(started.len(), 2);
    assert_eq!(started[1].input["previous"], 165);
    assert_eq!(started[1].input["value"], 181);
}

#[tokio::test]
async fn a_device_back_from_an_outage_with_a_changed_value_starts_nothing() {
    let h = Harness::new().await;
    h.apply(&workflow(
        "outage",
        "{ device: oven-1, coil: 5, interval: 50ms }",
    ))
    .await;
    let store = h.engine.store();
    until_state(store, "outage", COIL, |s| s.edges == 0 && !s.level).await;

    let addr = h.plc.addr();
    h.plc.stop();
    let offline = AuditFilter {
        action: Some("trigger.plc_offline".into()),
        limit: 10,
        ..AuditFilter::default()
    };
    let mut entries = Vec::new();
    for _ in 0..200 {
        entries = store.audit_filtered(&offline).await.unwrap();
        if !entries.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(entries.len(), 1, "the outage is reported once");
    assert_eq!(entries[0].data["details"]["trigger"], COIL);
    assert_eq!(entries[0].actor.as_deref(), Some("plc:oven-1"));
    let health = h.engine.runtime().connectors().health();
    assert_eq!(
        health.plc[0].health.state,
        HealthState::Offline,
        "{health:?}"
    );

    // Back, with the coil on: the new baseline, not an edge.
    set_coil(&h.plc, 5, true);
    let _back = SimulatedPlc::start(addr, h.plc.oven().clone(), None)
        .await
        .unwrap();
    until_state(store, "outage", COIL, |s| s.level).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(runs(store, "outage").await.is_empty());
    let online = AuditFilter {
        action: Some("trigger.plc_online".into()),
        limit: 10,
        ..AuditFilter::default()
    };
    assert_eq!(store.audit_filtered(&online).await.unwrap().len(), 1);

    // It still watches: off and on again is an edge.
    set_coil(&h.plc, 5, false);
    until_state(store, "outage", COIL, |s| !s.level).await;
    set_coil(&h.plc, 5, true);
    assert_eq!(until_runs(store, "outage", 1).await.len(), 1);
}

#[tokio::test]
async fn two_nodes_polling_one_coil_start_one_run_per_edge() {
    let Some(db) = Db::postgres().await else {
        return;
    };
    let a = Harness::configured(db, cluster_node("a")).await;
    a.apply(&workflow(
        "shared",
        "{ device: oven-1, coil: 5, edge: both, interval: 50ms }",
    ))
    .await;
    let b = start_engine_with(&a.db.url, &a.plc.url(), cluster_node("b")).await;
    let store = a.engine.store();
    until_state(store, "shared", "oven-1/coil:5/both", |s| s.edges == 0).await;
    for (i, on) in [true, false, true].into_iter().enumerate() {
        set_coil(&a.plc, 5, on);
        let started = until_runs(store, "shared", i + 1).await;
        assert_eq!(started.len(), i + 1, "one run per edge: {started:#?}");
    }
    let started = runs(b.store(), "shared").await;
    let keys: Vec<_> = started
        .iter()
        .map(|r| r.idempotency_key.clone().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["#1", "#2", "#3"].map(|n| format!("plc:oven-1/coil:5/both{n}"))
    );
}

//! Approvals, delays and waits for MQTT messages and signals.

use std::time::Duration;

use baton_engine::Event;
use baton_store::RunStatus;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::json;

use crate::support::*;

const GATED: &str = r#"
name: gated
nodes:
  heat: { plugin: scripted@1 }
  approve: { needs: [heat], type: approval }
  go: { needs: [approve], plugin: scripted@1, input: "nodes.approve.output" }
"#;

fn waiting(node: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::NodeWaiting { node: n, .. } if n == node)
}

#[tokio::test]
async fn an_approved_step_continues_and_records_who_approved() {
    let h = Harness::new().await;
    h.apply(GATED).await;
    let id = h.start("gated", json!({})).await;
    h.until_event(&id, waiting("approve")).await;
    // Approving a node that is not waiting is refused.
    let wrong = h
        .engine
        .decide_approval(&id, "heat", true, "ana", None)
        .await
        .unwrap_err();
    assert!(
        wrong.to_string().contains("not waiting for approval"),
        "{wrong}"
    );
    let unknown = h
        .engine
        .decide_approval(&id, "nope", true, "ana", None)
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("no node `nope`"), "{unknown}");

    h.engine
        .decide_approval(&id, "approve", true, "ana", Some("oven looks fine".into()))
        .await
        .unwrap();
    let run = h.finish(&id).await;
    assert_status(&run, RunStatus::Succeeded);
    assert_eq!(
        run.output.unwrap()["go"]["input"],
        json!({"approved": true, "by": "ana", "comment": "oven looks fine"})
    );
    let stored = h.engine.store().all_events(&id).await.unwrap();
    let approved = stored.iter().find(|e| e.kind == "node_approved").unwrap();
    assert_eq!(approved.actor.as_deref(), Some("ana"));
}

#[tokio::test]
async fn a_rejected_step_fails_the_run() {
    let h = Harness::new().await;
    h.apply(GATED).await;
    let id = h.start("gated", json!({})).await;
    h.until_event(&id, waiting("approve")).await;
    h.engine
        .decide_approval(&id, "approve", false, "ben", Some("door open".into()))
        .await
        .unwrap();
    let run = h.finish(&id).await;
    assert_status(&run, RunStatus::Failed);
    assert!(run.error.unwrap().contains("rejected by ben: door open"));
    assert!(attempts(&h.executions(&id).await, "go").is_empty());
}

#[tokio::test]
async fn a_timed_out_approval_takes_its_defined_outcome() {
    let h = Harness::new().await;
    for (outcome, status, go) in [
        ("approve", RunStatus::Succeeded, "succeeded"),
        ("skip", RunStatus::Succeeded, "skipped"),
        ("reject", RunStatus::Failed, "pending"),
    ] {
        let name = format!("timeout-{outcome}");
        h.apply(&format!(
            "name: {name}\nnodes:\n  approve: {{ type: approval, timeout: 300ms, on_timeout: {outcome} }}\n  go: {{ needs: [approve], plugin: scripted@1 }}\n"
        ))
        .await;
        let run = h.run(&name, json!({})).await;
        assert_status(&run, status);
        let ev = h.events(&run.id).await;
        assert!(
            ev.iter().any(|e| matches!(e, Event::NodeTimedOut { .. })),
            "{outcome}"
        );
        assert_eq!(node_outcome(&ev, "go"), go, "{outcome}");
    }
}

#[tokio::test]
async fn a_wait_is_released_by_a_real_mqtt_message() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: wait-ready
nodes:
  ready:
    type: wait
    mqtt: { connection: plant, topic: "test/engine/+/ready" }
    timeout: 30s
  start:
    needs: [ready]
    plugin: scripted@1
    input: { batch: "nodes.ready.output.payload.batch", topic: "nodes.ready.output.topic" }
"#,
    )
    .await;
    let id = h.start("wait-ready", json!({})).await;
    h.until_event(&id, waiting("ready")).await;

    let url = url::Url::parse(&broker_url().await).unwrap();
    let mut options = MqttOptions::new(
        format!("engine-test-{}", std::process::id()),
        url.host_str().unwrap(),
        url.port().unwrap_or(1883),
    );
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    // Another line's message does not match; a retained message never releases a wait.
    client
        .publish(
            "test/engine/7/ready",
            QoS::AtLeastOnce,
            false,
            r#"{"batch": "B-7"}"#,
        )
        .await
        .unwrap();

    let run = h.finish(&id).await;
    assert_status(&run, RunStatus::Succeeded);
    assert_eq!(
        run.output.unwrap()["start"]["input"],
        json!({"batch": "B-7", "topic": "test/engine/7/ready"})
    );
}

#[tokio::test]
async fn signals_release_waits_and_delays_pass() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: signalled
nodes:
  pause: { type: delay, duration: 300ms }
  released: { needs: [pause], type: wait, signal: mes-ack, timeout: 30s }
  done: { needs: [released], plugin: scripted@1, input: "nodes.released.output.payload" }
"#,
    )
    .await;
    let id = h.start("signalled", json!({})).await;
    h.until_event(&id, waiting("released")).await;
    let wrong = h
        .engine
        .signal(&id, "other", json!(1), "mes")
        .await
        .unwrap_err();
    assert!(
        wrong.to_string().contains("waiting for signal `other`"),
        "{wrong}"
    );
    h.engine
        .signal(&id, "mes-ack", json!({"order": 12}), "mes")
        .await
        .unwrap();
    let run = h.finish(&id).await;
    assert_status(&run, RunStatus::Succeeded);
    assert_eq!(run.output.unwrap()["done"]["input"], json!({"order": 12}));

    let stored = h.engine.store().all_events(&id).await.unwrap();
    let waited = stored.iter().find(|e| e.kind == "node_waiting").unwrap().at;
    let passed = stored
        .iter()
        .find(|e| e.kind == "node_succeeded" && e.node_id.as_deref() == Some("pause"))
        .unwrap()
        .at;
    assert!(
        passed - waited >= 300,
        "the delay passed after {} ms",
        passed - waited
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_parked_runs_hold_no_task_slot_and_all_resume_when_approved() {
    let h = Harness::new().await;
    h.apply("name: parked\nnodes:\n  approve: { type: approval }\n  after: { needs: [approve], plugin: scripted@1 }\n")
        .await;
    h.apply("name: busy\nnodes:\n  work: { plugin: scripted@1 }\n")
        .await;
    let mut ids = Vec::new();
    for _ in 0..1000 {
        ids.push(h.start("parked", json!({})).await);
    }
    assert_eq!(h.engine.active_runs(), 1000);
    // The engine has 64 task slots; a thousand waiting runs take none of them.
    let run = h.run("busy", json!({})).await;
    assert_status(&run, RunStatus::Succeeded);

    for id in &ids {
        h.engine
            .decide_approval(id, "approve", true, "ana", None)
            .await
            .unwrap();
    }
    for id in &ids {
        assert_status(&h.finish(id).await, RunStatus::Succeeded);
    }
    assert_eq!(h.engine.active_runs(), 0);
}

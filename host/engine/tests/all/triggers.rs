//! Runs started by MQTT messages and cron schedules, following versions.

use std::time::Duration;

use baton_store::{RunFilter, RunRecord};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde_json::json;

use crate::support::*;

async fn runs(h: &Harness, workflow: &str) -> Vec<RunRecord> {
    h.engine
        .store()
        .list_runs(&RunFilter {
            workflow: Some(workflow.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn an_mqtt_message_starts_a_run_with_its_payload_as_input() {
    let h = Harness::new().await;
    let topic = format!("test/trigger/{}/start", std::process::id());
    h.apply(&format!(
        "name: on-message\ntriggers:\n  - mqtt: {{ connection: plant, topic: \"{topic}\" }}\nnodes:\n  a: {{ plugin: scripted@1 }}\n"
    ))
    .await;
    let url = url::Url::parse(&broker_url().await).unwrap();
    let (client, mut eventloop) = AsyncClient::new(
        MqttOptions::new(
            format!("trigger-test-{}", std::process::id()),
            url.host_str().unwrap(),
            url.port().unwrap_or(1883),
        ),
        10,
    );
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    // The trigger subscribes in the background; send until a run appears.
    let mut found = Vec::new();
    for _ in 0..100 {
        client
            .publish(&topic, QoS::AtLeastOnce, false, r#"{"batch": "B-1"}"#)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        found = runs(&h, "on-message").await;
        if !found.is_empty() {
            break;
        }
    }
    let run = h.finish(&found.last().unwrap().id).await;
    assert_eq!(run.input, json!({"batch": "B-1"}));
    assert_eq!(run.trigger, format!("mqtt:{topic}"));

    let before = runs(&h, "on-message").await.len();
    client
        .publish(&topic, QoS::AtLeastOnce, false, "not json")
        .await
        .unwrap();
    for _ in 0..100 {
        if runs(&h, "on-message").await.len() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let newest = runs(&h, "on-message").await[0].clone();
    assert_eq!(newest.input, json!({"topic": topic, "payload": "not json"}));
}

#[tokio::test]
async fn a_cron_schedule_starts_runs_until_a_new_version_drops_it() {
    let h = Harness::new().await;
    h.apply(
        "name: ticker\ntriggers:\n  - cron: \"* * * * * *\"\nnodes:\n  a: { plugin: scripted@1 }\n",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let started = runs(&h, "ticker").await;
    assert!(started.len() >= 2, "one run a second: {}", started.len());
    assert!(started.iter().all(|r| r.trigger == "cron:* * * * * *"));
    let keys: std::collections::HashSet<_> =
        started.iter().map(|r| r.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), started.len(), "one run per scheduled instant");

    h.apply("name: ticker\nnodes:\n  a: { plugin: scripted@1 }\n")
        .await;
    let after_apply = runs(&h, "ticker").await.len();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        runs(&h, "ticker").await.len(),
        after_apply,
        "the new version has no schedule"
    );
}

//! The JavaScript example (componentize-js) under the same sandbox as Rust plugins.

use std::time::Duration;

use baton_runtime::{Failure, Limits};
use serde_json::{Value, json};

use crate::guests;
use crate::plant::{Plant, unique};

async fn built() -> Option<Vec<u8>> {
    tokio::task::spawn_blocking(guests::mes_record)
        .await
        .unwrap()
}

fn config(plant: &Plant, batch_topic: &str) -> Value {
    json!({
        "device": "oven-1",
        "temperature_address": 10,
        "mes_url": format!("{}/api/batches", plant.mes.url()),
        "line": "L1",
        "connection": "plant",
        "batch_topic": batch_topic,
        "batch_wait_ms": 5000,
    })
}

#[tokio::test]
async fn mes_record_combines_plc_and_mqtt_and_posts_it() {
    let Some(wasm) = built().await else { return };
    let plant = Plant::start().await;
    plant.plc.oven().memory().holding[10] = 182;
    let plugin = plant.load(&wasm).await;
    let topic = unique("plant/line1/batch");
    let grants = json!({
        "plc": [{"device": "oven-1", "read": ["holding:10"]}],
        "mqtt": [{"connection": "plant", "subscribe": ["plant/line1/batch/#"]}],
        "http": [format!("{}/api/*", plant.mes.url())],
    });
    // Another machine announces the batch while the task waits for it.
    let client = plant.client().await;
    let announce = {
        let topic = topic.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            use baton_connectors::MqttClient;
            client
                .publish(
                    topic,
                    b"B-42".to_vec(),
                    baton_connectors::mqtt::QoS::AtLeastOnce,
                    false,
                )
                .await
                .unwrap();
        })
    };
    let attempt = plant
        .run(
            &plugin,
            config(&plant, &topic),
            Value::Null,
            grants,
            Limits::default(),
        )
        .await;
    announce.await.unwrap();
    let output: Value =
        serde_json::from_str(attempt.result.as_ref().expect("attempt failed")).unwrap();
    assert_eq!(output["status"], json!(201));
    assert_eq!(output["record"]["batch"], json!("B-42"), "{output}");
    assert_eq!(output["record"]["temperature_c"], json!(182));
    let received = plant.mes.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("idempotency-key"), Some("run-7/check"));
    let body: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(body, output["record"]);
}

#[tokio::test]
async fn a_denied_subscription_is_handled_by_the_guest() {
    let Some(wasm) = built().await else { return };
    let plant = Plant::start().await;
    let plugin = plant.load(&wasm).await;
    let grants = json!({
        "plc": [{"device": "oven-1", "read": ["holding:10"]}],
        "http": [format!("{}/api/*", plant.mes.url())],
    });
    let attempt = plant
        .run(
            &plugin,
            config(&plant, &unique("plant/line1/batch")),
            json!({"batch": "B-7"}),
            grants.clone(),
            Limits::default(),
        )
        .await;
    // The batch came with the input, so the topic is never read.
    let output: Value =
        serde_json::from_str(attempt.result.as_ref().expect("attempt failed")).unwrap();
    assert_eq!(output["record"]["batch"], json!("B-7"));
    assert!(attempt.denials.is_empty());

    let attempt = plant
        .run(
            &plugin,
            config(&plant, &unique("plant/line1/batch")),
            Value::Null,
            grants,
            Limits::default(),
        )
        .await;
    let output: Value =
        serde_json::from_str(attempt.result.as_ref().expect("attempt failed")).unwrap();
    assert_eq!(output["record"]["batch"], Value::Null);
    assert_eq!(attempt.denials.len(), 1, "{:?}", attempt.denials);
    assert!(
        attempt
            .logs
            .iter()
            .any(|l| l.message.contains("recording without a batch"))
    );
}

#[tokio::test]
async fn retryable_and_fatal_errors_are_used_correctly() {
    let Some(wasm) = built().await else { return };
    let plant = Plant::start().await;
    let plugin = plant.load(&wasm).await;
    let mut config = config(&plant, "x");
    config.as_object_mut().unwrap().remove("batch_topic");

    // A PLC read outside the grant is fatal.
    let attempt = plant
        .run(
            &plugin,
            config.clone(),
            json!({"batch": "B"}),
            json!({}),
            Limits::default(),
        )
        .await;
    match attempt.result {
        Err(Failure::Fatal(m)) => assert!(m.contains("reading oven-1: denied"), "{m}"),
        other => panic!("expected fatal, got {other:?}"),
    }
    // An MES that cannot be reached is retryable.
    let mut unreachable = config.clone();
    unreachable["mes_url"] = json!("http://127.0.0.1:9/api/batches");
    let grants = json!({"plc": [{"device": "oven-1", "read": ["holding:10"]}], "http": ["http://127.0.0.1:9/api/*"]});
    let attempt = plant
        .run(
            &plugin,
            unreachable,
            json!({"batch": "B"}),
            grants,
            Limits::default(),
        )
        .await;
    assert!(
        matches!(&attempt.result, Err(Failure::Retryable(m)) if m.contains("posting to")),
        "{:?}",
        attempt.result
    );
    // Bad config is fatal and says what is missing.
    let attempt = plant
        .run(
            &plugin,
            json!({"device": "oven-1"}),
            Value::Null,
            json!({}),
            Limits::default(),
        )
        .await;
    assert!(
        matches!(&attempt.result, Err(Failure::Fatal(m)) if m.contains("missing temperature_address, mes_url, line")),
        "{:?}",
        attempt.result
    );
}

#[tokio::test]
async fn javascript_infinite_loop_and_exception_fail_the_attempt() {
    let Some(wasm) = tokio::task::spawn_blocking(guests::javascript_hostile)
        .await
        .unwrap()
    else {
        return;
    };
    let plant = Plant::start().await;
    let plugin = plant.load(&wasm).await;
    let limits = Limits {
        cpu: Duration::from_millis(500),
        ..Limits::default()
    };
    let attempt = plant
        .run(
            &plugin,
            json!({"mode": "spin"}),
            Value::Null,
            json!({}),
            limits,
        )
        .await;
    assert_eq!(
        attempt.result.unwrap_err(),
        Failure::CpuLimit(Duration::from_millis(500))
    );
    let attempt = plant
        .run(
            &plugin,
            json!({"mode": "throw"}),
            json!("R-9"),
            json!({}),
            Limits::default(),
        )
        .await;
    match attempt.result {
        Err(f @ Failure::Trap(_)) => assert!(
            f.to_string()
                .contains("RangeError: recipe R-9 has no oven profile"),
            "{f}"
        ),
        other => panic!("expected a trap, got {other:?}"),
    }
    let attempt = plant
        .run(
            &plugin,
            json!({"mode": "echo"}),
            json!({"ok": 1}),
            json!({}),
            Limits::default(),
        )
        .await;
    assert_eq!(attempt.result.as_deref(), Ok(r#"{"ok":1}"#));
}

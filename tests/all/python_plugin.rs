//! The Python example (componentize-py) under the same sandbox as Rust plugins.

use std::time::Duration;

use baton_runtime::{Failure, Limits};
use serde_json::{Value, json};

use crate::guests;
use crate::plant::{Plant, unique};

async fn built(build: fn() -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    tokio::task::spawn_blocking(build).await.unwrap()
}

fn config(topic: &str, report_url: Option<String>) -> Value {
    let mut c = json!({"device": "oven-1", "address": 0, "count": 16, "connection": "plant", "topic": topic});
    if let Some(url) = report_url {
        c["report_url"] = json!(url);
    }
    c
}

#[tokio::test]
async fn vibration_check_reads_publishes_and_reports() {
    let Some(wasm) = built(guests::vibration_check).await else {
        return;
    };
    let plant = Plant::start().await;
    // 16 samples alternating 4.0 and 6.0 mm/s: RMS 5.1, a "warn".
    for (i, v) in plant.plc.oven().memory().input[..16].iter_mut().enumerate() {
        *v = if i % 2 == 0 { 40 } else { 60 };
    }
    let topic = unique("plant/press-3/vibration");
    let listener = plant.listen(&topic).await;
    let plugin = plant.load(&wasm).await;
    assert_eq!(plugin.info.name, "vibration-check");
    assert!(
        plugin.size > 5 << 20,
        "a Python component carries its interpreter"
    );

    let url = format!("{}/api/quality", plant.mes.url());
    let grants = json!({
        "plc": [{"device": "oven-1", "read": ["input:0-15"]}],
        "mqtt": [{"connection": "plant", "publish": ["plant/+/vibration/#"]}],
        "http": [format!("{}/api/*", plant.mes.url())],
    });
    let attempt = plant
        .run(
            &plugin,
            config(&topic, Some(url)),
            Value::Null,
            grants,
            Limits::default(),
        )
        .await;
    let output: Value =
        serde_json::from_str(attempt.result.as_ref().expect("attempt failed")).unwrap();
    assert_eq!(output["verdict"], json!("warn"), "{output}");
    assert_eq!(output["rms"], json!(5.099));
    assert_eq!(output["peak"], json!(6.0));
    assert_eq!(output["reported"], json!("201"));

    let message = listener
        .await
        .unwrap()
        .expect("the verdict was not published");
    let published: Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(published["verdict"], json!("warn"));
    let received = plant.mes.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].method, "POST");
    assert_eq!(received[0].header("idempotency-key"), Some("run-7/check"));
    assert_eq!(
        serde_json::from_str::<Value>(&received[0].body).unwrap()["samples"],
        json!(16)
    );
    assert!(
        attempt
            .logs
            .iter()
            .any(|l| l.message.contains("oven-1: warn")),
        "{:?}",
        attempt.logs
    );
}

#[tokio::test]
async fn a_denied_report_is_handled_by_the_guest() {
    let Some(wasm) = built(guests::vibration_check).await else {
        return;
    };
    let plant = Plant::start().await;
    let plugin = plant.load(&wasm).await;
    let topic = unique("plant/press-3/vibration");
    // Reading and publishing are granted; the MES is not.
    let grants = json!({
        "plc": [{"device": "oven-1", "read": ["input:0-15"]}],
        "mqtt": [{"connection": "plant", "publish": ["plant/#"]}],
    });
    let url = format!("{}/api/quality", plant.mes.url());
    let attempt = plant
        .run(
            &plugin,
            config(&topic, Some(url)),
            Value::Null,
            grants,
            Limits::default(),
        )
        .await;
    let output: Value =
        serde_json::from_str(attempt.result.as_ref().expect("attempt failed")).unwrap();
    assert_eq!(output["reported"], json!("denied"));
    assert_eq!(attempt.denials.len(), 1, "{:?}", attempt.denials);
    assert!(
        attempt
            .logs
            .iter()
            .any(|l| l.message.contains("is not granted; verdict published only"))
    );
    assert!(plant.mes.received().is_empty());

    // Without the PLC grant the guest fails the task, fatally, naming the reason.
    let attempt = plant
        .run(
            &plugin,
            config(&topic, None),
            Value::Null,
            json!({}),
            Limits::default(),
        )
        .await;
    match attempt.result {
        Err(Failure::Fatal(m)) => assert!(m.contains("reading oven-1: Denied"), "{m}"),
        other => panic!("expected a fatal failure, got {other:?}"),
    }
}

#[tokio::test]
async fn python_infinite_loop_is_stopped_by_the_cpu_bound() {
    let Some(wasm) = built(guests::python_hostile).await else {
        return;
    };
    let plant = Plant::start().await;
    let plugin = plant.load(&wasm).await;
    let limits = Limits {
        cpu: Duration::from_millis(500),
        ..Limits::default()
    };
    let started = std::time::Instant::now();
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
    assert!(started.elapsed() < Duration::from_secs(5));
    // The next attempt in a fresh instance is fine.
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

#[tokio::test]
async fn python_exception_becomes_a_failed_attempt_with_its_message() {
    let Some(wasm) = built(guests::python_hostile).await else {
        return;
    };
    let plant = Plant::start().await;
    let plugin = plant.load(&wasm).await;
    let attempt = plant
        .run(
            &plugin,
            json!({"mode": "raise"}),
            json!("R-17"),
            json!({}),
            Limits::default(),
        )
        .await;
    match attempt.result {
        Err(f @ Failure::Trap(_)) => {
            let m = f.to_string();
            assert!(m.contains("ValueError"), "{m}");
            assert!(m.contains("recipe R-17 has no oven profile"), "{m}");
            assert!(!f.is_retryable());
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

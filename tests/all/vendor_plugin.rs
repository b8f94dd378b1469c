//! The example vendor plugin, built from source with the guest SDK exactly as
//! a vendor would, runs against a simulated PLC and a real MQTT broker.

use std::sync::Arc;
use std::time::Duration;

use baton_connectors::config::{MqttConfig, PlcConfig};
use baton_connectors::mqtt::TopicFilter;
use baton_connectors::{Connectors, ConnectorsConfig};
use baton_runtime::{Runtime, RuntimeConfig, TaskContext, TaskRequest};
use baton_sim::{EmbeddedBroker, Oven, SimulatedPlc};
use serde_json::json;

use crate::cargo::{cargo, root};

#[tokio::test]
async fn oven_guard_trips_the_heater_and_raises_an_alarm() {
    let project = root().join("examples/plugins/rust/oven-guard");
    let built = tokio::task::spawn_blocking(move || {
        cargo(
            &project.join("Cargo.toml"),
            "examples",
            &["build", "--release", "--target", "wasm32-wasip2"],
        )
        .output()
        .unwrap()
    })
    .await
    .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let wasm = std::fs::read(root().join("target/examples/wasm32-wasip2/release/oven_guard.wasm"))
        .unwrap();

    let plc = SimulatedPlc::start(([127, 0, 0, 1], 0).into(), Oven::new(), None)
        .await
        .unwrap();
    plc.oven().memory().holding[10] = 262;
    plc.oven().memory().coils[3] = true;
    let broker = tokio::task::spawn_blocking(|| EmbeddedBroker::start(0))
        .await
        .unwrap()
        .unwrap();
    let mut config = ConnectorsConfig::default();
    config
        .plc
        .insert("oven-1".into(), PlcConfig::new(plc.url()));
    config
        .mqtt
        .insert("plant".into(), MqttConfig::new(broker.url()));
    let connectors = Connectors::from_config(&config).unwrap();
    assert!(connectors.wait_connected(Duration::from_secs(10)).await);
    let runtime = Runtime::new(RuntimeConfig::default(), connectors.clone()).unwrap();
    let plugin = runtime.load(&wasm).await.unwrap();
    assert_eq!(plugin.info.name, "oven-guard");

    // Listen for the alarm through the broker.
    let listener = connectors.mqtt("plant").unwrap().clone();
    let filter: TopicFilter = "plant/line1/oven/alarm".parse().unwrap();
    let alarm =
        tokio::spawn(async move { listener.receive(filter, Duration::from_secs(10)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let grants = json!({
        "plc": [{"device": "oven-1", "read": ["holding:10"], "write": ["coil:3"]}],
        "mqtt": [{"connection": "plant", "publish": ["plant/line1/oven/alarm"]}],
    });
    let attempt = runtime
        .run(
            &plugin,
            TaskRequest {
                context: TaskContext {
                    run_id: "run-7".into(),
                    node_id: "guard".into(),
                    attempt: 1,
                    idempotency_key: "run-7/guard".into(),
                },
                config: json!({"device": "oven-1", "max_celsius": 250, "alarm_topic": "plant/line1/oven/alarm"}).to_string(),
                input: "null".into(),
                grants: Arc::new(serde_json::from_value(grants).unwrap()),
                limits: runtime.default_limits(),
            },
        )
        .await;
    assert_eq!(
        attempt.result.as_deref(),
        Ok(r#"{"celsius":262,"tripped":true}"#),
        "{:?}",
        attempt.logs
    );
    assert!(!plc.oven().heater(), "the heater is still on");
    let message = alarm.await.unwrap().unwrap().expect("no alarm arrived");
    let payload: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(
        payload,
        json!({"celsius": 262, "limit": 250, "run": "run-7"})
    );
}

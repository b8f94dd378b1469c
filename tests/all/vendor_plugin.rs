//! The example Rust vendor plugin, built from source with the guest SDK exactly
//! as a vendor would, runs against the simulated plant.

use baton_runtime::Limits;
use serde_json::{Value, json};

use crate::cargo::{cargo, root};
use crate::plant::Plant;

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

    let plant = Plant::start().await;
    plant.plc.oven().memory().holding[10] = 262;
    plant.plc.oven().memory().coils[3] = true;
    let plugin = plant.load(&wasm).await;
    assert_eq!(plugin.info.name, "oven-guard");
    let alarm = plant.listen("plant/line1/oven/alarm").await;

    let grants = json!({
        "plc": [{"device": "oven-1", "read": ["holding:10"], "write": ["coil:3"]}],
        "mqtt": [{"connection": "plant", "publish": ["plant/line1/oven/alarm"]}],
    });
    let config =
        json!({"device": "oven-1", "max_celsius": 250, "alarm_topic": "plant/line1/oven/alarm"});
    let attempt = plant
        .run(&plugin, config, Value::Null, grants, Limits::default())
        .await;
    assert_eq!(
        attempt.result.as_deref(),
        Ok(r#"{"celsius":262,"tripped":true}"#),
        "{:?}",
        attempt.logs
    );
    assert!(!plant.plc.oven().heater(), "the heater is still on");
    let message = alarm.await.unwrap().expect("no alarm arrived");
    let payload: Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(
        payload,
        json!({"celsius": 262, "limit": 250, "run": "run-7"})
    );
}

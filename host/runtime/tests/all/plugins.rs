//! Each first-party plugin against the real thing.

use std::time::Duration;

use baton_plugins::test_programs;
use serde_json::json;

use crate::support::{Env, Subscriber, output, publish, unique_topic};

#[tokio::test]
async fn modbus_read_reads_live_registers() {
    let env = Env::new().await;
    env.oven().memory().holding[10] = 172;
    env.oven().memory().coils[3] = true;
    let plugin = env.first_party("modbus-read").await;
    let grants = json!({"plc": [{"device": "oven-1", "read": ["holding:0-99", "coil:0-15"]}]});

    let out = env
        .run(
            &plugin,
            json!({"device": "oven-1", "kind": "holding", "address": 10, "count": 2}),
            json!(null),
            grants.clone(),
        )
        .await;
    assert_eq!(output(&out), json!({"values": [172, 180]}));

    // The value really comes from the device: change it and read again.
    env.oven().memory().holding[10] = 95;
    let out = env
        .run(
            &plugin,
            json!({"device": "oven-1", "kind": "holding", "address": 10}),
            json!(null),
            grants.clone(),
        )
        .await;
    assert_eq!(output(&out), json!({"values": [95]}));

    let out = env
        .run(
            &plugin,
            json!({"device": "oven-1", "kind": "coil", "address": 2, "count": 3}),
            json!(null),
            grants,
        )
        .await;
    assert_eq!(output(&out), json!({"values": [false, true, false]}));
}

#[tokio::test]
async fn modbus_write_changes_the_device() {
    let env = Env::new().await;
    let plugin = env.first_party("modbus-write").await;
    let grants = json!({"plc": [{"device": "oven-1", "write": ["coil:3", "holding:11"]}]});
    assert!(!env.oven().heater());

    let out = env
        .run(
            &plugin,
            json!({"device": "oven-1", "kind": "coil", "address": 3, "values": [true]}),
            json!(null),
            grants.clone(),
        )
        .await;
    assert_eq!(output(&out), json!({"written": 1}));
    assert!(env.oven().heater(), "the heater coil was not switched on");

    let out = env
        .run(
            &plugin,
            json!({"device": "oven-1", "kind": "holding", "address": 11}),
            json!({"values": [210]}),
            grants,
        )
        .await;
    output(&out);
    assert_eq!(env.oven().memory().holding[11], 210);
}

#[tokio::test]
async fn device_exception_is_reported_not_retried() {
    let env = Env::new().await;
    let plugin = env.first_party("modbus-read").await;
    // Address 5000 is granted but beyond the simulated PLC's memory: an illegal data address.
    let out = env
        .run(
            &plugin,
            json!({"device": "oven-1", "kind": "holding", "address": 5000}),
            json!(null),
            json!({"plc": [{"device": "oven-1", "read": ["holding:0-65535"]}]}),
        )
        .await;
    let failure = out.result.unwrap_err();
    assert!(!failure.is_retryable());
    assert!(
        failure.to_string().contains("device exception"),
        "{failure}"
    );
}

#[tokio::test]
async fn mqtt_publish_reaches_a_subscriber() {
    let env = Env::new().await;
    let topic = unique_topic("status");
    let mut subscriber = Subscriber::new(&topic).await;
    let plugin = env.first_party("mqtt-publish").await;
    let out = env
        .run(
            &plugin,
            json!({"connection": "plant", "topic": topic}),
            json!({"temp": 181, "line": 1}),
            json!({"mqtt": [{"connection": "plant", "publish": ["baton-test/#"]}]}),
        )
        .await;
    assert_eq!(output(&out)["topic"], json!(topic));
    let (got_topic, payload) = subscriber
        .next(Duration::from_secs(10))
        .await
        .expect("subscriber got nothing");
    assert_eq!(got_topic, topic);
    let payload: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(payload, json!({"temp": 181, "line": 1}));
}

#[tokio::test]
async fn guest_receives_a_message_published_by_another_client() {
    let env = Env::new().await;
    let topic = unique_topic("cmd");
    let probe = env.program(test_programs::PROBE).await;
    let publisher = {
        let topic = topic.clone();
        tokio::spawn(async move {
            // The guest subscribes first; give it time, then publish.
            tokio::time::sleep(Duration::from_millis(500)).await;
            publish(&topic, b"start").await;
        })
    };
    let out = env
        .run(
            &probe,
            json!(null),
            json!({"calls": [{"op": "receive", "connection": "plant", "filter": format!("{topic}/#"), "timeout_ms": 5000}]}),
            json!({"mqtt": [{"connection": "plant", "subscribe": ["baton-test/#"]}]}),
        )
        .await;
    publisher.await.unwrap();
    let out = output(&out);
    assert_eq!(out[0]["ok"]["topic"], json!(topic), "{out}");
    assert_eq!(out[0]["ok"]["payload"], json!("start"));
}

#[tokio::test]
async fn http_request_reaches_a_local_server() {
    let env = Env::new().await;
    let server = baton_sim::SimulatedMes::start().await.unwrap();
    let plugin = env.first_party("http-request").await;
    let url = format!("http://{}/api/batches", server.addr());
    let out = env
        .run(
            &plugin,
            json!({"url": url, "method": "POST", "headers": {"x-line": "1"}}),
            json!({"batch": "B-17", "temp": 181}),
            json!({"http": [format!("http://{}/api/*", server.addr())]}),
        )
        .await;
    assert_eq!(
        output(&out),
        json!({"status": 201, "body": {"accepted": true}})
    );
    let seen = server.received();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/api/batches");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&seen[0].body).unwrap(),
        json!({"batch": "B-17", "temp": 181})
    );
    let header = |n: &str| {
        seen[0]
            .headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("idempotency-key").as_deref(), Some("run-1/node-1"));
    assert_eq!(header("x-line").as_deref(), Some("1"));
}

#[tokio::test]
async fn transform_needs_no_capabilities() {
    let env = Env::new().await;
    let plugin = env.first_party("transform").await;
    assert!(
        !plugin
            .imports
            .iter()
            .any(|i| i.starts_with("baton:plugin/plc") || i.starts_with("wasi:http")),
        "{:?}",
        plugin.imports
    );
    let out = env
        .run(
            &plugin,
            json!({"compare": {"value": "/values/0", "op": "lt", "threshold": 180}}),
            json!({"values": [172]}),
            json!({}),
        )
        .await;
    assert_eq!(output(&out)["result"], json!(true));
}

#[tokio::test]
async fn first_party_plugins_describe_themselves() {
    let env = Env::new().await;
    for p in baton_plugins::FIRST_PARTY {
        let plugin = env.runtime.load(p.wasm).await.unwrap();
        assert_eq!(plugin.info.name, p.name);
        assert_eq!(plugin.info.major(), 1);
        let schema: serde_json::Value =
            serde_json::from_str(plugin.info.config_schema.as_deref().unwrap()).unwrap();
        assert_eq!(schema["type"], json!("object"), "{}", p.name);
    }
}

#[tokio::test]
async fn offline_plc_fails_fast_and_retryably_then_recovers() {
    let env = Env::new().await;
    let plugin = env.first_party("modbus-read").await;
    let config = json!({"device": "oven-1", "kind": "holding", "address": 10});
    let grants = json!({"plc": [{"device": "oven-1", "read": ["holding:10"]}]});
    output(
        &env.run(&plugin, config.clone(), json!(null), grants.clone())
            .await,
    );

    // Unplug the PLC.
    let addr = env.plc.addr();
    env.plc.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let out = env
        .run(&plugin, config.clone(), json!(null), grants.clone())
        .await;
    let failure = out.result.unwrap_err();
    assert!(failure.is_retryable(), "{failure}");
    assert!(failure.to_string().contains("unavailable"), "{failure}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    // Plug it back in on the same port; after the back-off the device answers again.
    let _again = baton_sim::SimulatedPlc::start(addr, env.oven().clone(), None)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = env
            .run(&plugin, config.clone(), json!(null), grants.clone())
            .await;
        if out.result.is_ok() {
            assert_eq!(output(&out), json!({"values": [20]}));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "PLC never came back: {:?}",
            out.result
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

//! Every call outside the node's grants is refused, and the guest sees `denied`.

use std::time::Duration;

use baton_plugins::test_programs;
use serde_json::{Value, json};

use crate::support::{Env, Subscriber, output, unique_topic};

async fn probe(env: &Env, calls: Value, grants: Value) -> (Value, Vec<String>) {
    let plugin = env.program(test_programs::PROBE).await;
    let attempt = env
        .run(&plugin, json!(null), json!({ "calls": calls }), grants)
        .await;
    let denials = attempt.denials.clone();
    (output(&attempt), denials)
}

#[tokio::test]
async fn write_to_an_ungranted_register_is_denied() {
    let env = Env::new().await;
    let (out, denials) = probe(
        &env,
        json!([
            {"op": "write-registers", "device": "oven-1", "address": 11, "values": [250]},
            {"op": "write-registers", "device": "oven-1", "address": 12, "values": [250]},
            {"op": "write-coils", "device": "oven-1", "address": 3, "values": [true]},
            {"op": "read-holding", "device": "oven-1", "address": 10, "count": 1},
        ]),
        json!({"plc": [{"device": "oven-1", "write": ["holding:11"]}]}),
    )
    .await;
    assert_eq!(out[0], json!({"ok": null}));
    assert_eq!(out[1]["err"], json!("denied"), "{out}");
    assert!(
        out[1]["message"]
            .as_str()
            .unwrap()
            .contains("write of holding:12"),
        "{out}"
    );
    assert_eq!(out[2]["err"], json!("denied"));
    // A write grant does not imply read.
    assert_eq!(out[3]["err"], json!("denied"));
    let memory = env.oven().memory();
    assert_eq!(memory.holding[11], 250);
    assert_eq!(memory.holding[12], 0, "a denied write reached the PLC");
    assert!(!memory.coils[3]);
    assert_eq!(denials.len(), 3, "{denials:?}");
}

#[tokio::test]
async fn reads_are_checked_range_by_range() {
    let env = Env::new().await;
    let (out, _) = probe(
        &env,
        json!([
            {"op": "read-holding", "device": "oven-1", "address": 10, "count": 2},
            {"op": "read-holding", "device": "oven-1", "address": 10, "count": 3},
            {"op": "read-holding", "device": "oven-2", "address": 10, "count": 1},
            {"op": "read-holding", "device": "oven-1", "address": 10, "count": 0},
        ]),
        json!({"plc": [{"device": "oven-1", "read": ["holding:10-11"]}, {"device": "oven-2", "read": ["holding:10"]}]}),
    )
    .await;
    assert_eq!(out[0], json!({"ok": [20, 180]}));
    assert_eq!(out[1]["err"], json!("denied"));
    // Granted, but the host has no such device.
    assert_eq!(out[2]["err"], json!("unknown-device"));
    assert_eq!(out[3]["err"], json!("invalid-argument"));
}

#[tokio::test]
async fn publish_to_an_ungranted_topic_is_denied() {
    let env = Env::new().await;
    let base = unique_topic("deny");
    let mut subscriber = Subscriber::new(&format!("{base}/#")).await;
    let (out, denials) = probe(
        &env,
        json!([
            {"op": "publish", "connection": "plant", "topic": format!("{base}/line1/status"), "payload": "allowed"},
            {"op": "publish", "connection": "plant", "topic": format!("{base}/line1/cmd"), "payload": "forbidden"},
            {"op": "publish", "connection": "other", "topic": format!("{base}/line1/status"), "payload": "forbidden"},
            {"op": "receive", "connection": "plant", "filter": format!("{base}/#"), "timeout_ms": 10},
            {"op": "publish", "connection": "plant", "topic": format!("{base}/+/status"), "payload": "x"},
        ]),
        json!({"mqtt": [{"connection": "plant", "publish": [format!("{base}/+/status")], "subscribe": [format!("{base}/line1/#")]}]}),
    )
    .await;
    assert_eq!(out[0], json!({"ok": null}), "{out}");
    assert_eq!(out[1]["err"], json!("denied"));
    assert_eq!(out[2]["err"], json!("denied"));
    // `base/#` is wider than the granted `base/line1/#`.
    assert_eq!(out[3]["err"], json!("denied"));
    assert_eq!(out[4]["err"], json!("invalid-argument"));
    assert_eq!(denials.len(), 3, "{denials:?}");
    let (topic, payload) = subscriber.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        (format!("{base}/line1/status").as_str(), &b"allowed"[..])
    );
    assert!(
        subscriber.next(Duration::from_millis(500)).await.is_none(),
        "a denied publish reached the broker"
    );
}

#[tokio::test]
async fn http_to_an_unlisted_host_is_denied() {
    let env = Env::new().await;
    let server = baton_sim::SimulatedMes::start().await.unwrap();
    let port = server.addr().port();
    let (out, denials) = probe(
        &env,
        json!([
            {"op": "http", "url": format!("http://127.0.0.1:{port}/api/ok")},
            {"op": "http", "url": format!("http://127.0.0.1:{port}/admin")},
            {"op": "http", "url": format!("http://127.0.0.2:{port}/api/ok")},
            {"op": "http", "url": "https://mes.example.com/api/ok"},
        ]),
        json!({"http": [format!("http://127.0.0.1:{port}/api/*")]}),
    )
    .await;
    assert_eq!(out[0]["ok"]["status"], json!(201), "{out}");
    for i in 1..4 {
        assert_eq!(out[i]["err"], json!("denied"), "call {i}: {out}");
    }
    assert_eq!(
        server.received().len(),
        1,
        "a denied request reached the server"
    );
    assert_eq!(denials.len(), 3);
}

#[tokio::test]
async fn http_through_a_granted_name_that_resolves_to_loopback_is_denied() {
    let env = Env::new().await;
    let server = baton_sim::SimulatedMes::start().await.unwrap();
    let port = server.addr().port();
    // `localhost` is granted by name, but resolves to 127.0.0.1: refused after DNS.
    let (out, denials) = probe(
        &env,
        json!([{"op": "http", "url": format!("http://localhost:{port}/api/x")}]),
        json!({"http": [format!("http://localhost:{port}/*")]}),
    )
    .await;
    assert_eq!(out[0]["err"], json!("denied"), "{out}");
    assert!(denials[0].contains("a loopback address"), "{denials:?}");
    assert!(
        server.received().is_empty(),
        "the request reached the server"
    );
}

#[tokio::test]
async fn interlock_denies_every_plc_write() {
    let env = Env::new().await;
    env.runtime.set_interlock(true);
    let (out, denials) = probe(
        &env,
        json!([
            {"op": "write-coils", "device": "oven-1", "address": 3, "values": [true]},
            {"op": "read-holding", "device": "oven-1", "address": 10, "count": 1},
        ]),
        json!({"plc": [{"device": "oven-1", "read": ["holding:10"], "write": ["coil:3"]}]}),
    )
    .await;
    assert_eq!(out[0]["err"], json!("denied"));
    assert!(denials[0].contains("interlock"), "{denials:?}");
    assert_eq!(
        out[1],
        json!({"ok": [20]}),
        "reads continue under the interlock"
    );
    assert!(!env.oven().heater());
    env.runtime.set_interlock(false);
    let (out, _) = probe(
        &env,
        json!([{"op": "write-coils", "device": "oven-1", "address": 3, "values": [true]}]),
        json!({"plc": [{"device": "oven-1", "write": ["coil:3"]}]}),
    )
    .await;
    assert_eq!(out[0], json!({"ok": null}));
    assert!(env.oven().heater());
}

//! Every call outside the node's grants is refused, and the guest sees `denied`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_grant::http::Target;
use baton_plugins::test_programs;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::support::{Env, Subscriber, output, read_head, unique_topic};

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

/// An HTTP server that records each request line and `Host` header exactly
/// as they arrive, before any parsing could tidy them up.
struct RawServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl RawServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let Some(head) = read_head(&mut stream).await else {
                        return;
                    };
                    let mut lines = head.split("\r\n");
                    let line = lines.next().unwrap_or_default().to_string();
                    let host = lines
                        .filter_map(|l| l.split_once(':'))
                        .find(|(name, _)| name.eq_ignore_ascii_case("host"))
                        .map(|(_, value)| value.trim().to_string())
                        .unwrap_or_default();
                    record.lock().unwrap().push((line, host));
                    let reply =
                        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                    let _ = stream.write_all(reply.as_bytes()).await;
                });
            }
        });
        Self { addr, seen }
    }

    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn http_request_line_is_exactly_the_path_the_grant_check_saw() {
    let env = Env::new().await;
    let server = RawServer::start().await;
    let authority = server.addr.to_string();
    // Each path, and the request-target the server must see, or `None` if denied.
    let cases = [
        ("/api/../admin", None),
        ("/api/%2e%2e/admin", None),
        ("/api/..;/admin", None),
        ("//admin", None),
        ("/api/..%2fadmin", None),
        ("/api/..\\admin", None),
        ("/api/./x", Some("/api/x")),
        ("/api/a/../b?q=1", Some("/api/b?q=1")),
        ("/api/%7e%41", Some("/api/~A")),
        ("/api/%c3%a4", Some("/api/%C3%A4")),
    ];
    let port = server.addr.port();
    let mut calls: Vec<Value> = cases
        .iter()
        .map(|(path, _)| json!({"op": "http", "url": format!("http://{authority}{path}")}))
        .collect();
    // The authority too is checked, connected to and sent in canonical form.
    calls.push(json!({"op": "http", "url": format!("http://127.0.0.1.:{port}/api/host")}));
    calls.push(json!({"op": "http", "url": format!("http://user@127.0.0.1:{port}/api/x")}));
    let (out, denials) = probe(
        &env,
        json!(calls),
        json!({"http": [format!("http://{authority}/api/*")]}),
    )
    .await;
    let mut expected_lines = Vec::new();
    for (i, (path, sent)) in cases.iter().enumerate() {
        match sent {
            None => assert_eq!(out[i]["err"], json!("denied"), "{path}: {out}"),
            Some(sent) => {
                assert_eq!(out[i]["ok"]["status"], json!(200), "{path}: {out}");
                // What the grant check saw, computed by the check's own canonicalisation.
                let checked = Target::new(false, &authority, path).unwrap();
                assert_eq!(checked.request_target(), *sent, "{path}");
                expected_lines.push((format!("GET {sent} HTTP/1.1"), authority.clone()));
            }
        }
    }
    let n = cases.len();
    assert_eq!(out[n]["ok"]["status"], json!(200), "{out}");
    expected_lines.push(("GET /api/host HTTP/1.1".into(), authority.clone()));
    assert_eq!(out[n + 1]["err"], json!("denied"), "{out}");
    assert_eq!(server.seen(), expected_lines, "denials: {denials:?}");
    let reasons = [
        "/admin is not granted",
        "encoded `.`",
        "path parameters",
        "empty segment",
        "encoded `/`",
        "backslash",
        "credentials",
    ];
    assert_eq!(denials.len(), reasons.len(), "{denials:?}");
    for (denial, reason) in denials.iter().zip(reasons) {
        assert!(denial.contains(reason), "{denial} should say {reason}");
    }
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

//! Shared helpers: a runtime wired to a simulated PLC, an MQTT broker and an HTTP server.

use std::sync::Arc;
use std::time::Duration;

use baton_connectors::config::{MqttConfig, PlcConfig};
use baton_connectors::{Connectors, ConnectorsConfig};
use baton_grant::Grants;
use baton_runtime::{Attempt, Limits, Plugin, Runtime, RuntimeConfig, TaskContext, TaskRequest};
use baton_sim::{EmbeddedBroker, Oven, SimulatedPlc};
use serde_json::Value;

/// The test broker: Mosquitto when `BATON_TEST_MQTT_URL` is set, else the
/// embedded one; under `CI=true` it must be set.
pub async fn broker_url() -> String {
    EmbeddedBroker::test_url()
        .await
        .unwrap_or_else(|e| panic!("the test broker: {e}"))
}

/// A runtime whose `oven-1` is a fresh simulated PLC and whose `plant` is the test broker.
pub struct Env {
    pub runtime: Runtime,
    pub plc: SimulatedPlc,
}

impl Env {
    pub async fn new() -> Self {
        Self::with_config(RuntimeConfig::default()).await
    }

    pub async fn with_config(config: RuntimeConfig) -> Self {
        let plc = SimulatedPlc::start(([127, 0, 0, 1], 0).into(), Oven::new(), None)
            .await
            .unwrap();
        let url = broker_url().await;
        let mut connectors = ConnectorsConfig::default();
        connectors
            .plc
            .insert("oven-1".into(), PlcConfig::new(plc.url()));
        connectors.mqtt.insert("plant".into(), MqttConfig::new(url));
        let connectors = Connectors::from_config(&connectors).unwrap();
        assert!(
            connectors.wait_connected(Duration::from_secs(10)).await,
            "broker not reachable"
        );
        let runtime = Runtime::new(config, connectors).unwrap();
        Self { runtime, plc }
    }

    pub fn oven(&self) -> &Oven {
        self.plc.oven()
    }

    pub async fn first_party(&self, name: &str) -> Plugin {
        let plugin = baton_plugins::find(name).unwrap();
        self.runtime.load(plugin.wasm).await.unwrap()
    }

    pub async fn program(&self, path: &str) -> Plugin {
        self.runtime
            .load(&std::fs::read(path).unwrap())
            .await
            .unwrap()
    }

    pub async fn run(
        &self,
        plugin: &Plugin,
        config: Value,
        input: Value,
        grants: Value,
    ) -> Attempt {
        self.run_with(plugin, config, input, grants, Limits::default())
            .await
    }

    pub async fn run_with(
        &self,
        plugin: &Plugin,
        config: Value,
        input: Value,
        grants: Value,
        limits: Limits,
    ) -> Attempt {
        self.runtime
            .run(plugin, request(config, input, grants, limits))
            .await
    }
}

pub fn request(config: Value, input: Value, grants: Value, limits: Limits) -> TaskRequest {
    let grants: Grants = serde_json::from_value(grants).unwrap();
    TaskRequest {
        context: TaskContext::new("run-1", "node-1", 1),
        config: config.to_string(),
        input: input.to_string(),
        grants: Arc::new(grants),
        limits,
        act_until: None,
    }
}

/// The output of a successful attempt, parsed; panics with the failure otherwise.
pub fn output(attempt: &Attempt) -> Value {
    match &attempt.result {
        Ok(text) => serde_json::from_str(text).unwrap(),
        Err(f) => panic!("attempt failed: {f}; logs: {:?}", attempt.logs),
    }
}

/// A topic no other test uses.
pub fn unique_topic(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("baton-test/{}/{prefix}/{n}", std::process::id())
}

/// An independent MQTT subscriber, as a SCADA system would be.
pub struct Subscriber {
    rx: tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    _task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    pub async fn new(filter: &str) -> Self {
        let url = broker_url().await;
        let (host, port) = MqttConfig::new(url).endpoint().unwrap();
        let id = format!("test-sub-{}", unique_topic("id").replace('/', "-"));
        let options = rumqttc::MqttOptions::new(id, host, port);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 16);
        client
            .subscribe(filter, rumqttc::QoS::AtLeastOnce)
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        let task = tokio::spawn(async move {
            let _client = client;
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        if let Some(r) = ready_tx.take() {
                            let _ = r.send(());
                        }
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .unwrap()
            .unwrap();
        Self { rx, _task: task }
    }

    pub async fn next(&mut self, timeout: Duration) -> Option<(String, Vec<u8>)> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }
}

/// Publish one message from an independent client.
pub async fn publish(topic: &str, payload: &[u8]) {
    let url = broker_url().await;
    let (host, port) = MqttConfig::new(url).endpoint().unwrap();
    let id = format!("test-pub-{}", unique_topic("id").replace('/', "-"));
    let (client, mut eventloop) =
        rumqttc::AsyncClient::new(rumqttc::MqttOptions::new(id, host, port), 16);
    client
        .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.to_vec())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) =
            tokio::time::timeout(Duration::from_secs(1), eventloop.poll())
                .await
                .unwrap_or(Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::PingReq)))
        {
            return;
        }
    }
    panic!("publish to {topic} was not acknowledged");
}

/// The head (request line and headers) of an HTTP request, read from a raw
/// connection by the local servers the tests use; `None` if it closed first.
pub async fn read_head(stream: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

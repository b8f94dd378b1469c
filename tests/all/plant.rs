//! A simulated plant for whole-system scenarios: an oven PLC, an MQTT broker
//! (Mosquitto at `BATON_TEST_MQTT_URL`, else the embedded one), an MES, and a
//! runtime wired to them whose artifact cache is shared across tests.

use std::sync::Arc;
use std::time::Duration;

use baton_connectors::config::{MqttConfig, PlcConfig};
use baton_connectors::mqtt::{MqttConnection, TopicFilter};
use baton_connectors::{Connectors, ConnectorsConfig, MqttClient};
use baton_runtime::{Attempt, Limits, Plugin, Runtime, RuntimeConfig, TaskContext, TaskRequest};
use baton_sim::{EmbeddedBroker, Oven, SimulatedMes, SimulatedPlc};
use serde_json::Value;

pub struct Plant {
    pub plc: SimulatedPlc,
    pub mes: SimulatedMes,
    pub broker_url: String,
    pub runtime: Runtime,
}

impl Plant {
    pub async fn start() -> Self {
        let plc = SimulatedPlc::start(([127, 0, 0, 1], 0).into(), Oven::new(), None)
            .await
            .unwrap();
        let mes = SimulatedMes::start().await.unwrap();
        let broker_url = EmbeddedBroker::test_url()
            .await
            .unwrap_or_else(|e| panic!("the test broker: {e}"));
        let mut config = ConnectorsConfig::default();
        config
            .plc
            .insert("oven-1".into(), PlcConfig::new(plc.url()));
        config
            .mqtt
            .insert("plant".into(), MqttConfig::new(broker_url.clone()));
        let connectors = Connectors::from_config(&config).unwrap();
        assert!(
            connectors.wait_connected(Duration::from_secs(10)).await,
            "broker unreachable"
        );
        let runtime = Runtime::new(
            RuntimeConfig {
                cache_dir: Some(crate::guests::artifact_cache()),
                ..Default::default()
            },
            connectors,
        )
        .unwrap();
        Self {
            plc,
            mes,
            broker_url,
            runtime,
        }
    }

    /// Load a component. Loads are serialised so that a large component is
    /// compiled by the first test that needs it and read from the cache by the rest.
    pub async fn load(&self, wasm: &[u8]) -> Plugin {
        static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _guard = ONE_AT_A_TIME.lock().await;
        self.runtime.load(wasm).await.unwrap()
    }

    pub async fn run(
        &self,
        plugin: &Plugin,
        config: Value,
        input: Value,
        grants: Value,
        limits: Limits,
    ) -> Attempt {
        let request = TaskRequest {
            context: TaskContext::new("run-7", "check", 1),
            config: config.to_string(),
            input: input.to_string(),
            grants: Arc::new(serde_json::from_value(grants).unwrap()),
            limits,
            act_until: None,
        };
        self.runtime.run(plugin, request).await
    }

    /// An independent MQTT client, as a SCADA system or another machine would be.
    pub async fn client(&self) -> MqttConnection {
        let client =
            MqttConnection::connect("scada", &MqttConfig::new(self.broker_url.clone())).unwrap();
        assert!(client.wait_connected(Duration::from_secs(10)).await);
        client
    }

    /// Start waiting for the next message on `filter` through an independent client.
    pub async fn listen(
        &self,
        filter: &str,
    ) -> tokio::task::JoinHandle<Option<baton_connectors::mqtt::Message>> {
        let client = self.client().await;
        let filter: TopicFilter = filter.parse().unwrap();
        let task = tokio::spawn(async move {
            client
                .receive(filter, Duration::from_secs(20))
                .await
                .unwrap()
        });
        // Give the subscription time to reach the broker.
        tokio::time::sleep(Duration::from_millis(500)).await;
        task
    }
}

/// A topic no other test (or earlier run against the same broker) uses.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}/{}-{n}", std::process::id())
}

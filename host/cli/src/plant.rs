//! A simulated plant on local ports: an oven PLC and an MQTT broker.

use std::time::Duration;

use anyhow::Context as _;
use baton_connectors::MqttClient as _;
use baton_connectors::config::{MqttConfig, PlcConfig};
use baton_connectors::mqtt::MqttConnection;
use baton_sim::{EmbeddedBroker, Oven, SimulatedPlc};

use crate::settings::Settings;

/// Name under which the simulated oven PLC is configured.
pub const PLC_NAME: &str = "oven-1";
/// Name under which the embedded broker is configured.
pub const MQTT_NAME: &str = "plant";

/// The running simulation; it stops when dropped (the broker at process exit).
pub struct Plant {
    /// The oven PLC.
    pub plc: SimulatedPlc,
    /// The broker.
    pub broker: EmbeddedBroker,
}

impl Plant {
    /// Start both on free local ports, the oven ticking every `tick`.
    pub async fn start(tick: Duration) -> anyhow::Result<Self> {
        let plc = SimulatedPlc::start(([127, 0, 0, 1], 0).into(), Oven::new(), Some(tick))
            .await
            .context("starting the simulated PLC")?;
        let broker = tokio::task::spawn_blocking(|| EmbeddedBroker::start(0))
            .await
            .context("starting the embedded MQTT broker")??;
        Ok(Self { plc, broker })
    }

    /// Print every message published on the broker to stderr, until the
    /// returned task is aborted.
    pub async fn print_messages(&self) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let client = MqttConnection::connect("watch", &MqttConfig::new(self.broker.url()))?;
        anyhow::ensure!(
            client.wait_connected(Duration::from_secs(5)).await,
            "cannot connect to the simulated broker"
        );
        let mut messages = std::sync::Arc::new(client)
            .subscribe("#".parse()?)
            .await
            .context("watching the simulated broker")?;
        Ok(tokio::spawn(async move {
            while let Some(message) = messages.recv().await {
                eprintln!(
                    "[mqtt {MQTT_NAME}] {}: {}",
                    message.topic,
                    String::from_utf8_lossy(&message.payload)
                );
            }
        }))
    }

    /// Add `oven-1` and `plant` to the settings, unless already configured.
    pub fn configure(&self, settings: &mut Settings) {
        settings
            .plc
            .entry(PLC_NAME.into())
            .or_insert_with(|| PlcConfig::new(self.plc.url()));
        settings
            .mqtt
            .entry(MQTT_NAME.into())
            .or_insert_with(|| MqttConfig::new(self.broker.url()));
    }
}

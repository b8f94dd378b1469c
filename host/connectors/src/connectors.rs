//! The set of live connections, by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{ConfigError, ConnectorsConfig};
use crate::health::{ConnectorsHealth, Health, NamedHealth};
use crate::mqtt::{MqttClient, MqttConnection};
use crate::plc::{ModbusDevice, PlcDevice};

/// Every PLC device and MQTT broker the host offers, by name. Cheap to clone.
#[derive(Clone, Default)]
pub struct Connectors {
    plc: BTreeMap<String, Arc<dyn PlcDevice>>,
    mqtt: BTreeMap<String, Arc<dyn MqttClient>>,
    /// MQTT connections configured `interlocked = true`.
    interlocked_mqtt: std::collections::BTreeSet<String>,
}

impl Connectors {
    /// Open every configured connection. PLC devices connect on first use;
    /// MQTT brokers start connecting in the background, so this needs a tokio runtime.
    pub fn from_config(config: &ConnectorsConfig) -> Result<Self, ConfigError> {
        let mut connectors = Self::default();
        for (name, plc) in &config.plc {
            plc.endpoint().map_err(|reason| ConfigError {
                kind: "plc",
                name: name.clone(),
                reason,
            })?;
            connectors = connectors.with_plc(name, Arc::new(ModbusDevice::new(name, plc.clone())));
        }
        for (name, mqtt) in &config.mqtt {
            connectors = connectors.with_mqtt(name, Arc::new(MqttConnection::connect(name, mqtt)?));
            if mqtt.interlocked {
                connectors.interlocked_mqtt.insert(name.clone());
            }
        }
        Ok(connectors)
    }

    /// Add (or replace) a PLC device, e.g. a test double.
    pub fn with_plc(mut self, name: impl Into<String>, device: Arc<dyn PlcDevice>) -> Self {
        self.plc.insert(name.into(), device);
        self
    }

    /// Add (or replace) an MQTT broker connection.
    pub fn with_mqtt(mut self, name: impl Into<String>, client: Arc<dyn MqttClient>) -> Self {
        self.mqtt.insert(name.into(), client);
        self
    }

    /// The PLC device called `name`.
    pub fn plc(&self, name: &str) -> Option<&Arc<dyn PlcDevice>> {
        self.plc.get(name)
    }

    /// Whether the MQTT connection `name` is configured `interlocked`: its
    /// publishes actuate equipment, so the safety interlock denies them.
    pub fn mqtt_interlocked(&self, name: &str) -> bool {
        self.interlocked_mqtt.contains(name)
    }

    /// The MQTT connection called `name`.
    pub fn mqtt(&self, name: &str) -> Option<&Arc<dyn MqttClient>> {
        self.mqtt.get(name)
    }

    /// Wait up to `timeout` for every MQTT connection to be up; returns whether they all are.
    pub async fn wait_connected(&self, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let down: Vec<&str> = self
                .mqtt
                .iter()
                .filter(|(_, c)| !c.is_connected())
                .map(|(n, _)| n.as_str())
                .collect();
            if down.is_empty() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(connections = ?down, "mqtt connections not up yet");
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// How every connection is doing, by name. Never waits on a request in flight.
    pub fn health(&self) -> ConnectorsHealth {
        let named = |(name, health): (&String, Health)| NamedHealth {
            name: name.clone(),
            health,
        };
        ConnectorsHealth {
            plc: self
                .plc
                .iter()
                .map(|(n, d)| named((n, d.health())))
                .collect(),
            mqtt: self
                .mqtt
                .iter()
                .map(|(n, c)| named((n, c.health())))
                .collect(),
        }
    }

    /// Names of the configured PLC devices.
    pub fn plc_names(&self) -> impl Iterator<Item = &str> {
        self.plc.keys().map(String::as_str)
    }

    /// Names of the configured MQTT connections.
    pub fn mqtt_names(&self) -> impl Iterator<Item = &str> {
        self.mqtt.keys().map(String::as_str)
    }
}

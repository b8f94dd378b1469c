//! Connectors: the named PLC devices and MQTT brokers that tasks reach through
//! their grants.
//!
//! A plugin never sees an address. The host configuration names each
//! connection (`[plc.oven-1]`, `[mqtt.plant]`), this crate turns those into
//! live clients, and the runtime hands a task only the names its grants allow.
//!
//! Each kind of connection sits behind a small trait ([`PlcDevice`],
//! [`MqttClient`]) so that the runtime does not care whether it talks to a real
//! device or to a test double; the real implementations are:
//! - [`plc::ModbusDevice`]: Modbus TCP via tokio-modbus, one connection per
//!   device, serialised access, request timeouts, reconnect with back-off.
//! - [`mqtt::MqttConnection`]: MQTT 3.1.1 via rumqttc, one client per broker,
//!   reconnecting, with publishes that wait for the broker's acknowledgement.
//!
//! # Layout
//! - [`config`]: the `[plc.*]` and `[mqtt.*]` tables of `baton.toml`.
//! - [`plc`]: the PLC request model, errors and the Modbus TCP device.
//! - [`mqtt`]: the MQTT client trait, errors and the rumqttc connection.
//! - [`health`]: how each connection is doing, for operators.
//! - [`Connectors`]: the set of live connections, by name.
#![deny(missing_docs)]

pub mod config;
pub mod health;
pub mod mqtt;
pub mod plc;

mod connectors;

pub use config::{ConfigError, ConnectorsConfig};
pub use connectors::Connectors;
pub use health::{ConnectorsHealth, Health, HealthState, NamedHealth};
pub use mqtt::MqttClient;
pub use plc::PlcDevice;

/// A boxed future, so that connector traits stay object-safe.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

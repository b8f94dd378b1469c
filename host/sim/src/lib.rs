//! Simulated plant equipment, so that Baton can be tried and tested without a
//! factory: a Modbus TCP oven and an embedded MQTT broker.
//!
//! Both speak the real protocols over real sockets. The engine's connectors
//! cannot tell them from the real thing, which is the point: tests and the demo
//! exercise the same code paths a plant would.
//!
//! # Layout
//! - [`oven`]: the oven model and its register map.
//! - [`plc`]: a tokio-modbus TCP server exposing an oven.
//! - [`broker`]: an embedded rumqttd MQTT broker on a local port.
#![deny(missing_docs)]

pub mod broker;
pub mod oven;
pub mod plc;

pub use broker::EmbeddedBroker;
pub use oven::Oven;
pub use plc::SimulatedPlc;

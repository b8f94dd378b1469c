//! Simulated plant equipment, so that Baton can be tried and tested without a
//! factory: a Modbus TCP oven, an embedded MQTT broker and an MES endpoint.
//!
//! Both speak the real protocols over real sockets. The engine's connectors
//! cannot tell them from the real thing, which is the point: tests and the demo
//! exercise the same code paths a plant would.
//!
//! # Layout
//! - [`oven`]: the oven model and its register map.
//! - [`plc`]: a tokio-modbus TCP server exposing an oven.
//! - [`broker`]: an embedded rumqttd MQTT broker on a local port.
//! - [`mes`]: an HTTP server standing in for an MES, recording what it receives
//!   and, when asked, applying each idempotency key once.
//! - [`disk`]: the fsync baseline the benchmarks print.
//! - [`suite`]: what a test does when a tool or service it needs is missing:
//!   skip with one visible line, or fail under `CI=true`.
#![deny(missing_docs)]

pub mod broker;
pub mod disk;
pub mod mes;
pub mod oven;
pub mod plc;
pub mod suite;

pub use broker::EmbeddedBroker;
pub use mes::{Delivery, SimulatedMes};
pub use oven::Oven;
pub use plc::{SimulatedPlc, Write as PlcWrite};

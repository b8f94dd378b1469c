//! Runtime behaviour against real parts: a Modbus TCP server, an MQTT broker
//! (embedded, or Mosquitto at `BATON_TEST_MQTT_URL`) and a local HTTP server.
//! All runtime integration tests compile into this one binary.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

mod bounds;
mod cache;
mod denials;
mod hostile;
mod http_limits;
mod plugins;
mod sandbox;
mod uploads;

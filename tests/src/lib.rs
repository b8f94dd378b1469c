//! Whole-system scenarios for Baton live in `all/`; this library is empty.
//!
//! The scenarios drive the real parts together: the runtime with its
//! connectors, the first-party and example plugins built from source, a
//! simulated PLC, and real MQTT brokers (a private Mosquitto process that the
//! tests stop and restart, when Mosquitto is installed).

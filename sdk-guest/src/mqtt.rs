//! Publish to and receive from MQTT brokers named in the host config.
//!
//! Every call is checked against the node's `mqtt` grant; outside it the call
//! returns [`MqttError::Denied`].

use std::time::Duration;

pub use crate::bindings::baton::plugin::mqtt::{Message, MqttError, Qos};

#[cfg(target_arch = "wasm32")]
use crate::bindings::baton::plugin::mqtt as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::mqtt as host;

/// Publish raw bytes. With `Qos::AtLeastOnce` or `Qos::ExactlyOnce` this
/// returns once the broker has acknowledged the message.
pub fn publish(
    connection: &str,
    topic: &str,
    payload: &[u8],
    qos: Qos,
    retain: bool,
) -> Result<(), MqttError> {
    host::publish(connection, topic, payload, qos, retain)
}

/// Publish a value as JSON with at-least-once delivery.
pub fn publish_json<T: serde::Serialize>(
    connection: &str,
    topic: &str,
    value: &T,
) -> Result<(), crate::Error> {
    let payload = serde_json::to_vec(value)?;
    Ok(publish(
        connection,
        topic,
        &payload,
        Qos::AtLeastOnce,
        false,
    )?)
}

/// Wait up to `timeout` for the next message matching `filter`.
pub fn receive(
    connection: &str,
    filter: &str,
    timeout: Duration,
) -> Result<Option<Message>, MqttError> {
    let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    host::receive(connection, filter, ms)
}

/// A one-line description of an MQTT error, for messages and logs.
pub fn describe(error: &MqttError) -> String {
    match error {
        MqttError::Denied(m) => format!("denied: {m}"),
        MqttError::UnknownConnection(c) => format!("unknown connection `{c}`"),
        MqttError::Timeout => "the broker did not acknowledge in time".into(),
        MqttError::Unavailable(m) => format!("broker unavailable: {m}"),
        MqttError::InvalidArgument(m) => format!("invalid argument: {m}"),
    }
}

impl From<MqttError> for crate::Error {
    fn from(e: MqttError) -> Self {
        let message = format!("mqtt: {}", describe(&e));
        match e {
            MqttError::Timeout | MqttError::Unavailable(_) => crate::Error::Retryable(message),
            _ => crate::Error::Fatal(message),
        }
    }
}

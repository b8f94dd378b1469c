//! MQTT access: the client trait tasks publish and receive through, and its errors.

mod connection;

use std::time::Duration;

pub use baton_grant::mqtt::TopicFilter;
pub use connection::{MqttConnection, Watch};

use crate::BoxFuture;
use crate::health::Health;

/// MQTT delivery guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QoS {
    /// At most once.
    AtMostOnce,
    /// At least once.
    AtLeastOnce,
    /// Exactly once.
    ExactlyOnce,
}

/// A message received from a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic it was published on.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Whether the broker delivered it as a retained message.
    pub retain: bool,
}

/// Why an MQTT call failed. Mirrors the WIT `mqtt-error` variants a broker can cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MqttError {
    /// The broker did not acknowledge in time.
    #[error("the broker did not acknowledge in time")]
    Timeout,
    /// Not connected to the broker right now.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// A malformed topic or filter, or an oversized payload.
    #[error("invalid request: {0}")]
    InvalidArgument(String),
}

/// A broker connection the runtime can publish and receive through.
pub trait MqttClient: Send + Sync {
    /// Whether the broker is connected right now.
    fn is_connected(&self) -> bool {
        true
    }

    /// How the connection is doing, for operators. Implementations that do
    /// not track it say `unknown`.
    fn health(&self) -> Health {
        Health::unknown()
    }

    /// Publish and, for QoS 1 and 2, wait for the broker's acknowledgement.
    fn publish(
        &self,
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
    ) -> BoxFuture<'_, Result<(), MqttError>>;

    /// Wait up to `timeout` for the next message matching `filter`.
    fn receive(
        &self,
        filter: TopicFilter,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Option<Message>, MqttError>>;

    /// Subscribe to `filter` for as long as the returned receiver is kept.
    /// The broker has acknowledged the subscription when this returns, and
    /// it is restored after a reconnect. The receiver ends if the connection
    /// is dropped.
    fn subscribe(
        self: std::sync::Arc<Self>,
        filter: TopicFilter,
    ) -> BoxFuture<'static, Result<tokio::sync::mpsc::Receiver<Message>, MqttError>>;

    /// Like [`MqttClient::subscribe`], as a member of the shared
    /// subscription `group` (`$share/GROUP/FILTER`): each message goes to
    /// one member of the group only, so that several processes subscribed
    /// this way share the messages rather than each getting every one.
    /// Clients that cannot share subscribe alone.
    fn subscribe_shared(
        self: std::sync::Arc<Self>,
        group: String,
        filter: TopicFilter,
    ) -> BoxFuture<'static, Result<tokio::sync::mpsc::Receiver<Message>, MqttError>> {
        let _ = group;
        self.subscribe(filter)
    }
}

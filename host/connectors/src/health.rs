//! How a connection is doing, for operators: whether it is up, and its most
//! recent failure.
//!
//! A snapshot is cheap to take and never waits on a request in flight, so a
//! status page can poll it while a device is stuck in a timeout.

use serde::Serialize;

/// Whether a connection is usable right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// The last connect or request succeeded.
    Connected,
    /// The last connect or request failed, or the connection was lost.
    Offline,
    /// Not used yet: a PLC device connects on first use.
    Idle,
    /// The implementation does not report its health (a test double, say).
    Unknown,
}

/// One connection's health. `last_error` is kept after the connection
/// recovers, so an operator still sees what went wrong last and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Whether it is usable right now.
    pub state: HealthState,
    /// The most recent failure, naming the address where there is one.
    pub last_error: Option<String>,
    /// When that failure happened, in milliseconds since the Unix epoch.
    pub last_error_at: Option<i64>,
}

impl Health {
    /// A health with this state and no failure recorded.
    pub fn new(state: HealthState) -> Self {
        Self {
            state,
            last_error: None,
            last_error_at: None,
        }
    }

    /// What a connection that does not report its health says.
    pub fn unknown() -> Self {
        Self::new(HealthState::Unknown)
    }

    /// Record a failure now: offline, with `message`.
    pub fn failed(&mut self, message: impl Into<String>) {
        self.state = HealthState::Offline;
        self.last_error = Some(message.into());
        self.last_error_at = Some(now_ms());
    }
}

/// One named connection's health, as listed by [`crate::Connectors::health`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedHealth {
    /// The connection's name in `baton.toml` (`[plc.oven-1]` is `oven-1`).
    pub name: String,
    /// Its health.
    #[serde(flatten)]
    pub health: Health,
}

/// The health of every configured connection, by kind and then by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConnectorsHealth {
    /// The PLC devices.
    pub plc: Vec<NamedHealth>,
    /// The MQTT connections.
    pub mqtt: Vec<NamedHealth>,
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_lowercase_and_flat() {
        let mut health = Health::new(HealthState::Idle);
        assert_eq!(
            serde_json::to_value(&health).unwrap(),
            serde_json::json!({"state": "idle", "last_error": null, "last_error_at": null})
        );
        health.failed("cannot connect to 127.0.0.1:1");
        assert_eq!(health.state, HealthState::Offline);
        assert!(health.last_error_at.unwrap() > 1_700_000_000_000);
        let named = NamedHealth {
            name: "oven-1".into(),
            health,
        };
        let v = serde_json::to_value(&named).unwrap();
        assert_eq!(v["name"], "oven-1");
        assert_eq!(v["state"], "offline");
        assert_eq!(v["last_error"], "cannot connect to 127.0.0.1:1");
    }
}

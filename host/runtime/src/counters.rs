//! Counters of failed connector calls made by tasks, by connection and
//! kind of failure, for the server's metrics.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Failed PLC and MQTT calls so far. Denials are not connector errors and
/// are not counted here; they are recorded on the attempt.
#[derive(Debug, Default)]
pub struct ConnectorErrors {
    counts: Mutex<BTreeMap<ConnectorError, u64>>,
}

/// What a count is of.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConnectorError {
    /// `plc` or `mqtt`.
    pub connector: &'static str,
    /// The device or connection name.
    pub name: String,
    /// `timeout`, `unavailable`, `exception` or `invalid_argument`.
    pub kind: &'static str,
}

impl ConnectorErrors {
    /// Count one failure.
    pub fn record(&self, connector: &'static str, name: &str, kind: &'static str) {
        let key = ConnectorError {
            connector,
            name: name.to_string(),
            kind,
        };
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(key).or_default() += 1;
        }
    }

    /// Every count, ordered.
    pub fn snapshot(&self) -> Vec<(ConnectorError, u64)> {
        self.counts
            .lock()
            .map(|c| c.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_connection_and_kind() {
        let errors = ConnectorErrors::default();
        errors.record("plc", "oven-1", "timeout");
        errors.record("plc", "oven-1", "timeout");
        errors.record("mqtt", "plant", "unavailable");
        let snapshot = errors.snapshot();
        assert_eq!(snapshot.len(), 2);
        assert_eq!(snapshot[1].0.name, "oven-1");
        assert_eq!(snapshot[1].1, 2);
        assert_eq!(snapshot[0].0.connector, "mqtt");
    }
}

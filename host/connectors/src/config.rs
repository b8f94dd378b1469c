//! The `[plc.*]` and `[mqtt.*]` tables of `baton.toml`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Every named connection the host offers to tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorsConfig {
    /// PLC devices by name.
    #[serde(default)]
    pub plc: BTreeMap<String, PlcConfig>,
    /// MQTT brokers by name.
    #[serde(default)]
    pub mqtt: BTreeMap<String, MqttConfig>,
}

/// One Modbus TCP device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlcConfig {
    /// `tcp://HOST[:PORT]`; the port defaults to 502.
    pub url: String,
    /// Modbus unit (slave) id.
    #[serde(default = "default_unit")]
    pub unit: u8,
    /// How long one request may take before it fails with `timeout`.
    #[serde(default = "default_plc_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// How long establishing the TCP connection may take.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest wait between reconnect attempts while the device is offline.
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
}

/// One MQTT broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://HOST[:PORT]`; the port defaults to 1883.
    pub url: String,
    /// Client id; defaults to `baton-<name>-<process id>-<n>`, unique per connection.
    #[serde(default)]
    pub client_id: Option<String>,
    /// User name, if the broker requires one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password, if the broker requires one.
    #[serde(default)]
    pub password: Option<String>,
    /// MQTT keep-alive interval.
    #[serde(default = "default_keep_alive", with = "humantime_serde")]
    pub keep_alive: Duration,
    /// How long a publish or subscribe waits for the broker's acknowledgement.
    #[serde(default = "default_ack_timeout", with = "humantime_serde")]
    pub ack_timeout: Duration,
    /// Largest payload a task may publish or receive, in bytes.
    #[serde(default = "default_max_payload")]
    pub max_payload: usize,
    /// Whether publishing on this broker actuates equipment: while the
    /// safety interlock is engaged, every task publish on it is denied.
    #[serde(default)]
    pub interlocked: bool,
}

fn default_unit() -> u8 {
    1
}
fn default_plc_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(3)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}
fn default_keep_alive() -> Duration {
    Duration::from_secs(30)
}
fn default_ack_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_payload() -> usize {
    256 * 1024
}

impl PlcConfig {
    /// A device at `tcp://host:port` with default timeouts.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            unit: default_unit(),
            timeout: default_plc_timeout(),
            connect_timeout: default_connect_timeout(),
            max_backoff: default_max_backoff(),
        }
    }

    /// The host and port to connect to.
    pub fn endpoint(&self) -> Result<(String, u16), String> {
        endpoint(&self.url, "tcp", 502)
    }
}

impl MqttConfig {
    /// A broker at `mqtt://host:port` with default settings.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            client_id: None,
            username: None,
            password: None,
            keep_alive: default_keep_alive(),
            ack_timeout: default_ack_timeout(),
            max_payload: default_max_payload(),
            interlocked: false,
        }
    }

    /// The host and port to connect to.
    pub fn endpoint(&self) -> Result<(String, u16), String> {
        endpoint(&self.url, "mqtt", 1883)
    }
}

fn endpoint(raw: &str, scheme: &str, default_port: u16) -> Result<(String, u16), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("`{raw}` is not a valid URL: {e}"))?;
    if url.scheme() != scheme {
        return Err(format!(
            "`{raw}`: the scheme must be `{scheme}://` (found `{}://`)",
            url.scheme()
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("`{raw}` has no host"))?
        .trim_matches(['[', ']'])
        .to_string();
    if url.path() != "" && url.path() != "/" {
        return Err(format!("`{raw}`: a path is not allowed here"));
    }
    Ok((host, url.port().unwrap_or(default_port)))
}

/// A connection in the configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{kind} connection `{name}`: {reason}")]
pub struct ConfigError {
    /// `plc` or `mqtt`.
    pub kind: &'static str,
    /// The connection's name.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints_with_default_ports() {
        assert_eq!(
            PlcConfig::new("tcp://10.0.4.21").endpoint().unwrap(),
            ("10.0.4.21".to_string(), 502)
        );
        assert_eq!(
            MqttConfig::new("mqtt://broker.local:1884")
                .endpoint()
                .unwrap(),
            ("broker.local".to_string(), 1884)
        );
        assert_eq!(
            PlcConfig::new("tcp://[::1]:1502").endpoint().unwrap(),
            ("::1".to_string(), 1502)
        );
    }

    #[test]
    fn rejects_wrong_schemes_and_garbage() {
        let e = PlcConfig::new("http://10.0.4.21").endpoint().unwrap_err();
        assert!(e.contains("must be `tcp://`"), "{e}");
        let e = MqttConfig::new("broker.local").endpoint().unwrap_err();
        assert!(e.contains("not a valid URL"), "{e}");
    }

    #[test]
    fn reads_toml_with_durations_and_rejects_unknown_keys() {
        let cfg: ConnectorsConfig = toml::from_str(
            r#"
            [plc.oven-1]
            url = "tcp://10.0.4.21:502"
            unit = 3
            timeout = "500ms"
            [mqtt.plant]
            url = "mqtt://broker.local:1883"
            "#,
        )
        .unwrap();
        assert_eq!(cfg.plc["oven-1"].unit, 3);
        assert_eq!(cfg.plc["oven-1"].timeout, Duration::from_millis(500));
        assert_eq!(cfg.mqtt["plant"].ack_timeout, Duration::from_secs(10));
        let e = toml::from_str::<ConnectorsConfig>("[plc.a]\nurl = \"tcp://x\"\nport = 1\n")
            .unwrap_err();
        assert!(e.to_string().contains("unknown field `port`"), "{e}");
    }
}

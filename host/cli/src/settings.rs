//! `baton.toml`: named connections and runtime settings.

use std::path::Path;

use anyhow::Context as _;
use baton_connectors::ConnectorsConfig;
use baton_connectors::config::{MqttConfig, PlcConfig};
use baton_runtime::RuntimeConfig;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The host configuration file. Unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// PLC devices by name.
    #[serde(default)]
    pub plc: BTreeMap<String, PlcConfig>,
    /// MQTT brokers by name.
    #[serde(default)]
    pub mqtt: BTreeMap<String, MqttConfig>,
    /// Runtime limits and caches.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// The server: where it listens and keeps its state.
    #[serde(default)]
    pub server: ServerSettings,
    /// How the engine runs work.
    #[serde(default)]
    pub engine: baton_engine::EngineConfig,
}

/// `[server]` in `baton.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: String,
    /// Where the database (by default) and compiled plugin artifacts live.
    pub data_dir: std::path::PathBuf,
    /// `sqlite://...` or `postgres://...`; by default `baton.db` in `data_dir`.
    pub database: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: "baton-data".into(),
            database: None,
        }
    }
}

impl Settings {
    /// Read `path`, or `./baton.toml` if it exists, or use defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None if Path::new("baton.toml").exists() => "baton.toml".into(),
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("in {}", path.display()))
    }

    /// The connection tables.
    pub fn connectors(&self) -> ConnectorsConfig {
        ConnectorsConfig {
            plc: self.plc.clone(),
            mqtt: self.mqtt.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors_with_the_file_name() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "[runtime]\nmax_instance = 3\n").unwrap();
        let e = format!("{:#}", Settings::load(Some(file.path())).unwrap_err());
        assert!(e.contains("unknown field `max_instance`"), "{e}");
        assert!(e.contains(&file.path().display().to_string()), "{e}");
    }

    #[test]
    fn the_example_configuration_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/baton.toml");
        let s = Settings::load(Some(&path)).unwrap();
        assert_eq!(s.plc["oven-1"].timeout, std::time::Duration::from_secs(2));
        assert_eq!(s.mqtt["plant"].max_payload, 262_144);
        assert_eq!(s.runtime.defaults, baton_runtime::Limits::default());
    }

    #[test]
    fn reads_connections_and_limits() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            "[plc.oven-1]\nurl = \"tcp://127.0.0.1:1502\"\n[runtime.defaults]\ncpu = \"2s\"\n",
        )
        .unwrap();
        let s = Settings::load(Some(file.path())).unwrap();
        assert_eq!(s.plc["oven-1"].url, "tcp://127.0.0.1:1502");
        assert_eq!(s.runtime.defaults.cpu, std::time::Duration::from_secs(2));
    }
}

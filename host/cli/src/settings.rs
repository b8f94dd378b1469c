//! `baton.toml`: named connections and runtime settings, layered as
//! defaults, then the file, then `BATON_*` environment variables, then flags.
//!
//! Any key can be set from the environment: `BATON_` followed by the key's
//! path joined with `__`, e.g. `BATON_SERVER__LISTEN=0.0.0.0:8080`,
//! `BATON_RUNTIME__DEFAULTS__CPU=2s` or `BATON_PLC__OVEN1__URL=tcp://10.0.0.5:502`.
//! Sections and keys are lowercased; values are read as TOML values
//! (numbers, booleans, arrays) and otherwise taken as strings, except
//! `BATON_SECRETS__NAME`, which is always the string as given.

use std::path::Path;
use std::time::Duration;

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
    /// `[secrets]`: credentials that workflows name as `{secret: NAME}`.
    /// Printing settings shows the names, never the values.
    #[serde(default)]
    pub secrets: baton_engine::Secrets,
    /// `[retention]`: how long finished runs and audit events are kept;
    /// forever unless set.
    #[serde(default)]
    pub retention: baton_engine::RetentionConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogSettings,
}

/// `[log]` in `baton.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` (the default) or `json` lines.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `warn,baton_engine=debug`; `BATON_LOG` overrides it.
    pub level: Option<String>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
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
    /// How long a client may take to send a request's head, or leave a
    /// connection idle; then the connection is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long a request may take before it is answered 408 (a run start's
    /// `?wait=` adds to it; an event stream is not cut by it).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Live event streams one token may hold open; the next is a 429.
    pub max_streams_per_token: usize,
    /// How long `/readyz` waits for the store.
    #[serde(with = "humantime_serde")]
    pub ready_timeout: Duration,
    /// The least role that may release the safety interlock: `admin` (the
    /// default) or `operator`. Any operator may engage it.
    pub interlock_release_role: baton_api::auth::Role,
}

impl Default for ServerSettings {
    fn default() -> Self {
        let limits = baton_api::Limits::default();
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: "baton-data".into(),
            database: None,
            header_read_timeout: limits.header_read_timeout,
            request_timeout: limits.request_timeout,
            max_connections: limits.max_connections,
            max_streams_per_token: limits.max_streams_per_token,
            ready_timeout: limits.ready_timeout,
            interlock_release_role: baton_api::auth::Role::Admin,
        }
    }
}

impl ServerSettings {
    /// The API's limits; each must be above zero, or nothing could be served.
    pub fn limits(&self) -> anyhow::Result<baton_api::Limits> {
        let durations = [
            ("header_read_timeout", self.header_read_timeout),
            ("request_timeout", self.request_timeout),
            ("ready_timeout", self.ready_timeout),
        ];
        if let Some((key, _)) = durations.iter().find(|(_, d)| d.is_zero()) {
            anyhow::bail!("server.{key} must be longer than zero");
        }
        let counts = [
            ("max_connections", self.max_connections),
            ("max_streams_per_token", self.max_streams_per_token),
        ];
        if let Some((key, _)) = counts.iter().find(|(_, n)| *n == 0) {
            anyhow::bail!("server.{key} must be at least 1");
        }
        Ok(baton_api::Limits {
            header_read_timeout: self.header_read_timeout,
            request_timeout: self.request_timeout,
            max_connections: self.max_connections,
            max_streams_per_token: self.max_streams_per_token,
            ready_timeout: self.ready_timeout,
        })
    }
}

impl Settings {
    /// For a local run (`baton task run`, `baton workflow run`): unless
    /// `[runtime] cache_dir` names one, keep compiled artifacts in the user's
    /// cache directory (`$XDG_CACHE_HOME/baton/artifacts`, by default
    /// `~/.cache/baton/artifacts`), so that running the same plugin again
    /// does not compile it again. Without a usable cache directory, say so
    /// and compile every time.
    pub fn use_local_cache(&mut self) {
        if self.runtime.cache_dir.is_some() {
            return;
        }
        let Some(dir) = dirs::cache_dir().map(|d| d.join("baton").join("artifacts")) else {
            tracing::warn!("no user cache directory: compiled plugins are not kept");
            return;
        };
        match std::fs::create_dir_all(&dir) {
            Ok(()) => self.runtime.cache_dir = Some(dir),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot use the cache directory: compiled plugins are not kept");
            }
        }
    }

    /// Read `path`, or `./baton.toml` if it exists, or use defaults.
    /// Then apply the `BATON_*__*` environment variables.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_with(path, std::env::vars())
    }

    fn load_with(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let path = match path {
            Some(p) => Some(p.to_path_buf()),
            None if Path::new("baton.toml").exists() => Some("baton.toml".into()),
            None => None,
        };
        let (mut table, origin) = match &path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let table: toml::Table =
                    toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
                (table, path.display().to_string())
            }
            None => (toml::Table::new(), "the defaults".to_string()),
        };
        let mut from_env = Vec::new();
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("BATON_") else {
                continue;
            };
            if !key.contains("__") {
                continue; // BATON_LISTEN and friends are flags' variables
            }
            let parts: Vec<String> = key.split("__").map(str::to_lowercase).collect();
            // A secret is text as given: `0123` or `true` must stay as typed.
            let value = match parts.first().map(String::as_str) {
                Some("secrets") => toml::Value::String(value),
                _ => env_value(&value),
            };
            set(&mut table, &parts, value)
                .with_context(|| format!("{name}: cannot set {}", parts.join(".")))?;
            from_env.push(name);
        }
        let origin = match from_env.is_empty() {
            true => origin,
            false => format!("{origin} with {}", from_env.join(", ")),
        };
        toml::Value::Table(table)
            .try_into()
            .with_context(|| format!("in {origin}"))
    }

    /// The connection tables.
    pub fn connectors(&self) -> ConnectorsConfig {
        ConnectorsConfig {
            plc: self.plc.clone(),
            mqtt: self.mqtt.clone(),
        }
    }
}

/// A variable's text as a TOML value: a number, boolean or array if it
/// reads as one, else a string.
fn env_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table())
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

fn set(table: &mut toml::Table, path: &[String], value: toml::Value) -> anyhow::Result<()> {
    let (last, parents) = path.split_last().context("an empty key")?;
    let mut at = table;
    for part in parents {
        at = at
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .with_context(|| format!("`{part}` is not a section"))?;
    }
    at.insert(last.clone(), value);
    Ok(())
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
    fn the_interlock_release_role_is_read_and_checked() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            "[server]\ninterlock_release_role = \"operator\"\n",
        )
        .unwrap();
        let s = Settings::load_with(Some(file.path()), []).unwrap();
        assert_eq!(
            s.server.interlock_release_role,
            baton_api::auth::Role::Operator
        );
        assert_eq!(
            Settings::load_with(None, [])
                .unwrap()
                .server
                .interlock_release_role,
            baton_api::auth::Role::Admin
        );
        std::fs::write(file.path(), "[server]\ninterlock_release_role = \"root\"\n").unwrap();
        let e = format!(
            "{:#}",
            Settings::load_with(Some(file.path()), []).unwrap_err()
        );
        assert!(e.contains("root"), "{e}");
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

    #[test]
    fn environment_variables_override_the_file() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            "[server]\nlisten = \"127.0.0.1:1\"\n[plc.oven1]\nurl = \"tcp://a:502\"\n",
        )
        .unwrap();
        let vars = [
            ("BATON_SERVER__LISTEN", "0.0.0.0:9000"),
            ("BATON_PLC__OVEN1__URL", "tcp://10.0.0.5:502"),
            ("BATON_MQTT__PLANT__URL", "mqtt://broker:1883"),
            ("BATON_RUNTIME__DEFAULTS__CPU", "3s"),
            ("BATON_ENGINE__MAX_CONCURRENT_TASKS", "7"),
            ("BATON_ENGINE__FAST_PATH__ENABLED", "false"),
            ("BATON_ENGINE__FAST_PATH__MAX_DELAY", "250ms"),
            ("BATON_LOG__FORMAT", "json"),
            ("BATON_LISTEN", "ignored: a flag's variable"),
            ("PATH", "/bin"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let s = Settings::load_with(Some(file.path()), vars).unwrap();
        assert_eq!(s.server.listen, "0.0.0.0:9000");
        assert_eq!(s.plc["oven1"].url, "tcp://10.0.0.5:502");
        assert_eq!(s.mqtt["plant"].url, "mqtt://broker:1883");
        assert_eq!(s.runtime.defaults.cpu, std::time::Duration::from_secs(3));
        assert_eq!(s.engine.max_concurrent_tasks, 7);
        assert!(!s.engine.fast_path.enabled);
        assert_eq!(
            s.engine.fast_path.max_delay,
            std::time::Duration::from_millis(250)
        );
        assert_eq!(s.engine.fast_path.max_events, 4096, "the default");
        assert_eq!(s.log.format, LogFormat::Json);
    }

    #[test]
    fn server_limits_have_defaults_and_are_read_from_the_file_and_the_environment() {
        let s = Settings::load_with(None, []).unwrap();
        assert_eq!(s.server.limits().unwrap(), baton_api::Limits::default());
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            "[server]\nheader_read_timeout = \"2s\"\nrequest_timeout = \"1m\"\nmax_connections = 64\n",
        )
        .unwrap();
        let vars = [("BATON_SERVER__MAX_STREAMS_PER_TOKEN", "4")]
            .map(|(k, v)| (k.to_string(), v.to_string()));
        let limits = Settings::load_with(Some(file.path()), vars)
            .unwrap()
            .server
            .limits()
            .unwrap();
        assert_eq!(limits.header_read_timeout, Duration::from_secs(2));
        assert_eq!(limits.request_timeout, Duration::from_secs(60));
        assert_eq!(limits.max_connections, 64);
        assert_eq!(limits.max_streams_per_token, 4);
        assert_eq!(limits.ready_timeout, Duration::from_secs(2));

        let vars =
            [("BATON_SERVER__MAX_CONNECTIONS", "0")].map(|(k, v)| (k.to_string(), v.to_string()));
        let e = Settings::load_with(None, vars)
            .unwrap()
            .server
            .limits()
            .unwrap_err();
        assert!(e.to_string().contains("server.max_connections"), "{e}");
        let vars =
            [("BATON_SERVER__REQUEST_TIMEOUT", "0s")].map(|(k, v)| (k.to_string(), v.to_string()));
        let e = Settings::load_with(None, vars)
            .unwrap()
            .server
            .limits()
            .unwrap_err();
        assert!(e.to_string().contains("server.request_timeout"), "{e}");
    }

    #[test]
    fn secrets_come_from_the_file_and_the_environment_and_are_never_printed() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "[secrets]\nmes_token = \"tok-from-file\"\n").unwrap();
        let vars = [("BATON_SECRETS__BROKER_PASSWORD", "0123")]
            .map(|(k, v)| (k.to_string(), v.to_string()));
        let s = Settings::load_with(Some(file.path()), vars).unwrap();
        let names: Vec<&str> = s.secrets.names().collect();
        assert_eq!(names, ["broker_password", "mes_token"]);
        assert_eq!(
            s.secrets.redact("0123 tok-from-file"),
            "[secret broker_password] [secret mes_token]"
        );
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("tok-from-file") && !shown.contains("0123"),
            "{shown}"
        );

        std::fs::write(file.path(), "[secrets]\npin = 482913\n").unwrap();
        let e = format!(
            "{:#}",
            Settings::load_with(Some(file.path()), []).unwrap_err()
        );
        assert!(
            e.contains("must be a string") && !e.contains("482913"),
            "{e}"
        );
    }

    #[test]
    fn retention_is_off_by_default_and_read_and_checked() {
        let s = Settings::load_with(None, []).unwrap();
        assert_eq!(s.retention, baton_engine::RetentionConfig::default());
        assert_eq!((s.retention.runs, s.retention.audit), (None, None));
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            "[retention]\nruns = \"90d\"\naudit = \"off\"\nbatch = 200\n",
        )
        .unwrap();
        let vars =
            [("BATON_RETENTION__INTERVAL", "30s")].map(|(k, v)| (k.to_string(), v.to_string()));
        let s = Settings::load_with(Some(file.path()), vars).unwrap();
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(s.retention.runs, Some(90 * day));
        assert_eq!(s.retention.audit, None);
        assert_eq!(s.retention.batch, 200);
        assert_eq!(s.retention.interval, Duration::from_secs(30));
        s.retention.validate().unwrap();

        for (text, key) in [
            ("runs = \"90s\"", "retention.runs"),
            ("audit = \"0s\"", "retention.audit"),
            ("batch = 0", "retention.batch"),
            ("batch = 1000000", "retention.batch"),
            ("interval = \"0s\"", "retention.interval"),
            ("interval = \"30d\"", "retention.interval"),
        ] {
            std::fs::write(file.path(), format!("[retention]\n{text}\n")).unwrap();
            let s = Settings::load_with(Some(file.path()), []).unwrap();
            let e = s.retention.validate().unwrap_err().to_string();
            assert!(e.starts_with(key), "{text}: {e}");
        }
        std::fs::write(file.path(), "[retention]\nruns = \"ninety days\"\n").unwrap();
        let e = format!(
            "{:#}",
            Settings::load_with(Some(file.path()), []).unwrap_err()
        );
        assert!(e.contains("ninety days") && e.contains("not an age"), "{e}");
        std::fs::write(file.path(), "[retention]\nrun = \"90d\"\n").unwrap();
        let e = format!(
            "{:#}",
            Settings::load_with(Some(file.path()), []).unwrap_err()
        );
        assert!(e.contains("unknown field `run`"), "{e}");
    }

    #[test]
    fn an_unknown_key_from_the_environment_is_an_error_naming_it() {
        let vars = [("BATON_SERVER__LISTN".to_string(), "x".to_string())];
        let e = format!("{:#}", Settings::load_with(None, vars).unwrap_err());
        assert!(e.contains("unknown field `listn`"), "{e}");
        assert!(e.contains("BATON_SERVER__LISTN"), "{e}");
    }
}

//! A loaded plugin and what it reports about itself.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bindings::TaskPre;
use crate::state::TaskState;
use crate::{Error, Result};

/// What a plugin's `describe` reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Plugin name, e.g. `modbus-read`.
    pub name: String,
    /// Semantic version, e.g. `1.2.0`.
    pub version: String,
    /// One line for operators.
    pub description: String,
    /// JSON Schema for node config, as JSON text.
    pub config_schema: Option<String>,
}

impl PluginInfo {
    /// The major version, which workflows pin (`name@major`).
    pub fn major(&self) -> u64 {
        self.version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    /// Check the fields a vendor controls, so a bad `describe` is refused at upload.
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Describe(m));
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.starts_with(|c: char| c.is_ascii_lowercase())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return bad(format!(
                "name `{}` must be 1-64 characters of lowercase letters, digits and `-`, starting with a letter",
                self.name
            ));
        }
        let core = self.version.split(['-', '+']).next().unwrap_or("");
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || p.parse::<u64>().is_err())
        {
            return bad(format!(
                "version `{}` is not a semantic version such as 1.0.0",
                self.version
            ));
        }
        if let Some(schema) = &self.config_schema {
            match serde_json::from_str::<serde_json::Value>(schema) {
                Ok(serde_json::Value::Object(_)) | Ok(serde_json::Value::Bool(_)) => {}
                Ok(_) => return bad("config-schema must be a JSON object".into()),
                Err(e) => return bad(format!("config-schema is not valid JSON: {e}")),
            }
        }
        Ok(())
    }
}

/// A plugin component, compiled and ready to instantiate.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) pre: TaskPre<TaskState>,
    /// Lowercase hex SHA-256 of the component bytes.
    pub digest: String,
    /// What `describe` reported.
    pub info: PluginInfo,
    /// Everything the component imports, e.g. `baton:plugin/plc@0.1.0`.
    pub imports: Vec<String>,
    /// Component size in bytes.
    pub size: usize,
    /// How long compiling took, or `None` if the artifact came from the cache.
    pub compile_time: Option<Duration>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("digest", &self.digest)
            .field("info", &self.info)
            .field("imports", &self.imports)
            .field("size", &self.size)
            .field("compile_time", &self.compile_time)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, version: &str, schema: Option<&str>) -> PluginInfo {
        PluginInfo {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            config_schema: schema.map(str::to_string),
        }
    }

    #[test]
    fn accepts_good_describe_and_rejects_bad_ones() {
        assert!(info("modbus-read", "1.0.0", Some("{}")).validate().is_ok());
        assert!(info("x1", "0.2.3-rc.1", None).validate().is_ok());
        for (i, why) in [
            (info("Modbus", "1.0.0", None), "lowercase"),
            (info("", "1.0.0", None), "lowercase"),
            (info("a", "1.0", None), "semantic version"),
            (info("a", "1.0.0", Some("[1]")), "JSON object"),
            (info("a", "1.0.0", Some("{")), "not valid JSON"),
        ] {
            let e = i.validate().unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        assert_eq!(info("a", "2.1.0", None).major(), 2);
    }
}

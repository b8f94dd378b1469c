//! What validation knows about the host: the stored plugins, the
//! configured connections and the secrets' names, read once per validation.

use std::collections::BTreeMap;

use baton_store::PluginRecord;
use baton_workflow::{Catalog, PluginMeta};
use serde_json::{Value, json};

/// A snapshot of the plugins and connections.
pub(crate) struct Snapshot {
    /// Newest plugin per (name, major).
    newest: BTreeMap<(String, u64), PluginRecord>,
    plc: Vec<String>,
    mqtt: Vec<String>,
    /// Names only: validation never holds a value.
    secrets: Vec<String>,
    /// The newest version of each applied workflow.
    workflows: BTreeMap<String, i64>,
}

impl Snapshot {
    pub(crate) fn new(
        plugins: Vec<PluginRecord>,
        plc: impl Iterator<Item = String>,
        mqtt: impl Iterator<Item = String>,
        secrets: impl Iterator<Item = String>,
        workflows: Vec<(String, i64)>,
    ) -> Self {
        let mut newest: BTreeMap<(String, u64), PluginRecord> = BTreeMap::new();
        for p in plugins {
            let version = semver::Version::parse(&p.version).ok();
            let key = (p.name.clone(), p.major);
            let newer = match newest.get(&key) {
                None => true,
                Some(old) => version > semver::Version::parse(&old.version).ok(),
            };
            if newer {
                newest.insert(key, p);
            }
        }
        Self {
            newest,
            plc: plc.collect(),
            mqtt: mqtt.collect(),
            secrets: secrets.collect(),
            workflows: workflows.into_iter().collect(),
        }
    }

    /// How each `name@major` a workflow uses resolves: version and digest.
    pub(crate) fn resolve<'a>(&self, refs: impl Iterator<Item = &'a str>) -> Value {
        let mut out = serde_json::Map::new();
        for r in refs {
            if let Ok((name, major)) = baton_workflow::definition::plugin_ref(r)
                && let Some(p) = self.newest.get(&(name.to_string(), major))
            {
                out.insert(
                    r.to_string(),
                    json!({"version": p.version, "digest": p.digest}),
                );
            }
        }
        Value::Object(out)
    }
}

impl Catalog for Snapshot {
    fn plugin(&self, name: &str, major: u64) -> Option<PluginMeta> {
        self.newest
            .get(&(name.to_string(), major))
            .map(|p| PluginMeta {
                version: p.version.clone(),
                config_schema: p.config_schema.clone(),
            })
    }

    fn has_plc(&self, device: &str) -> bool {
        self.plc.iter().any(|d| d == device)
    }

    fn has_mqtt(&self, connection: &str) -> bool {
        self.mqtt.iter().any(|c| c == connection)
    }

    fn has_secret(&self, name: &str) -> bool {
        self.secrets.iter().any(|s| s == name)
    }

    fn knows_workflows(&self) -> bool {
        true
    }

    fn latest_workflow(&self, name: &str) -> Option<i64> {
        self.workflows.get(name).copied()
    }
}

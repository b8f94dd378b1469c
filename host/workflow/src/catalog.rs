//! What validation needs to know about the host: its plugins, connections
//! and secret names.

use serde_json::Value;

/// A plugin as far as validation is concerned.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginMeta {
    /// The exact version that `name@major` resolves to.
    pub version: String,
    /// JSON Schema for the node's `config`, if the plugin declares one.
    pub config_schema: Option<Value>,
}

/// The host's plugins and named connections.
pub trait Catalog {
    /// The newest plugin called `name` with this major version.
    fn plugin(&self, name: &str, major: u64) -> Option<PluginMeta>;
    /// Whether a PLC device of this name is configured.
    fn has_plc(&self, device: &str) -> bool;
    /// Whether an MQTT connection of this name is configured.
    fn has_mqtt(&self, connection: &str) -> bool;
    /// Whether a secret of this name is configured. Only names are asked
    /// about: validation never sees a value. A catalog that keeps no secrets
    /// answers no.
    fn has_secret(&self, name: &str) -> bool {
        let _ = name;
        false
    }
    /// Whether this catalog knows the applied workflows; if not, a
    /// sub-workflow's name is not checked.
    fn knows_workflows(&self) -> bool {
        false
    }
    /// The newest applied version of workflow `name`, if any.
    fn latest_workflow(&self, name: &str) -> Option<i64> {
        let _ = name;
        None
    }
}

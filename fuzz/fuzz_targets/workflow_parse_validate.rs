//! `Workflow::parse_with` then `validate_with`, within the default limits, on
//! any text: neither may panic, overflow the stack or take unbounded time.
#![no_main]

use baton_workflow::validate::MAX_PROBLEMS;
use baton_workflow::{Catalog, Limits, PluginMeta, Workflow, validate_with};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

/// The host of `host/workflow/tests/validation.rs`: `modbus-read@1` with a
/// schema, `transform@1` without one, PLC `oven-1` and MQTT `plant`.
struct Host;

impl Catalog for Host {
    fn plugin(&self, name: &str, major: u64) -> Option<PluginMeta> {
        match (name, major) {
            ("modbus-read", 1) => Some(PluginMeta {
                version: "1.0.0".into(),
                config_schema: Some(json!({
                    "type": "object",
                    "required": ["device", "kind", "address"],
                    "additionalProperties": false,
                    "properties": {
                        "device": {"type": "string"},
                        "kind": {"enum": ["holding", "input", "coil", "discrete"]},
                        "address": {"type": "integer", "minimum": 0, "maximum": 65535}
                    }
                })),
            }),
            ("transform", 1) => Some(PluginMeta {
                version: "1.2.0".into(),
                config_schema: None,
            }),
            _ => None,
        }
    }
    fn has_plc(&self, device: &str) -> bool {
        device == "oven-1"
    }
    fn has_mqtt(&self, connection: &str) -> bool {
        connection == "plant"
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::default();
    let Ok(workflow) = Workflow::parse_with(text, &limits) else {
        return;
    };
    assert!(workflow.nodes.len() <= limits.max_nodes);
    if let Err(problems) = validate_with(&workflow, &Host, &limits) {
        // The answer stays bounded too: at most MAX_PROBLEMS and one summary.
        assert!(!problems.0.is_empty());
        assert!(problems.0.len() <= MAX_PROBLEMS + 1, "{}", problems.0.len());
    }
});

//! Bounds on what a workflow definition may ask of the host.
//!
//! A definition arrives from anyone holding a token, so parsing and
//! validating it must take bounded time and memory whatever it holds. Each
//! bound has a default, can be changed in `baton.toml` under
//! `[engine.workflows]`, and is named in the error when it is hit.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a workflow definition may contain, and the largest per-node settings
/// validation accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most values (scalars, lists and maps, counted after YAML aliases are
    /// expanded) in one definition. This is the alias-expansion budget.
    pub max_values: usize,
    /// Deepest nesting of lists and maps in a definition, the workflow
    /// itself included (a node's `config` starts four levels down).
    pub max_depth: usize,
    /// Most nodes in one workflow.
    pub max_nodes: usize,
    /// Longest CEL expression, in bytes.
    pub max_expression_bytes: usize,
    /// Deepest CEL expression tree: each operator, call, index, field
    /// selection and literal list or map adds a level.
    pub max_expression_depth: usize,
    /// Most comprehensions (`all`, `exists`, `map`, `filter`, ...) nested in
    /// one another in a CEL expression. Each level multiplies the work of
    /// evaluating it by its list's length, so this bounds what a short
    /// expression can cost the engine.
    pub max_comprehension_depth: usize,
    /// Longest `timeout` of a task node (per attempt).
    #[serde(with = "humantime_serde")]
    pub max_task_timeout: Duration,
    /// Longest wait: the `timeout` of an approval or wait node, a delay's
    /// `duration` and a retry interval.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// Largest `limits.cpu` of a node.
    #[serde(with = "humantime_serde")]
    pub max_cpu: Duration,
    /// Largest `limits.memory` of a node, in bytes.
    pub max_memory: u64,
    /// Largest `limits.output` of a node, in bytes.
    pub max_output: usize,
    /// Largest `retry.max_attempts`.
    pub max_attempts: u32,
    /// Largest `limits.items` of a `foreach` node: most items one node may
    /// fan out over.
    pub max_foreach_items: usize,
    /// Largest `limits.log_lines` of a node.
    pub max_log_lines: usize,
    /// Largest `limits.log_bytes` of a node.
    pub max_log_bytes: usize,
    /// Largest `limits.denials` of a node.
    pub max_denials: usize,
    /// Largest `limits.scratch` of a node, in bytes.
    pub max_scratch: u64,
    /// Largest `limits.http_requests` of a node.
    pub max_http_requests: usize,
    /// Largest `limits.http_response_bytes` of a node.
    pub max_http_response_bytes: u64,
    /// Longest `limits.http_connect_timeout` of a node.
    #[serde(with = "humantime_serde")]
    pub max_http_connect_timeout: Duration,
    /// Longest `limits.http_first_byte_timeout` of a node.
    #[serde(with = "humantime_serde")]
    pub max_http_first_byte_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_values: 100_000,
            max_depth: 32,
            max_nodes: 1_000,
            max_expression_bytes: 4096,
            max_expression_depth: 64,
            max_comprehension_depth: 2,
            max_task_timeout: Duration::from_secs(24 * 3600),
            max_wait: Duration::from_secs(366 * 24 * 3600),
            max_cpu: Duration::from_secs(3600),
            max_memory: 1 << 30,
            max_output: 16 << 20,
            max_attempts: 100,
            max_foreach_items: 100_000,
            max_log_lines: 100_000,
            max_log_bytes: 16 << 20,
            max_denials: 10_000,
            max_scratch: 4 << 30,
            max_http_requests: 64,
            max_http_response_bytes: 1 << 30,
            max_http_connect_timeout: Duration::from_secs(60),
            max_http_first_byte_timeout: Duration::from_secs(600),
        }
    }
}

/// How many items a `foreach` node fans out over when its node sets no
/// `limits.items`.
pub const DEFAULT_FOREACH_ITEMS: usize = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_from_toml_keep_defaults_and_refuse_unknown_keys() {
        let l: Limits = serde_json::from_str(r#"{"max_nodes": 50, "max_wait": "7d"}"#).unwrap();
        assert_eq!(l.max_nodes, 50);
        assert_eq!(l.max_wait, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(l.max_values, Limits::default().max_values);
        assert!(serde_json::from_str::<Limits>(r#"{"max_node": 5}"#).is_err());
    }

    /// A host with only `transform@1`.
    struct Host;

    impl crate::Catalog for Host {
        fn plugin(&self, name: &str, major: u64) -> Option<crate::PluginMeta> {
            ((name, major) == ("transform", 1)).then(|| crate::PluginMeta {
                version: "1.0.0".into(),
                config_schema: None,
            })
        }
        fn has_plc(&self, _: &str) -> bool {
            false
        }
        fn has_mqtt(&self, _: &str) -> bool {
            false
        }
    }

    #[test]
    fn http_overrides_are_bounded_and_named() {
        let node = |limits: &str| {
            let text = format!("name: w\nnodes:\n  a: {{plugin: transform@1, limits: {limits}}}\n");
            let wf = crate::Workflow::parse(&text).unwrap();
            crate::validate(&wf, &Host).map_err(|p| p.0)
        };
        for (limits, field, text) in [
            (
                "{http_requests: 65}",
                "limits.http_requests",
                "engine.workflows.max_http_requests",
            ),
            ("{http_requests: 0}", "limits.http_requests", "at least 1"),
            (
                "{http_response_bytes: 2147483648}",
                "limits.http_response_bytes",
                "max_http_response_bytes",
            ),
            (
                "{http_connect_timeout: 2m}",
                "limits.http_connect_timeout",
                "max_http_connect_timeout",
            ),
            (
                "{http_connect_timeout: 0s}",
                "limits.http_connect_timeout",
                "longer than zero",
            ),
            (
                "{http_first_byte_timeout: 11m}",
                "limits.http_first_byte_timeout",
                "max_http_first_byte_timeout",
            ),
        ] {
            let problems = node(limits).unwrap_err();
            assert_eq!(problems.len(), 1, "{limits}: {problems:?}");
            assert_eq!(problems[0].field, field, "{limits}");
            assert!(
                problems[0].message.contains(text),
                "{limits}: {}",
                problems[0].message
            );
        }
        let wf = node(
            "{http_requests: 64, http_response_bytes: 1073741824, http_connect_timeout: 1m, http_first_byte_timeout: 10m}",
        );
        assert_eq!(wf, Ok(()));
    }
}

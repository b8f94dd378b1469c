//! Each kind of invalid workflow gets its own message, naming the node and the
//! field, and every problem is reported at once.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use baton_workflow::{Catalog, PluginMeta, Problem, Workflow, validate};
use serde_json::json;

/// The host as validation sees it: `modbus-read@1` with a schema, `transform@1`
/// without one, PLC `oven-1` and MQTT `plant`.
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
    fn has_secret(&self, name: &str) -> bool {
        name == "mes_token"
    }
}

fn problems(yaml: &str) -> Vec<Problem> {
    let wf = Workflow::parse(yaml).unwrap();
    validate(&wf, &Host).unwrap_err().0
}

/// Exactly one problem, at `node` and `field`, whose message contains `text`.
fn single(yaml: &str, node: Option<&str>, field: &str, text: &str) {
    let found = problems(yaml);
    assert_eq!(found.len(), 1, "expected one problem, got {found:#?}");
    let p = &found[0];
    assert_eq!((p.node.as_deref(), p.field.as_str()), (node, field), "{p}");
    assert!(
        p.message.contains(text),
        "`{}` does not contain `{text}`",
        p.message
    );
}

const READ: &str =
    "plugin: modbus-read@1\n    config: {device: oven-1, kind: holding, address: 10}";

#[test]
fn a_good_workflow_passes() {
    let wf = Workflow::parse(&format!(
        r#"
name: line1-startup
triggers: [{{mqtt: {{connection: plant, topic: plant/line1/start}}}}]
on_failure: compensate
nodes:
  read_temp:
    {READ}
    grants: {{plc: [{{device: oven-1, read: ["holding:10"]}}]}}
  check:
    needs: [read_temp]
    when: "nodes.read_temp.output.values[0] < 180"
    plugin: transform@1
    input: {{temp: "nodes.read_temp.output.values[0]", line: "input.line"}}
  approve: {{needs: [check], type: approval, timeout: 30m, on_timeout: reject}}
  settle: {{needs: [approve], type: delay, duration: 5s}}
  start_signal: {{needs: [settle], type: wait, mqtt: {{connection: plant, topic: plant/line1/go}}, timeout: 10m}}
  each:
    needs: [start_signal]
    foreach: input.batches
    concurrency: 4
    plugin: transform@1
    input: "item"
"#
    ))
    .unwrap();
    assert_eq!(validate(&wf, &Host), Ok(()));
}

#[test]
fn a_secret_must_be_configured_and_passes_the_schema_as_a_string() {
    let known = "name: w\nnodes:\n  read:\n    plugin: modbus-read@1\n    config: {device: {secret: mes_token}, kind: holding, address: 10}\n";
    assert_eq!(validate(&Workflow::parse(known).unwrap(), &Host), Ok(()));
    single(
        &known.replace("mes_token", "mes_tokn"),
        Some("read"),
        "config.device",
        "no secret `mes_tokn` is configured",
    );
    single(
        "name: w\nnodes:\n  a:\n    plugin: transform@1\n    compensate: {plugin: transform@1, config: {auth: [{secret: nope}]}}\n",
        Some("a"),
        "compensate.config.auth.0",
        "no secret `nope`",
    );
}

#[test]
fn cycles() {
    let found = problems(
        "name: w\nnodes:\n  a: {plugin: transform@1, needs: [c]}\n  b: {plugin: transform@1, needs: [a]}\n  c: {plugin: transform@1, needs: [b]}\n",
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].field, "needs");
    assert!(found[0].message.contains("forms a cycle"), "{}", found[0]);
}

#[test]
fn unknown_needs() {
    single(
        "name: w\nnodes:\n  a: {plugin: transform@1, needs: [reed]}\n",
        Some("a"),
        "needs[0]",
        "unknown node `reed`",
    );
}

#[test]
fn duplicate_ids() {
    single(
        "{\"name\": \"w\", \"nodes\": {\"a\": {\"plugin\": \"transform@1\"}, \"a\": {\"plugin\": \"transform@1\"}}}",
        Some("a"),
        "id",
        "defined more than once",
    );
}

#[test]
fn missing_plugins_and_versions() {
    single(
        "name: w\nnodes:\n  a: {plugin: modbus-reed@1}\n",
        Some("a"),
        "plugin",
        "no plugin `modbus-reed` with major version 1",
    );
    single(
        "name: w\nnodes:\n  a: {plugin: transform@2}\n",
        Some("a"),
        "plugin",
        "major version 2",
    );
    single(
        "name: w\nnodes:\n  a: {plugin: transform}\n",
        Some("a"),
        "plugin",
        "major version",
    );
    single(
        "name: w\nnodes:\n  a: {}\n",
        Some("a"),
        "plugin",
        "needs a `plugin`",
    );
}

#[test]
fn config_that_violates_the_plugin_schema() {
    let found = problems(
        "name: w\nnodes:\n  a:\n    plugin: modbus-read@1\n    config: {device: oven-1, kind: register, address: 70000}\n",
    );
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["config.address", "config.kind"], "{found:#?}");
    assert!(found[0].message.contains("65535"), "{}", found[0]);
    // An absent config is an empty object: every required property is missing.
    let found = problems("name: w\nnodes:\n  a: {plugin: modbus-read@1}\n");
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found
            .iter()
            .all(|p| p.field == "config" && p.message.contains("is a required property")),
        "{found:#?}"
    );
}

#[test]
fn grants_naming_unconfigured_connections() {
    let found = problems(&format!(
        "name: w\nnodes:\n  a:\n    {READ}\n    grants: {{plc: [{{device: oven-9, read: [\"holding:1\"]}}], mqtt: [{{connection: mes, publish: [a]}}]}}\n"
    ));
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["grants.plc[0].device", "grants.mqtt[0].connection"],
        "{found:#?}"
    );
    assert!(found[0].message.contains("no PLC device `oven-9`"));
}

#[test]
fn cel_that_does_not_compile() {
    single(
        "name: w\nnodes:\n  a: {plugin: transform@1, when: \"input.x <\"}\n",
        Some("a"),
        "when",
        "is not valid CEL",
    );
    single(
        "name: w\nnodes:\n  a: {plugin: transform@1, input: {t: \"input.(\"}}\n",
        Some("a"),
        "input.t",
        "is not valid CEL",
    );
    single(
        "name: w\nnodes:\n  a: {plugin: transform@1, when: \"env.HOME != ''\"}\n",
        Some("a"),
        "when",
        "uses `env`",
    );
}

#[test]
fn expressions_may_read_only_upstream_nodes() {
    single(
        "name: w\nnodes:\n  a: {plugin: transform@1}\n  b: {plugin: transform@1, input: \"nodes.a.output\"}\n",
        Some("b"),
        "input",
        "`nodes.a`, which is not upstream",
    );
    single(
        "name: w\nnodes:\n  a: {plugin: transform@1, input: \"item\"}\n",
        Some("a"),
        "input",
        "only in a node with `foreach`",
    );
}

#[test]
fn fields_that_do_not_belong_to_the_node_type() {
    single(
        "name: w\nnodes:\n  a: {type: approval, plugin: transform@1}\n",
        Some("a"),
        "plugin",
        "does not apply to a approval node",
    );
    single(
        "name: w\nnodes:\n  a: {type: delay}\n",
        Some("a"),
        "duration",
        "needs a `duration`",
    );
    single(
        "name: w\nnodes:\n  a: {type: wait}\n",
        Some("a"),
        "mqtt",
        "exactly one of `mqtt` or `signal`",
    );
    single(
        "name: w\nnodes:\n  a: {type: approval, on_timeout: approve}\n",
        Some("a"),
        "on_timeout",
        "without a `timeout`",
    );
    single(
        "name: w\nnodes:\n  a: {plugin: transform@1, concurrency: 2}\n",
        Some("a"),
        "concurrency",
        "only with `foreach`",
    );
    single(
        "name: w\nnodes:\n  a: {type: approval, durable: true}\n",
        Some("a"),
        "durable",
        "does not apply to a approval node",
    );
    let durable = Workflow::parse("name: w\nnodes:\n  a: {plugin: transform@1, durable: true}\n");
    assert!(validate(&durable.unwrap(), &Host).is_ok());
}

#[test]
fn retry_policies_are_checked() {
    let found = problems(
        "name: w\nnodes:\n  a:\n    plugin: transform@1\n    retry: {max_attempts: 0, backoff: 0.5, initial_interval: 5s, max_interval: 1s, non_retryable: [sometimes]}\n",
    );
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "retry.max_attempts",
            "retry.backoff",
            "retry.max_interval",
            "retry.non_retryable[0]"
        ],
        "{found:#?}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let found = problems(
        "name: Bad_Name\nnodes:\n  a: {plugin: nope@1, needs: [zz]}\n  b: {type: delay}\n  c-d: {plugin: transform@1}\n",
    );
    let located: Vec<(Option<&str>, &str)> = found
        .iter()
        .map(|p| (p.node.as_deref(), p.field.as_str()))
        .collect();
    assert_eq!(
        located,
        [
            (None, "name"),
            (Some("a"), "needs[0]"),
            (Some("a"), "plugin"),
            (Some("b"), "duration"),
            (Some("c-d"), "id")
        ],
        "{found:#?}"
    );
    let text = baton_workflow::Problems(found).to_string();
    assert!(
        text.contains("node `a`, plugin: no plugin `nope`"),
        "{text}"
    );
}

#[test]
fn node_settings_past_the_host_bounds_are_refused_with_the_key() {
    single(
        "name: w\nnodes:\n  a: {plugin: transform@1, timeout: 25h}\n",
        Some("a"),
        "timeout",
        "engine.workflows.max_task_timeout",
    );
    single(
        "name: w\nnodes:\n  a: {type: approval, timeout: 400d}\n",
        Some("a"),
        "timeout",
        "is 400d; at most 366d is allowed",
    );
    single(
        "name: w\nnodes:\n  a: {type: delay, duration: 1000y}\n",
        Some("a"),
        "duration",
        "max_wait",
    );
    single(
        "name: w\nnodes:\n  a: {plugin: transform@1, retry: {max_attempts: 1000000}}\n",
        Some("a"),
        "retry.max_attempts",
        "at most 100",
    );
    single(
        "name: w\nnodes:\n  a: {plugin: transform@1, retry: {initial_interval: 1s, max_interval: 5000d}}\n",
        Some("a"),
        "retry.max_interval",
        "max_wait",
    );
    for (limits, field, text) in [
        ("{cpu: 2h}", "limits.cpu", "max_cpu"),
        ("{cpu: 0s}", "limits.cpu", "longer than zero"),
        ("{memory: 8589934592}", "limits.memory", "max_memory"),
        ("{memory: 0}", "limits.memory", "at least 1"),
        ("{output: 1073741824}", "limits.output", "max_output"),
        ("{items: 5}", "limits.items", "only with `foreach`"),
    ] {
        single(
            &format!("name: w\nnodes:\n  a: {{plugin: transform@1, limits: {limits}}}\n"),
            Some("a"),
            field,
            text,
        );
    }
    single(
        "name: w\nnodes:\n  a: {plugin: transform@1, foreach: '[1]', limits: {items: 1000000}}\n",
        Some("a"),
        "limits.items",
        "max_foreach_items",
    );
    // Up to the bounds is fine.
    let wf = Workflow::parse(
        "name: w\nnodes:\n  a: {plugin: transform@1, timeout: 24h, retry: {max_attempts: 100, max_interval: 366d}, foreach: '[1]', limits: {cpu: 1h, memory: 1073741824, items: 100000}}\n",
    )
    .unwrap();
    assert_eq!(validate(&wf, &Host), Ok(()));
}

#[test]
fn a_duration_too_large_to_represent_is_refused_not_wrapped() {
    let e = Workflow::parse(
        "name: w\nnodes:\n  a: {type: delay, duration: 99999999999999999999999s}\n",
    )
    .unwrap_err();
    assert!(e.message.contains("duration"), "{e}");
}

#[test]
fn at_most_a_hundred_problems_then_a_count() {
    let mut yaml = String::from("name: w\nnodes:\n");
    for i in 0..300 {
        yaml.push_str(&format!("  n{i}: {{plugin: missing@1}}\n"));
    }
    let found = problems(&yaml);
    assert_eq!(found.len(), baton_workflow::validate::MAX_PROBLEMS + 1);
    let last = found.last().unwrap();
    assert!(last.message.contains("200 more problems"), "{last}");
}

#[test]
fn node_count_and_expression_limits_are_named() {
    let limits = baton_workflow::Limits {
        max_nodes: 10,
        ..Default::default()
    };
    let mut yaml = String::from("name: w\nnodes:\n");
    for i in 0..11 {
        yaml.push_str(&format!("  n{i}: {{type: approval}}\n"));
    }
    let e = Workflow::parse_with(&yaml, &limits).unwrap_err();
    assert!(e.message.contains("has 11 nodes; at most 10"), "{e}");
    assert!(e.message.contains("max_nodes"), "{e}");

    let deep = format!("1{}", "+1".repeat(100));
    single(
        &format!("name: w\nnodes:\n  a: {{type: approval, when: '{deep} > 0'}}\n"),
        Some("a"),
        "when",
        "engine.workflows.max_expression_depth",
    );
}

#[test]
fn a_long_chain_validates_and_references_along_it_are_upstream() {
    let mut yaml = String::from("name: w\nnodes:\n");
    for i in 0..1000 {
        if i == 0 {
            yaml.push_str("  n0: {plugin: transform@1, input: \"nodes.n999.output\"}\n");
        } else {
            yaml.push_str(&format!(
                "  n{i}: {{plugin: transform@1, needs: [n{}]}}\n",
                i + 1
            ));
        }
    }
    yaml = yaml.replace("needs: [n1000]", "needs: []");
    let wf = Workflow::parse(&yaml).unwrap();
    let found = validate(&wf, &Host).unwrap_err().0;
    // n0 reads n999, which is not upstream (n0 needs nothing); nothing else is wrong.
    assert_eq!(found.len(), 1, "{found:#?}");
    let fixed = yaml.replace(
        "  n0: {plugin: transform@1,",
        "  n0: {plugin: transform@1, needs: [n1],",
    );
    assert_eq!(validate(&Workflow::parse(&fixed).unwrap(), &Host), Ok(()));
}

#[test]
fn run_keys_and_deadlines_are_checked_at_the_top_level() {
    let ok = "name: w\nkey: \"input.batch\"\nunique_key: true\ndeadline: 2h\non_failure: hold\nnodes:\n  a: { plugin: transform@1 }\n";
    let wf = Workflow::parse(ok).unwrap();
    assert!(validate(&wf, &Host).is_ok());
    assert_eq!(wf.deadline, Some(std::time::Duration::from_secs(7200)));
    single(
        "name: w\nunique_key: true\nnodes:\n  a: { plugin: transform@1 }\n",
        None,
        "unique_key",
        "needs `key`",
    );
    single(
        "name: w\nkey: \"nodes.a.output\"\nnodes:\n  a: { plugin: transform@1 }\n",
        None,
        "key",
        "from `input` only",
    );
    single(
        "name: w\nkey: \"input.(\"\nnodes:\n  a: { plugin: transform@1 }\n",
        None,
        "key",
        "not valid CEL",
    );
    single(
        "name: w\ndeadline: 0s\nnodes:\n  a: { plugin: transform@1 }\n",
        None,
        "deadline",
        "longer than zero",
    );
    single(
        "name: w\ndeadline: 1000d\nnodes:\n  a: { plugin: transform@1 }\n",
        None,
        "deadline",
        "engine.workflows.max_wait",
    );
}

#[test]
fn a_workflow_node_names_another_workflow() {
    let ok = "name: w\nnodes:\n  a: { type: workflow, workflow: cure, version: 2, input: { b: \"input.batch\" } }\n";
    assert!(validate(&Workflow::parse(ok).unwrap(), &Host).is_ok());
    single(
        "name: w\nnodes:\n  a: { type: workflow }\n",
        Some("a"),
        "workflow",
        "needs `workflow`",
    );
    single(
        "name: w\nnodes:\n  a: { type: workflow, workflow: w }\n",
        Some("a"),
        "workflow",
        "a run of itself",
    );
    single(
        "name: w\nnodes:\n  a: { type: workflow, workflow: cure, version: 0 }\n",
        Some("a"),
        "version",
        "1 or more",
    );
    single(
        "name: w\nnodes:\n  a: { type: workflow, workflow: cure, plugin: transform@1 }\n",
        Some("a"),
        "plugin",
        "does not apply to a workflow node",
    );
    single(
        "name: w\nnodes:\n  a: { plugin: transform@1, workflow: cure }\n",
        Some("a"),
        "workflow",
        "does not apply to a task node",
    );
}

#[test]
fn locks_are_names_or_cel_and_their_limits_are_checked() {
    let ok = "name: w\nlocks: [\"oven-1\", \"'line-' + string(input.line)\"]\nnodes:\n  a: { plugin: transform@1, locks: [{ key: filler, limit: 2, on_conflict: reject }] }\n  b: { needs: [a], plugin: transform@1, locks: [\"nodes.a.output.lock\"] }\n";
    assert!(validate(&Workflow::parse(ok).unwrap(), &Host).is_ok());
    single(
        "name: w\nlocks: [\"nodes.a.output\"]\nnodes:\n  a: { plugin: transform@1 }\n",
        None,
        "locks[0]",
        "from `input` only",
    );
    single(
        "name: w\nnodes:\n  a: { plugin: transform@1, locks: [{ key: oven, limit: 0 }] }\n",
        Some("a"),
        "locks[0].limit",
        "from 1 to",
    );
    single(
        "name: w\nnodes:\n  a: { plugin: transform@1, locks: [oven, oven] }\n",
        Some("a"),
        "locks[1]",
        "listed twice",
    );
    single(
        "name: w\nnodes:\n  a: { plugin: transform@1 }\n  b: { plugin: transform@1, locks: [\"nodes.a.output\"] }\n",
        Some("b"),
        "locks[0]",
        "not upstream",
    );
    let many: Vec<String> = (0..17).map(|i| format!("l{i}")).collect();
    single(
        &format!(
            "name: w\nlocks: [{}]\nnodes:\n  a: {{ plugin: transform@1 }}\n",
            many.join(", ")
        ),
        None,
        "locks",
        "at most 16",
    );
    single(
        "name: w\nnodes:\n  a: { plugin: transform@1, locks: [{ key: oven, limit: 10001 }] }\n",
        Some("a"),
        "locks[0].limit",
        "from 1 to 10000",
    );
    single(
        "name: w\nnodes:\n  a: { type: approval, locks: [oven] }\n",
        Some("a"),
        "locks",
        "does not apply to a approval node",
    );
}

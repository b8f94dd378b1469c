//! Every check a workflow must pass before it may run. All problems are
//! collected, not just the first, and each names its node and field.

use std::collections::BTreeSet;

use baton_grant::Grants;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::definition::{NodeKind, plugin_ref};
use crate::expr::{Expr, VARIABLES};
use crate::graph::{Graph, Upstream};
use crate::{Limits, Node, Problem, Problems, Workflow};

mod run;

/// Most problems reported for one definition; the rest are counted in one
/// last problem, so that a hostile definition cannot make a huge answer.
pub const MAX_PROBLEMS: usize = 100;

/// Check `workflow` against the host's plugins and connections, within the
/// default [`Limits`].
pub fn validate(workflow: &Workflow, catalog: &dyn Catalog) -> Result<(), Problems> {
    validate_with(workflow, catalog, &Limits::default())
}

/// Check `workflow` against the host's plugins and connections, and its
/// expressions and per-node settings against `limits`.
pub fn validate_with(
    workflow: &Workflow,
    catalog: &dyn Catalog,
    limits: &Limits,
) -> Result<(), Problems> {
    let mut v = Validator {
        catalog,
        limits,
        problems: Vec::new(),
        suppressed: 0,
    };
    v.workflow(workflow);
    if v.suppressed > 0 {
        v.problems.push(Problem {
            node: None,
            field: "nodes".into(),
            message: format!(
                "{} more problems are not shown; fix these first",
                v.suppressed
            ),
        });
    }
    if v.problems.is_empty() {
        Ok(())
    } else {
        Err(Problems(v.problems))
    }
}

struct Validator<'c> {
    catalog: &'c dyn Catalog,
    limits: &'c Limits,
    problems: Vec<Problem>,
    suppressed: usize,
}

/// Where a problem is, while checking one node.
struct At<'a> {
    node: Option<&'a str>,
}

/// What is upstream of the node being checked; `None` when the graph has a
/// cycle.
struct Up<'a> {
    id: &'a str,
    upstream: Option<&'a Upstream<'a>>,
}

/// A duration in its largest whole unit, as an engineer would write it: `366d`, `24h`.
fn short(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match (secs, d.subsec_nanos()) {
        (0, _) | (_, 1..) => humantime_serde::re::humantime::format_duration(d).to_string(),
        (s, 0) if s % 86_400 == 0 => format!("{}d", s / 86_400),
        (s, 0) if s % 3_600 == 0 => format!("{}h", s / 3_600),
        (s, 0) if s % 60 == 0 => format!("{}m", s / 60),
        (s, 0) => format!("{s}s"),
    }
}

fn is_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_node_id(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Validator<'_> {
    fn report(&mut self, at: &At<'_>, field: impl Into<String>, message: impl Into<String>) {
        if self.problems.len() >= MAX_PROBLEMS {
            self.suppressed += 1;
            return;
        }
        self.problems.push(Problem {
            node: at.node.map(str::to_string),
            field: field.into(),
            message: message.into(),
        });
    }

    fn workflow(&mut self, wf: &Workflow) {
        let top = At { node: None };
        if !is_name(&wf.name) || wf.name.len() > 64 {
            self.report(
                &top,
                "name",
                format!(
                    "`{}` must be lowercase letters, digits and `-`, starting with a letter",
                    wf.name
                ),
            );
        }
        if wf.nodes.is_empty() {
            self.report(&top, "nodes", "a workflow needs at least one node");
        }
        if wf.concurrency == Some(0) {
            self.report(&top, "concurrency", "must be at least 1");
        }
        self.run_settings(wf);
        for (i, trigger) in wf.triggers.iter().enumerate() {
            match (&trigger.mqtt, &trigger.cron, &trigger.plc) {
                (Some(m), None, None) => {
                    if !self.catalog.has_mqtt(&m.connection) {
                        self.report(
                            &top,
                            format!("triggers[{i}].mqtt.connection"),
                            format!(
                                "no MQTT connection `{}` is configured on the host",
                                m.connection
                            ),
                        );
                    }
                    if let Err(e) = m.topic.parse::<baton_grant::mqtt::TopicFilter>() {
                        self.report(&top, format!("triggers[{i}].mqtt.topic"), e.reason);
                    }
                }
                (None, Some(expr), None) => {
                    if let Err(e) = expr.parse::<croner::Cron>() {
                        self.report(
                            &top,
                            format!("triggers[{i}].cron"),
                            format!(
                                "`{expr}` is not a cron schedule such as `0 6 * * MON-FRI`: {e}"
                            ),
                        );
                    }
                }
                (None, None, Some(plc)) => {
                    for (field, message) in plc.problems(self.catalog) {
                        let field = match field {
                            "plc" => format!("triggers[{i}].plc"),
                            f => format!("triggers[{i}].plc.{f}"),
                        };
                        self.report(&top, field, message);
                    }
                }
                _ => self.report(
                    &top,
                    format!("triggers[{i}]"),
                    "a trigger is exactly one of `mqtt`, `cron` or `plc`",
                ),
            }
        }
        for id in wf.nodes.duplicates() {
            self.report(&At { node: Some(id) }, "id", "is defined more than once");
        }
        let graph = Graph::new(wf);
        let upstream = graph.upstream();
        if let Some(cycle) = graph.cycle() {
            self.report(
                &At {
                    node: Some(&cycle[0]),
                },
                "needs",
                format!("forms a cycle: {}", cycle.join(" -> ")),
            );
        }
        for (id, node) in wf.nodes.iter() {
            self.node(wf, upstream.as_ref(), id, node);
        }
    }

    fn node(&mut self, wf: &Workflow, upstream: Option<&Upstream<'_>>, id: &str, node: &Node) {
        let at = At { node: Some(id) };
        if !is_node_id(id) {
            self.report(&at, "id", "node ids are used in CEL as `nodes.<id>`: use lowercase letters, digits and `_`, not starting with a digit");
        }
        let mut seen = BTreeSet::new();
        for (i, need) in node.needs.iter().enumerate() {
            if need == id {
                self.report(&at, format!("needs[{i}]"), "a node cannot need itself");
            } else if wf.node(need).is_none() {
                self.report(&at, format!("needs[{i}]"), format!("unknown node `{need}`"));
            } else if !seen.insert(need) {
                self.report(
                    &at,
                    format!("needs[{i}]"),
                    format!("`{need}` is listed twice"),
                );
            }
        }
        let upstream = Up { id, upstream };
        let foreach = node.foreach.is_some();
        if let Some(when) = &node.when {
            self.expr(&at, "when", when, &upstream, foreach);
        }
        match &node.input {
            Some(Value::String(e)) => self.expr(&at, "input", e, &upstream, foreach),
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    if let Value::String(e) = value {
                        self.expr(&at, &format!("input.{key}"), e, &upstream, foreach);
                    }
                }
            }
            Some(_) | None => {}
        }
        self.fields_for_kind(&at, node);
        self.locks(&at, &node.locks, Some(&upstream));
        match node.kind {
            NodeKind::Task => self.task(&at, node, &upstream),
            NodeKind::Approval => {}
            NodeKind::Delay => {
                if node.duration.is_none() {
                    self.report(
                        &at,
                        "duration",
                        "a delay node needs a `duration`, e.g. `30s`",
                    );
                }
            }
            NodeKind::Workflow => self.subworkflow(&at, wf, node),
            NodeKind::Wait => match (&node.mqtt, &node.signal) {
                (Some(m), None) => {
                    if !self.catalog.has_mqtt(&m.connection) {
                        self.report(
                            &at,
                            "mqtt.connection",
                            format!(
                                "no MQTT connection `{}` is configured on the host",
                                m.connection
                            ),
                        );
                    }
                    if let Err(e) = m.topic.parse::<baton_grant::mqtt::TopicFilter>() {
                        self.report(&at, "mqtt.topic", e.reason);
                    }
                }
                (None, Some(signal)) if signal.is_empty() => {
                    self.report(&at, "signal", "must not be empty")
                }
                (None, Some(_)) => {}
                _ => self.report(
                    &at,
                    "mqtt",
                    "a wait node waits for exactly one of `mqtt` or `signal`",
                ),
            },
        }
        if matches!(node.kind, NodeKind::Approval | NodeKind::Wait) {
            self.duration(
                &at,
                "timeout",
                node.timeout,
                self.limits.max_wait,
                "max_wait",
            );
        }
        self.duration(
            &at,
            "duration",
            node.duration,
            self.limits.max_wait,
            "max_wait",
        );
        if node.on_timeout.is_some() && node.timeout.is_none() {
            self.report(&at, "on_timeout", "has no effect without a `timeout`");
        }
    }

    /// Fields that do not belong to the node's type.
    fn fields_for_kind(&mut self, at: &At<'_>, node: &Node) {
        let set: [(&str, bool); 16] = [
            ("plugin", node.plugin.is_some()),
            ("config", !node.config.is_null()),
            ("input", node.input.is_some()),
            ("grants", node.grants != Grants::default()),
            ("retry", node.retry.is_some()),
            ("limits", node.limits.is_some()),
            ("compensate", node.compensate.is_some()),
            ("foreach", node.foreach.is_some()),
            ("on_timeout", node.on_timeout.is_some()),
            ("duration", node.duration.is_some()),
            ("mqtt", node.mqtt.is_some()),
            ("signal", node.signal.is_some()),
            ("durable", node.durable),
            ("locks", !node.locks.is_empty()),
            ("workflow", node.workflow.is_some()),
            ("version", node.version.is_some()),
        ];
        let allowed: &[&str] = match node.kind {
            NodeKind::Task => &[
                "plugin",
                "config",
                "input",
                "grants",
                "retry",
                "limits",
                "compensate",
                "foreach",
                "durable",
                "locks",
            ],
            NodeKind::Approval => &["on_timeout"],
            NodeKind::Delay => &["duration"],
            NodeKind::Wait => &["on_timeout", "mqtt", "signal"],
            NodeKind::Workflow => &["input", "retry", "foreach", "workflow", "version"],
        };
        for (field, present) in set {
            if present && !allowed.contains(&field) {
                self.report(at, field, format!("does not apply to a {} node", node.kind));
            }
        }
        if node.concurrency.is_some() && node.foreach.is_none() {
            self.report(at, "concurrency", "applies only with `foreach`");
        }
        if node.concurrency == Some(0) {
            self.report(at, "concurrency", "must be at least 1");
        }
    }

    fn task(&mut self, at: &At<'_>, node: &Node, upstream: &Up<'_>) {
        match &node.plugin {
            None => self.report(
                at,
                "plugin",
                "a task node needs a `plugin`, e.g. `modbus-read@1`",
            ),
            Some(plugin) => self.plugin(at, "plugin", "config", plugin, &node.config),
        }
        self.grants(at, "grants", &node.grants);
        if let Some(retry) = &node.retry {
            if retry.max_attempts == 0 {
                self.report(at, "retry.max_attempts", "must be at least 1");
            }
            if retry.max_attempts > self.limits.max_attempts {
                self.report(
                    at,
                    "retry.max_attempts",
                    format!(
                        "is {}; at most {} are allowed (engine.workflows.max_attempts)",
                        retry.max_attempts, self.limits.max_attempts
                    ),
                );
            }
            let max_wait = self.limits.max_wait;
            self.duration(
                at,
                "retry.initial_interval",
                Some(retry.initial_interval),
                max_wait,
                "max_wait",
            );
            self.duration(
                at,
                "retry.max_interval",
                Some(retry.max_interval),
                max_wait,
                "max_wait",
            );
            if !(retry.backoff >= 1.0 && retry.backoff.is_finite()) {
                self.report(at, "retry.backoff", "must be a number of at least 1.0");
            }
            if retry.max_interval < retry.initial_interval {
                self.report(
                    at,
                    "retry.max_interval",
                    "is shorter than `initial_interval`",
                );
            }
            for (i, kind) in retry.non_retryable.iter().enumerate() {
                if !crate::definition::FAILURE_KINDS.contains(&kind.as_str()) {
                    self.report(
                        at,
                        format!("retry.non_retryable[{i}]"),
                        format!(
                            "unknown failure kind `{kind}`; known: {}",
                            crate::definition::FAILURE_KINDS.join(", ")
                        ),
                    );
                }
            }
        }
        if let Some(timeout) = node.timeout
            && timeout.is_zero()
        {
            self.report(at, "timeout", "must be longer than zero");
        }
        self.duration(
            at,
            "timeout",
            node.timeout,
            self.limits.max_task_timeout,
            "max_task_timeout",
        );
        if let Some(limits) = &node.limits {
            self.limits(at, node, limits);
        }
        if let Some(c) = &node.compensate {
            self.plugin(
                at,
                "compensate.plugin",
                "compensate.config",
                &c.plugin,
                &c.config,
            );
            if let Some(grants) = &c.grants {
                self.grants(at, "compensate.grants", grants);
            }
        }
        if let Some(foreach) = &node.foreach {
            self.expr(at, "foreach", foreach, upstream, false);
        }
    }

    /// A duration no longer than the host allows.
    fn duration(
        &mut self,
        at: &At<'_>,
        field: &str,
        value: Option<std::time::Duration>,
        max: std::time::Duration,
        key: &str,
    ) {
        if let Some(value) = value
            && value > max
        {
            self.report(
                at,
                field,
                format!(
                    "is {}; at most {} is allowed (engine.workflows.{key})",
                    short(value),
                    short(max)
                ),
            );
        }
    }

    /// A node's resource limits, within the host's bounds.
    fn limits(&mut self, at: &At<'_>, node: &Node, l: &crate::definition::LimitOverrides) {
        let max = self.limits;
        let waits = [
            ("limits.cpu", l.cpu, max.max_cpu, "max_cpu"),
            (
                "limits.http_connect_timeout",
                l.http_connect_timeout,
                max.max_http_connect_timeout,
                "max_http_connect_timeout",
            ),
            (
                "limits.http_first_byte_timeout",
                l.http_first_byte_timeout,
                max.max_http_first_byte_timeout,
                "max_http_first_byte_timeout",
            ),
        ];
        for (field, value, bound, key) in waits {
            self.duration(at, field, value, bound, key);
            if value.is_some_and(|v| v.is_zero()) {
                self.report(at, field, "must be longer than zero");
            }
        }
        let sizes = [
            ("limits.memory", l.memory, max.max_memory, "max_memory"),
            (
                "limits.output",
                l.output.map(|o| o as u64),
                max.max_output as u64,
                "max_output",
            ),
            (
                "limits.items",
                l.items.map(|i| i as u64),
                max.max_foreach_items as u64,
                "max_foreach_items",
            ),
            (
                "limits.log_lines",
                l.log_lines.map(|v| v as u64),
                max.max_log_lines as u64,
                "max_log_lines",
            ),
            (
                "limits.log_bytes",
                l.log_bytes.map(|v| v as u64),
                max.max_log_bytes as u64,
                "max_log_bytes",
            ),
            (
                "limits.denials",
                l.denials.map(|v| v as u64),
                max.max_denials as u64,
                "max_denials",
            ),
            ("limits.scratch", l.scratch, max.max_scratch, "max_scratch"),
            (
                "limits.http_requests",
                l.http_requests.map(|v| v as u64),
                max.max_http_requests as u64,
                "max_http_requests",
            ),
            (
                "limits.http_response_bytes",
                l.http_response_bytes,
                max.max_http_response_bytes,
                "max_http_response_bytes",
            ),
        ];
        for (field, value, max, key) in sizes {
            match value {
                Some(0) => self.report(at, field, "must be at least 1"),
                Some(v) if v > max => self.report(
                    at,
                    field,
                    format!("is {v}; at most {max} is allowed (engine.workflows.{key})"),
                ),
                _ => {}
            }
        }
        if l.items.is_some() && node.foreach.is_none() {
            self.report(at, "limits.items", "applies only with `foreach`");
        }
    }

    fn plugin(&mut self, at: &At<'_>, field: &str, config_field: &str, text: &str, config: &Value) {
        let config = self.secrets(at, config_field, config);
        let config = config.as_ref();
        let (name, major) = match plugin_ref(text) {
            Ok(r) => r,
            Err(e) => return self.report(at, field, e),
        };
        let Some(meta) = self.catalog.plugin(name, major) else {
            return self.report(
                at,
                field,
                format!("no plugin `{name}` with major version {major} is installed"),
            );
        };
        let Some(schema) = meta.config_schema else {
            return;
        };
        let validator = match jsonschema::validator_for(&schema) {
            Ok(v) => v,
            Err(e) => {
                return self.report(
                    at,
                    field,
                    format!("{name}@{} has an unusable config schema: {e}", meta.version),
                );
            }
        };
        // An absent config is an empty object.
        let empty = Value::Object(Default::default());
        let config = if config.is_null() { &empty } else { config };
        let mut errors: Vec<(String, String)> = validator
            .iter_errors(config)
            .map(|e| {
                (
                    e.instance_path().to_string().replace('/', "."),
                    e.to_string(),
                )
            })
            .collect();
        // Field order, so that the same config always reads the same.
        errors.sort();
        for (path, message) in errors {
            self.report(at, format!("{config_field}{path}"), message);
        }
    }

    /// Report each `{secret: NAME}` the host does not have; returns the
    /// config with every reference as a string, as the plugin will see it,
    /// for the schema check.
    fn secrets<'v>(
        &mut self,
        at: &At<'_>,
        config_field: &str,
        config: &'v Value,
    ) -> std::borrow::Cow<'v, Value> {
        let refs = crate::secret::references(config);
        if refs.is_empty() {
            return std::borrow::Cow::Borrowed(config);
        }
        for (path, name) in refs {
            if !self.catalog.has_secret(&name) {
                self.report(
                    at,
                    format!("{config_field}{path}"),
                    format!("no secret `{name}` is configured on the host"),
                );
            }
        }
        let placeholder = |name: &str| Some(Value::String(format!("[secret {name}]")));
        std::borrow::Cow::Owned(
            crate::secret::substitute(config, placeholder).unwrap_or_else(|_| config.clone()),
        )
    }

    fn grants(&mut self, at: &At<'_>, field: &str, grants: &Grants) {
        for (i, g) in grants.plc.iter().enumerate() {
            if !self.catalog.has_plc(&g.device) {
                self.report(
                    at,
                    format!("{field}.plc[{i}].device"),
                    format!("no PLC device `{}` is configured on the host", g.device),
                );
            }
        }
        for (i, g) in grants.mqtt.iter().enumerate() {
            if !self.catalog.has_mqtt(&g.connection) {
                self.report(
                    at,
                    format!("{field}.mqtt[{i}].connection"),
                    format!(
                        "no MQTT connection `{}` is configured on the host",
                        g.connection
                    ),
                );
            }
        }
        for problem in grants.problems() {
            self.report(at, field, problem);
        }
    }

    fn expr(&mut self, at: &At<'_>, field: &str, source: &str, upstream: &Up<'_>, item: bool) {
        let expr = match Expr::compile_with(source, self.limits) {
            Ok(e) => e,
            Err(e) => return self.report(at, field, format!("`{source}` is not valid CEL: {e}")),
        };
        for var in expr.variables() {
            if !VARIABLES.contains(&var.as_str()) {
                self.report(at, field, format!("`{source}` uses `{var}`; expressions may use only `input`, `nodes` and, in a foreach node, `item`"));
            } else if var == "item" && !item {
                self.report(
                    at,
                    field,
                    format!("`{source}` uses `item`, which exists only in a node with `foreach`"),
                );
            }
        }
        for id in expr.node_refs() {
            // With a cycle, which is reported, ancestry means nothing.
            if upstream
                .upstream
                .is_some_and(|u| !u.contains(upstream.id, &id))
            {
                self.report(at, field, format!("`{source}` reads `nodes.{id}`, which is not upstream of this node (add it to `needs`)"));
            }
        }
    }
}

//! The workflow data model, as an engineer writes it in YAML or JSON.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use baton_grant::Grants;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::{Limits, ParseError};

/// A workflow definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// Name, lowercase words joined by `-`.
    pub name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What starts a run besides the HTTP API.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,
    /// What happens when the run fails.
    #[serde(default)]
    pub on_failure: OnFailure,
    /// Most nodes of one run executing at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// The run's batch or serial key: a CEL expression over `input`,
    /// evaluated at start and stored, e.g. `input.batch`. Runs are found by
    /// it (`GET /runs?key=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Refuse to start a run while another active run of this workflow has
    /// the same key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique_key: bool,
    /// How long a run may take from its start; past it the run is
    /// cancelled (and compensated, as `on_failure` says).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub deadline: Option<Duration>,
    /// Locks the run holds from before its first node until it ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<crate::Lock>,
    /// The nodes, in the order written.
    pub nodes: Nodes,
}

impl Workflow {
    /// Parse YAML or JSON within the default [`Limits`]. This checks the
    /// shape only; see [`crate::validate`] for the rest.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        Self::parse_with(text, &Limits::default())
    }

    /// Parse YAML or JSON, refusing a definition that expands to more values,
    /// nests deeper or has more nodes than `limits` allow. Time and memory
    /// are bounded by the limits, whatever the text holds.
    pub fn parse_with(text: &str, limits: &Limits) -> Result<Self, ParseError> {
        crate::budget::check(text, limits)?;
        let workflow: Self = serde_yaml_ng::from_str(text).map_err(|e| ParseError::yaml(&e))?;
        let count = workflow.nodes.len() + workflow.nodes.duplicates().len();
        if count > limits.max_nodes {
            return Err(ParseError::new(format!(
                "nodes: the workflow has {count} nodes; at most {} are allowed \
                 (engine.workflows.max_nodes)",
                limits.max_nodes
            )));
        }
        Ok(workflow)
    }

    /// The node called `id`.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }
}

/// What starts a run: exactly one of `mqtt`, `cron` or `plc`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// A message on an MQTT topic; its payload becomes the run input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttTrigger>,
    /// A cron schedule, e.g. `0 6 * * MON-FRI`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// A change on a PLC: a bit's edge, or a register crossing a threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plc: Option<crate::PlcTrigger>,
}

/// An MQTT trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttTrigger {
    /// Connection name from the host configuration.
    pub connection: String,
    /// Topic filter; wildcards allowed.
    pub topic: String,
}

/// What a failed run does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Stop; completed nodes stay as they are.
    #[default]
    Fail,
    /// Run the compensations of completed nodes in reverse completion order.
    Compensate,
    /// Keep the run `held`, with an incident on the failed node, until an
    /// operator retries, completes or skips the node, or fails the run
    /// (which then compensates, as with `compensate`).
    Hold,
}

/// The kinds of node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// Runs a plugin.
    #[default]
    Task,
    /// Waits for an operator to approve or reject.
    Approval,
    /// Waits for a fixed time.
    Delay,
    /// Waits for an MQTT message or an external signal.
    Wait,
    /// Starts a run of another workflow and waits for its result.
    Workflow,
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeKind::Task => "task",
            NodeKind::Approval => "approval",
            NodeKind::Delay => "delay",
            NodeKind::Wait => "wait",
            NodeKind::Workflow => "workflow",
        })
    }
}

/// One node. Which fields apply depends on `type`; validation reports any
/// field that does not belong to the node's type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// The node's type; `task` when absent.
    #[serde(rename = "type", default)]
    pub kind: NodeKind,
    /// Nodes that must finish first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// A CEL condition; when false the node (and what needs only it) is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// For tasks: `name@major`, e.g. `modbus-read@1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// For tasks: the plugin's config.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub config: Value,
    /// The task's input: a CEL expression, or an object whose string values are CEL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// For tasks: the capabilities the plugin may use.
    #[serde(default)]
    pub grants: Grants,
    /// For tasks: how failed attempts are retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Tasks: per-attempt wall-clock limit. Approvals and waits: how long to wait.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// For tasks: resource limits, overriding the host's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitOverrides>,
    /// For tasks: the task that undoes this one when the run is compensated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensate: Option<Compensation>,
    /// For approvals and waits: the outcome when `timeout` passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<TimeoutOutcome>,
    /// For delays: how long.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// For waits: the MQTT message to wait for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttTrigger>,
    /// For waits: the name of an external signal to wait for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// For tasks: a CEL list; the task runs once per item (`item` in CEL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreach: Option<String>,
    /// With `foreach`: most items running at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// For tasks: commit this node's start and completion like a step that
    /// holds a grant, even when it holds none. A task without grants is
    /// otherwise run on the fast path: its results are committed together
    /// with the steps after it (see `docs/engine.md`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub durable: bool,
    /// For tasks: locks the node holds from before it starts until it ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<crate::Lock>,
    /// For sub-workflows: the workflow to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// For sub-workflows: the version to run; the newest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// The failure kinds a retry policy can name in `non_retryable`.
pub const FAILURE_KINDS: &[&str] = &["retryable", "timeout", "internal"];

/// Temporal-style retry policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Wait before the first retry.
    #[serde(default = "default_initial", with = "humantime_serde")]
    pub initial_interval: Duration,
    /// Each wait is the previous one times this.
    #[serde(default = "default_backoff")]
    pub backoff: f64,
    /// Longest wait between attempts.
    #[serde(default = "default_max_interval", with = "humantime_serde")]
    pub max_interval: Duration,
    /// Failure kinds never retried, e.g. `timeout` (see [`FAILURE_KINDS`]; the
    /// others, fatal errors, traps and exceeded limits, are never retried anyway).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_retryable: Vec<String>,
}

fn default_attempts() -> u32 {
    3
}
fn default_initial() -> Duration {
    Duration::from_secs(1)
}
fn default_backoff() -> f64 {
    2.0
}
fn default_max_interval() -> Duration {
    Duration::from_secs(60)
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: default_attempts(),
            initial_interval: default_initial(),
            backoff: default_backoff(),
            max_interval: default_max_interval(),
            non_retryable: Vec::new(),
        }
    }
}

/// Per-node resource limits; absent fields keep the host's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// Memory in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// CPU time.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<Duration>,
    /// Output size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<usize>,
    /// With `foreach`: most items the list may hold; a longer list fails the
    /// run before any item starts. 10,000 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<usize>,
    /// Most log lines kept per attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_lines: Option<usize>,
    /// Most bytes of log text kept per attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_bytes: Option<usize>,
    /// Most denials recorded per attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denials: Option<usize>,
    /// Largest scratch directory, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scratch: Option<u64>,
    /// Most outgoing HTTP requests in flight at once per attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_requests: Option<usize>,
    /// Largest HTTP response body, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_response_bytes: Option<u64>,
    /// Longest wait for an HTTP connection.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_connect_timeout: Option<Duration>,
    /// Longest wait for an HTTP response head, and between body chunks.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_first_byte_timeout: Option<Duration>,
}

/// The task that undoes a completed node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compensation {
    /// `name@major`.
    pub plugin: String,
    /// Its config.
    #[serde(default)]
    pub config: Value,
    /// Its grants; the node's own grants when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Grants>,
}

/// What an approval or wait does when its timeout passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeoutOutcome {
    /// Continue as if approved (or the message arrived, with no payload).
    Approve,
    /// Fail the node as if rejected.
    Reject,
    /// Skip the node; what needs only it is skipped too.
    Skip,
}

/// The nodes of a workflow, in the order written. Duplicate ids are kept
/// aside so that validation can report them (a map would silently keep one).
#[derive(Debug, Clone, Default)]
pub struct Nodes {
    entries: Vec<(String, Node)>,
    duplicates: Vec<String>,
    /// Position of each id in `entries`, so lookups stay constant-time on
    /// large workflows.
    index: HashMap<String, usize>,
}

impl PartialEq for Nodes {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries && self.duplicates == other.duplicates
    }
}

impl Nodes {
    /// The node called `id`.
    pub fn get(&self, id: &str) -> Option<&Node> {
        self.index.get(id).map(|&i| &self.entries[i].1)
    }

    /// Ids and nodes, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.entries.iter().map(|(k, n)| (k.as_str(), n))
    }

    /// Ids written more than once.
    pub fn duplicates(&self) -> &[String] {
        &self.duplicates
    }

    /// How many distinct nodes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl FromIterator<(String, Node)> for Nodes {
    fn from_iter<I: IntoIterator<Item = (String, Node)>>(iter: I) -> Self {
        let mut nodes = Nodes::default();
        for (id, node) in iter {
            nodes.push(id, node);
        }
        nodes
    }
}

impl Nodes {
    fn push(&mut self, id: String, node: Node) {
        if self.index.contains_key(&id) {
            self.duplicates.push(id);
        } else {
            self.index.insert(id.clone(), self.entries.len());
            self.entries.push((id, node));
        }
    }
}

impl<'de> Deserialize<'de> for Nodes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodesVisitor;
        impl<'de> Visitor<'de> for NodesVisitor {
            type Value = Nodes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of node ids to nodes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Nodes, A::Error> {
                let mut nodes = Nodes::default();
                while let Some(id) = map.next_key::<String>()? {
                    let node: Node = map.next_value()?;
                    nodes.push(id, node);
                }
                Ok(nodes)
            }
        }
        deserializer.deserialize_map(NodesVisitor)
    }
}

impl Serialize for Nodes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.entries.iter().map(|(k, v)| (k, v)))
    }
}

/// Split `name@major` into its parts.
pub fn plugin_ref(text: &str) -> Result<(&str, u64), String> {
    let (name, major) = text.split_once('@').ok_or_else(|| {
        format!("`{text}` should name a plugin and its major version, e.g. `modbus-read@1`")
    })?;
    let major = major
        .parse::<u64>()
        .map_err(|_| format!("`{major}` in `{text}` is not a major version number"))?;
    if name.is_empty() {
        return Err(format!("`{text}` has no plugin name"));
    }
    Ok((name, major))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_design_example() {
        let text = r#"
name: line1-startup
triggers:
  - mqtt: { connection: plant, topic: "plant/line1/start" }
  - cron: "0 6 * * MON-FRI"
on_failure: compensate
nodes:
  read_temp:
    plugin: modbus-read@1
    config: { device: oven-1, kind: holding, address: 10, count: 1 }
    grants: { plc: [{ device: oven-1, read: ["holding:10"] }] }
    retry: { max_attempts: 5, initial_interval: 200ms, backoff: 2.0, max_interval: 5s }
    timeout: 2s
  heat:
    needs: [read_temp]
    when: "nodes.read_temp.output.values[0] < 180"
    plugin: modbus-write@1
    config: { device: oven-1, kind: coil, address: 3, values: [true] }
    grants: { plc: [{ device: oven-1, write: ["coil:3"] }] }
    compensate: { plugin: modbus-write@1, config: { device: oven-1, kind: coil, address: 3, values: [false] } }
  approve:
    needs: [heat]
    type: approval
    timeout: 30m
"#;
        let wf = Workflow::parse(text).unwrap();
        assert_eq!(wf.name, "line1-startup");
        assert_eq!(wf.on_failure, OnFailure::Compensate);
        assert_eq!(wf.triggers[1].cron.as_deref(), Some("0 6 * * MON-FRI"));
        let ids: Vec<&str> = wf.nodes.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["read_temp", "heat", "approve"]);
        let read = wf.node("read_temp").unwrap();
        assert_eq!(
            read.retry.as_ref().unwrap().initial_interval,
            Duration::from_millis(200)
        );
        assert_eq!(read.timeout, Some(Duration::from_secs(2)));
        assert_eq!(wf.node("approve").unwrap().kind, NodeKind::Approval);
        assert_eq!(
            wf.node("approve").unwrap().timeout,
            Some(Duration::from_secs(1800))
        );
    }

    #[test]
    fn json_works_too_and_round_trips() {
        let wf =
            Workflow::parse(r#"{"name": "a", "nodes": {"x": {"plugin": "transform@1"}}}"#).unwrap();
        let again = Workflow::parse(&serde_json::to_string(&wf).unwrap()).unwrap();
        assert_eq!(wf, again);
    }

    #[test]
    fn unknown_fields_are_refused_with_their_place() {
        let e = Workflow::parse("name: a\nnodes:\n  x:\n    plugin: transform@1\n    nedds: [y]\n")
            .unwrap_err();
        assert!(e.message.contains("unknown field `nedds`"), "{e}");
        assert!(e.message.contains("line 5"), "{e}");
    }

    #[test]
    fn plugin_refs() {
        assert_eq!(plugin_ref("modbus-read@1"), Ok(("modbus-read", 1)));
        assert!(
            plugin_ref("modbus-read")
                .unwrap_err()
                .contains("major version")
        );
        assert!(plugin_ref("modbus-read@one").is_err());
        assert!(plugin_ref("@1").is_err());
    }
}

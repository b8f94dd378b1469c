//! Run events: everything that happens to a run, in order. A run's state is
//! the fold of its events ([`crate::state::RunState`]), which is how a run is
//! rebuilt after a restart.

use baton_runtime::LogLine;
use baton_store::{Millis, NewEvent, Phase};
use baton_workflow::definition::TimeoutOutcome;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a waiting node waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitReason {
    /// An operator's approval.
    Approval,
    /// Time to pass.
    Delay,
    /// An MQTT message.
    Mqtt,
    /// An external signal.
    Signal,
    /// Its locks, held by other runs.
    Lock,
}

/// A lock a run or node asked for, its name evaluated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LockKey {
    /// The lock's name.
    pub key: String,
    /// Holders it allows at once.
    pub limit: u32,
}

/// What an operator did about an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// Ran the node again, perhaps with a corrected config or input.
    Retry,
    /// Completed the node by hand with a given output.
    Complete,
    /// Skipped the node; what needs only it is skipped too.
    Skip,
    /// Failed the run, which compensates as the workflow says.
    Fail,
}

impl Resolution {
    /// Lowercase name, as in the API's paths and the audit's actions.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Retry => "retry",
            Resolution::Complete => "complete",
            Resolution::Skip => "skip",
            Resolution::Fail => "fail",
        }
    }
}

/// How a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ending {
    /// A node failed.
    Failed,
    /// An operator cancelled it.
    Cancelled,
}

/// A pure step's start and its one attempt, folded into the
/// `node_succeeded` event that ends it. A step with no grants whose start,
/// attempt and end are committed together is stored as that one event
/// instead of four: all four would carry the commit's time, and nothing saw
/// the step running, so nothing is lost. Its attempt's output is the node's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The node's input, as `node_started` had it.
    pub input: Value,
    /// The attempt that succeeded.
    pub attempt: u32,
    /// When the attempt started. The attempt has no `node_executions` row:
    /// [`Engine::executions`](crate::Engine::executions) reads it from here,
    /// as ending `duration_ms` later. 0 in events stored before steps carried
    /// it, whose attempts have rows.
    #[serde(default)]
    pub started_at: Millis,
    /// Wall time of the attempt.
    pub duration_ms: u64,
    /// The guest's log lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogLine>,
    /// Capability calls its grants refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denials: Vec<String>,
}

/// One thing that happened to a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The run was created.
    RunStarted {
        /// Workflow name.
        workflow: String,
        /// The pinned workflow version.
        version: i64,
        /// The run input.
        input: Value,
        /// What started it.
        trigger: String,
    },
    /// A node's turn came: its input was mapped and, for a foreach node, its
    /// items listed (each item's own input).
    NodeStarted {
        /// The node.
        node: String,
        /// Its input.
        input: Value,
        /// For a foreach node, the input of each item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        items: Option<Vec<Value>>,
    },
    /// An attempt began (or, with `resumed`, began again after a restart).
    AttemptStarted {
        /// The node.
        node: String,
        /// The foreach item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item: Option<u32>,
        /// Work or compensation.
        phase: Phase,
        /// 1 for the first.
        attempt: u32,
        /// Whether this is an in-flight attempt run again after a restart.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resumed: bool,
    },
    /// An attempt returned output.
    AttemptSucceeded {
        /// The node.
        node: String,
        /// The foreach item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item: Option<u32>,
        /// Work or compensation.
        phase: Phase,
        /// Which attempt.
        attempt: u32,
        /// The output.
        output: Value,
        /// Wall time of the attempt.
        duration_ms: u64,
        /// The guest's log lines.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        logs: Vec<LogLine>,
        /// Capability calls its grants refused.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        denials: Vec<String>,
    },
    /// An attempt failed; `retry_at` says when the next one is due, if any.
    AttemptFailed {
        /// The node.
        node: String,
        /// The foreach item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item: Option<u32>,
        /// Work or compensation.
        phase: Phase,
        /// Which attempt.
        attempt: u32,
        /// What went wrong.
        error: String,
        /// `retryable`, `fatal`, `trap`, `timeout`, `cpu`, `memory`, `output`, `internal`, `cancelled`.
        kind: String,
        /// The delay before the next attempt, if there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_in_ms: Option<u64>,
        /// When the next attempt is due, if there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_at: Option<Millis>,
        /// Wall time of the attempt.
        duration_ms: u64,
        /// The guest's log lines.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        logs: Vec<LogLine>,
        /// Capability calls its grants refused.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        denials: Vec<String>,
    },
    /// The run (no `node`) or a node asked for its locks: it waits for
    /// them, in arrival order, unless they are granted at once.
    LocksRequested {
        /// The node, or none for the run's own locks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
        /// The locks, sorted by name.
        locks: Vec<LockKey>,
        /// With `on_conflict: reject`: refused rather than queued.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        reject: bool,
    },
    /// The run or node holds all its locks and goes on.
    LocksAcquired {
        /// The node, or none for the run's own locks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
    },
    /// A node began to wait; `until` is its timeout (or a delay's end).
    NodeWaiting {
        /// The node.
        node: String,
        /// What for.
        reason: WaitReason,
        /// When the wait ends by itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<Millis>,
    },
    /// An operator approved (the actor is recorded with the event).
    NodeApproved {
        /// The node.
        node: String,
        /// Their comment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// An operator rejected.
    NodeRejected {
        /// The node.
        node: String,
        /// Their comment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// A wait's timeout passed.
    NodeTimedOut {
        /// The node.
        node: String,
        /// What that means for it.
        outcome: TimeoutOutcome,
    },
    /// A node finished with this output.
    NodeSucceeded {
        /// The node.
        node: String,
        /// Its output (a list, for a foreach node).
        output: Value,
        /// A pure step whose whole life fitted in one commit: what its
        /// `node_started`, `attempt_started` and `attempt_succeeded` events
        /// would have said, which are not stored apart (see [`Step`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<Box<Step>>,
    },
    /// A node failed for good.
    NodeFailed {
        /// The node.
        node: String,
        /// Why.
        error: String,
    },
    /// A node failed for good under `on_failure: hold`: the run is held
    /// with an incident on it until an operator resolves it.
    IncidentOpened {
        /// The node.
        node: String,
        /// Why it failed.
        error: String,
    },
    /// An operator resolved the incident on a node (the actor is recorded
    /// with the event). A retry starts the node's failed executions again,
    /// with their next attempt numbers and a fresh retry budget; the other
    /// resolutions are followed by the node's succeeding, its skipping or
    /// the run's stopping.
    IncidentResolved {
        /// The node.
        node: String,
        /// What was done.
        action: Resolution,
        /// Why; required to complete a node by hand.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        /// With `retry`: the config the node runs with from now on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config: Option<Value>,
        /// With `retry`: the input the node runs with from now on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<Value>,
    },
    /// A node will not run.
    NodeSkipped {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
    /// A started node was stopped because the run is ending.
    NodeCancelled {
        /// The node.
        node: String,
    },
    /// The run is ending: no new node starts; running attempts finish (or,
    /// when cancelled, are stopped); then compensations run if the workflow
    /// asks for them.
    RunStopping {
        /// Failed or cancelled.
        ending: Ending,
        /// Why.
        reason: String,
    },
    /// A completed node's compensation began.
    CompensationStarted {
        /// The node being undone.
        node: String,
        /// The compensation's input: `{"input": ..., "output": ...}` of the node.
        input: Value,
    },
    /// A compensation finished.
    CompensationSucceeded {
        /// The node undone.
        node: String,
        /// The compensation's output.
        output: Value,
    },
    /// A compensation failed for good; the others still run.
    CompensationFailed {
        /// The node.
        node: String,
        /// Why.
        error: String,
    },
    /// Every node finished or was skipped.
    RunSucceeded {
        /// The outputs of the final nodes (those nothing needs), by node id.
        output: Value,
    },
    /// The run failed.
    RunFailed {
        /// Why.
        error: String,
    },
    /// The run was cancelled.
    RunCancelled {
        /// Why.
        reason: String,
    },
}

impl Event {
    /// The event's `type`, e.g. `attempt_started`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RunStarted { .. } => "run_started",
            Event::NodeStarted { .. } => "node_started",
            Event::AttemptStarted { .. } => "attempt_started",
            Event::AttemptSucceeded { .. } => "attempt_succeeded",
            Event::AttemptFailed { .. } => "attempt_failed",
            Event::LocksRequested { .. } => "locks_requested",
            Event::LocksAcquired { .. } => "locks_acquired",
            Event::NodeWaiting { .. } => "node_waiting",
            Event::NodeApproved { .. } => "node_approved",
            Event::NodeRejected { .. } => "node_rejected",
            Event::NodeTimedOut { .. } => "node_timed_out",
            Event::NodeSucceeded { .. } => "node_succeeded",
            Event::NodeFailed { .. } => "node_failed",
            Event::IncidentOpened { .. } => "incident_opened",
            Event::IncidentResolved { .. } => "incident_resolved",
            Event::NodeSkipped { .. } => "node_skipped",
            Event::NodeCancelled { .. } => "node_cancelled",
            Event::RunStopping { .. } => "run_stopping",
            Event::CompensationStarted { .. } => "compensation_started",
            Event::CompensationSucceeded { .. } => "compensation_succeeded",
            Event::CompensationFailed { .. } => "compensation_failed",
            Event::RunSucceeded { .. } => "run_succeeded",
            Event::RunFailed { .. } => "run_failed",
            Event::RunCancelled { .. } => "run_cancelled",
        }
    }

    /// The node the event concerns, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            Event::NodeStarted { node, .. }
            | Event::AttemptStarted { node, .. }
            | Event::AttemptSucceeded { node, .. }
            | Event::AttemptFailed { node, .. }
            | Event::NodeWaiting { node, .. }
            | Event::NodeApproved { node, .. }
            | Event::NodeRejected { node, .. }
            | Event::NodeTimedOut { node, .. }
            | Event::NodeSucceeded { node, .. }
            | Event::NodeFailed { node, .. }
            | Event::IncidentOpened { node, .. }
            | Event::IncidentResolved { node, .. }
            | Event::NodeSkipped { node, .. }
            | Event::NodeCancelled { node }
            | Event::CompensationStarted { node, .. }
            | Event::CompensationSucceeded { node, .. }
            | Event::CompensationFailed { node, .. } => Some(node),
            Event::LocksRequested { node, .. } | Event::LocksAcquired { node } => node.as_deref(),
            _ => None,
        }
    }

    /// The events this one stands for: a `node_succeeded` that carries a
    /// folded [`Step`] is the node's `node_started`, `attempt_started`,
    /// `attempt_succeeded` and `node_succeeded`; any other event is itself.
    pub fn unfolded(&self) -> Vec<Event> {
        let Event::NodeSucceeded {
            node,
            output,
            step: Some(step),
        } = self
        else {
            return vec![self.clone()];
        };
        vec![
            Event::NodeStarted {
                node: node.clone(),
                input: step.input.clone(),
                items: None,
            },
            Event::AttemptStarted {
                node: node.clone(),
                item: None,
                phase: Phase::Run,
                attempt: step.attempt,
                resumed: false,
            },
            Event::AttemptSucceeded {
                node: node.clone(),
                item: None,
                phase: Phase::Run,
                attempt: step.attempt,
                output: output.clone(),
                duration_ms: step.duration_ms,
                logs: step.logs.clone(),
                denials: step.denials.clone(),
            },
            Event::NodeSucceeded {
                node: node.clone(),
                output: output.clone(),
                step: None,
            },
        ]
    }

    /// The event as the store keeps it.
    pub fn to_new(&self, actor: Option<&str>) -> NewEvent {
        NewEvent {
            kind: self.kind().to_string(),
            node_id: self.node().map(str::to_string),
            actor: actor.map(str::to_string),
            // Encoded once, straight to text: the writer stores it as is.
            data: baton_store::EventData::Json(
                serde_json::to_string(self).unwrap_or_else(|_| "null".into()),
            ),
        }
    }
}

//! The records the store reads and writes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Milliseconds since the Unix epoch; every timestamp in the store is one.
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A stored plugin component, without its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginRecord {
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    /// Name, from the component's `describe`.
    pub name: String,
    /// Semantic version, from `describe`.
    pub version: String,
    /// The major part of `version`.
    pub major: u64,
    /// Description, from `describe`.
    pub description: String,
    /// JSON Schema for a node's config, if the plugin declares one.
    pub config_schema: Option<Value>,
    /// The interfaces the component imports.
    pub imports: Vec<String>,
    /// Component size in bytes.
    pub size: u64,
    /// When it was first stored.
    pub created_at: Millis,
}

/// One applied version of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRecord {
    /// The workflow's name.
    pub name: String,
    /// 1 for the first version applied, then 2, ...
    pub version: i64,
    /// The definition, as JSON.
    pub definition: Value,
    /// The plugins the version was resolved against: `name@major` to digest.
    pub plugins: Value,
    /// When it was applied.
    pub created_at: Millis,
    /// The text it was applied from (YAML or JSON, with its comments); none
    /// for versions applied before Baton kept it.
    pub source: Option<String>,
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Nodes are executing or waiting.
    Running,
    /// A node failed for good under `on_failure: hold`: the run waits for
    /// an operator to retry, complete or skip the node, or to fail the run.
    Held,
    /// Every node finished or was skipped.
    Succeeded,
    /// A node failed; compensations, if any, have run.
    Failed,
    /// Cancelled by an operator; compensations, if any, have run.
    Cancelled,
}

impl RunStatus {
    /// Lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Held => "held",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the run is over.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunStatus::Running | RunStatus::Held)
    }

    /// Parse the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "running" => RunStatus::Running,
            "held" => RunStatus::Held,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            _ => return None,
        })
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Time-ordered unique id.
    pub id: String,
    /// Workflow name.
    pub workflow: String,
    /// The workflow version the run is pinned to.
    pub version: i64,
    /// Current status.
    pub status: RunStatus,
    /// The run input.
    pub input: Value,
    /// The outputs of the workflow's final nodes, once succeeded.
    pub output: Option<Value>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// The caller's idempotency key, if one was given.
    pub idempotency_key: Option<String>,
    /// The run's batch or serial key: the workflow's `key` expression,
    /// evaluated at start.
    pub key: Option<String>,
    /// The run and node that started it as a sub-workflow.
    pub parent: Option<(String, String)>,
    /// How many runs up its chain of parents goes: 0 unless a sub-workflow.
    pub depth: i64,
    /// What started it: `api`, `mqtt:<topic>`, `cron:<expr>`, ...
    pub trigger: String,
    /// When it was created.
    pub created_at: Millis,
    /// When its status last changed.
    pub updated_at: Millis,
    /// When it finished.
    pub finished_at: Option<Millis>,
}

impl RunRecord {
    /// Run `run` as its creation stores it, at time `at`.
    pub fn created(run: &NewRun, at: Millis) -> Self {
        Self {
            id: run.id.clone(),
            workflow: run.workflow.clone(),
            version: run.version,
            status: RunStatus::Running,
            input: run.input.clone(),
            output: None,
            error: None,
            idempotency_key: run.idempotency_key.clone(),
            key: run.key.clone(),
            parent: run.parent.clone(),
            depth: run.depth,
            trigger: run.trigger.clone(),
            created_at: at,
            updated_at: at,
            finished_at: None,
        }
    }

    /// The run as the commit at time `at` that created it stored it, with
    /// that commit's status change `update`, if it had one.
    pub fn created_by(mut self, at: Millis, update: Option<&RunUpdate>) -> Self {
        (self.created_at, self.updated_at) = (at, at);
        if let Some(update) = update {
            self.update(update, at);
        }
        self
    }

    /// The run once `update` is committed at time `at`, as the commit
    /// stores it.
    pub fn update(&mut self, update: &RunUpdate, at: Millis) {
        self.status = update.status;
        self.output.clone_from(&update.output);
        self.error.clone_from(&update.error);
        self.updated_at = at;
        self.finished_at = update.status.is_terminal().then_some(at);
    }
}

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Its id.
    pub id: String,
    /// Workflow name.
    pub workflow: String,
    /// Pinned workflow version.
    pub version: i64,
    /// The run input.
    pub input: Value,
    /// At most one run per workflow is created with the same key.
    pub idempotency_key: Option<String>,
    /// What started it.
    pub trigger: String,
    /// An audit record (outside the run) committed with it, in the same
    /// transaction, only if the run is new.
    pub audit: Option<NewEvent>,
    /// The node that will run it; it owns the run from epoch 1.
    pub owner: Option<String>,
    /// The run's batch or serial key.
    pub key: Option<String>,
    /// Refuse the run while another active run of the workflow has the
    /// same key (the workflow's `unique_key`).
    pub unique_key: bool,
    /// The run and node that started it as a sub-workflow.
    pub parent: Option<(String, String)>,
    /// How many runs up its chain of parents goes.
    pub depth: i64,
}

/// What [`crate::Store::create_run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The run was created.
    New(String),
    /// A run with the same idempotency key already exists; this is its id.
    Existing(String),
    /// The workflow has `unique_key`, and this active run has the same key.
    KeyTaken(String),
    /// The run asked for a lock with `on_conflict: reject`, and this lock
    /// is taken or has a queue.
    Locked(String),
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// What happened, e.g. `attempt_started`.
    pub kind: String,
    /// The node it concerns.
    pub node_id: Option<String>,
    /// Who caused it: a token's name, `engine`, `mqtt`, ...
    pub actor: Option<String>,
    /// The full event as JSON.
    pub data: EventData,
}

/// An event's JSON: as a value, or already encoded (as the engine does, so
/// that each event is encoded once on its way to the disk).
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    /// A JSON value, encoded when it is written.
    Value(Value),
    /// JSON text, written as it is. It must be valid JSON.
    Json(String),
}

impl From<Value> for EventData {
    fn from(value: Value) -> Self {
        EventData::Value(value)
    }
}

impl EventData {
    /// The JSON text.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            EventData::Value(v) => std::borrow::Cow::Owned(v.to_string()),
            EventData::Json(text) => std::borrow::Cow::Borrowed(text),
        }
    }

    /// The JSON value (decoding the text, for events given as text).
    pub fn value(&self) -> Value {
        match self {
            EventData::Value(v) => v.clone(),
            EventData::Json(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        }
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Position in the global log; increases with every event.
    pub seq: i64,
    /// The run it belongs to; none for audit events outside runs.
    pub run_id: Option<String>,
    /// When it was committed.
    pub at: Millis,
    /// What happened.
    pub kind: String,
    /// The node it concerns.
    pub node_id: Option<String>,
    /// Who caused it.
    pub actor: Option<String>,
    /// The full event as JSON.
    pub data: Value,
}

/// Whether an execution is the node's work or its compensation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The node's own task.
    Run,
    /// The task that undoes it.
    Compensate,
}

impl Phase {
    /// Lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Run => "run",
            Phase::Compensate => "compensate",
        }
    }
}

/// One attempt of a node, a foreach item, or a compensation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// The run.
    pub run_id: String,
    /// The node.
    pub node_id: String,
    /// The foreach item index, if the node fans out.
    pub item: Option<u32>,
    /// Work or compensation.
    pub phase: Phase,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub status: String,
    /// The output, once succeeded.
    pub output: Option<Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// The failure's kind: `retryable`, `fatal`, `timeout`, ...
    pub error_kind: Option<String>,
    /// When it started.
    pub started_at: Millis,
    /// When it ended.
    pub finished_at: Option<Millis>,
    /// When the next attempt is due, if it will be retried.
    pub retry_at: Option<Millis>,
}

/// A change to a run's status.
#[derive(Debug, Clone)]
pub struct RunUpdate {
    /// New status.
    pub status: RunStatus,
    /// The output, when succeeding.
    pub output: Option<Value>,
    /// Why, when failing or cancelled.
    pub error: Option<String>,
}

/// One atomic change: committed completely or not at all, before the engine
/// acts on it.
#[derive(Debug, Clone, Default)]
pub struct Transition {
    /// The run it changes; none for audit events.
    pub run_id: Option<String>,
    /// Events to append, in order.
    pub events: Vec<NewEvent>,
    /// Execution rows to insert or update.
    pub executions: Vec<Execution>,
    /// A new run status.
    pub run: Option<RunUpdate>,
    /// The ownership the run's writer holds: the commit is refused with
    /// [`crate::Error::Fenced`] unless the run still has this owner and epoch.
    /// None for audit events, and for a run's first transition.
    pub fence: Option<crate::Fence>,
    /// Lock requests and releases, made in the same transaction.
    pub locks: Vec<crate::LockOp>,
    /// The run never asks for locks (its workflow declares none), so its
    /// end need not look for any to give back.
    pub lockless: bool,
    /// Nothing acts on this change before it is committed, and nobody
    /// waits for it: the writer may hold it up to a few milliseconds for a
    /// commit that must happen anyway, unless someone listens to the
    /// committed events (see `Store::subscribe`). The engine sets it on the
    /// end of a run of pure steps that no caller or parent awaits.
    pub lazy: bool,
}

/// A node that waits, from [`crate::Store::waiting_nodes`].
#[derive(Debug, Clone)]
pub struct WaitingNode {
    /// The run.
    pub run_id: String,
    /// The node.
    pub node_id: String,
    /// When it began to wait.
    pub since: Millis,
    /// Its `node_waiting` event (`reason`, `until`).
    pub wait: Value,
    /// The run's workflow.
    pub workflow: String,
    /// The run's pinned version.
    pub version: i64,
    /// When the run was created.
    pub run_created_at: Millis,
}

/// Filters for [`crate::Store::audit_filtered`]; every one that is set must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only entries before this sequence number (newest first paging).
    pub before: Option<i64>,
    /// Only entries by this actor (the token's name).
    pub actor: Option<String>,
    /// Only entries whose action starts with this, e.g. `workflow.` or `run.approve`.
    pub action: Option<String>,
    /// At most this many.
    pub limit: u32,
}

/// Filters for [`crate::Store::list_runs`].
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs of this workflow.
    pub workflow: Option<String>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs with this batch or serial key.
    pub key: Option<String>,
    /// Only runs with ids before this one (newest first paging).
    pub before: Option<String>,
    /// Only runs created at or after this time.
    pub created_after: Option<Millis>,
    /// Only runs created before this time.
    pub created_before: Option<Millis>,
    /// At most this many.
    pub limit: u32,
}

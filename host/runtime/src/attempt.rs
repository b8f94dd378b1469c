//! What goes into one task attempt and what comes out of it.

use std::sync::Arc;
use std::time::Duration;

use baton_grant::Grants;
use serde::{Deserialize, Serialize};

use crate::Limits;

/// Who is running the attempt; passed to the guest as `task-context`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskContext {
    /// The workflow run.
    pub run_id: String,
    /// The workflow node.
    pub node_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Stable across attempts of this node in this run.
    pub idempotency_key: String,
}

impl TaskContext {
    /// The context of attempt `attempt` of `node_id` in `run_id`. The
    /// idempotency key is `run_id/node_id`: the same for every attempt,
    /// replays after a restart included.
    pub fn new(run_id: impl Into<String>, node_id: impl Into<String>, attempt: u32) -> Self {
        let run_id = run_id.into();
        let node_id = node_id.into();
        Self {
            idempotency_key: format!("{run_id}/{node_id}"),
            run_id,
            node_id,
            attempt,
        }
    }
}

/// One attempt to run.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    /// Passed to the guest.
    pub context: TaskContext,
    /// The node's config as JSON text.
    pub config: String,
    /// The node's input as JSON text.
    pub input: String,
    /// What the task may reach.
    pub grants: Arc<Grants>,
    /// Bounds on the attempt.
    pub limits: Limits,
    /// Past this moment the attempt may not act on the world: PLC writes,
    /// MQTT publishes and HTTP requests are refused. The engine sets it to
    /// the end of its hold on the run, so that a node that lost the run
    /// (paused past its lease, say) cannot act for it any more. `None`: no
    /// such bound.
    pub act_until: Option<std::time::Instant>,
}

/// Severity of a guest log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warn.
    Warn,
    /// Error.
    Error,
}

/// A line the guest logged, or a denial the host recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Severity.
    pub level: LogLevel,
    /// The text, truncated to a few KiB.
    pub message: String,
}

/// The result of one attempt, with everything recorded along the way.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The output JSON, or why the attempt failed.
    pub result: Result<String, Failure>,
    /// Guest log lines, in order.
    pub logs: Vec<LogLine>,
    /// Log lines dropped over the limit.
    pub dropped_logs: usize,
    /// Capability calls refused by the grants, each with its reason.
    pub denials: Vec<String>,
    /// Wall time of the attempt, instantiation included.
    pub duration: Duration,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The guest returned `task-error.retryable`.
    #[error("task failed (retryable): {0}")]
    Retryable(String),
    /// The guest returned `task-error.fatal`.
    #[error("task failed: {0}")]
    Fatal(String),
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access, ...).
    #[error("task trapped: {0}")]
    Trap(String),
    /// The guest used more CPU time than allowed.
    #[error("task exceeded its CPU time limit of {0:?}")]
    CpuLimit(Duration),
    /// The guest tried to grow its memory past the limit.
    #[error("task exceeded its memory limit of {limit} bytes (asked for {requested} bytes)")]
    MemoryLimit {
        /// The limit in bytes.
        limit: u64,
        /// The total the guest asked for.
        requested: u64,
    },
    /// The attempt ran longer than its wall-clock timeout.
    #[error("task timed out after {0:?}")]
    Timeout(Duration),
    /// The output was larger than allowed.
    #[error("task output is {size} bytes, over the limit of {limit} bytes")]
    OutputTooLarge {
        /// Output size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The guest wrote more to its scratch directory than allowed.
    #[error("task wrote {used} bytes to its scratch directory, over the limit of {limit} bytes")]
    ScratchLimit {
        /// The limit in bytes.
        limit: u64,
        /// The space it used when it was stopped.
        used: u64,
    },
    /// The output was not valid JSON.
    #[error("task output is not valid JSON: {0}")]
    InvalidOutput(String),
    /// The host could not set up the attempt (e.g. no free instance slot).
    #[error("could not start the task: {0}")]
    Internal(String),
}

impl Failure {
    /// Whether the engine may retry the attempt: transient failures are
    /// retryable; a fatal error, a trap or an exceeded resource bound is
    /// deterministic and is not.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Failure::Retryable(_) | Failure::Timeout(_) | Failure::Internal(_)
        )
    }
}

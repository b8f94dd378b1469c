use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::{PluginInfo, TaskContext, TaskError};

/// Who is running this attempt. See `task-context` in the WIT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The workflow run.
    pub run_id: String,
    /// The workflow node this task executes.
    pub node_id: String,
    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub attempt: u32,
    /// The same for every attempt of this node in this run, including the one
    /// replayed after an engine restart. Pass it to systems that deduplicate.
    pub idempotency_key: String,
}

impl From<TaskContext> for Context {
    fn from(c: TaskContext) -> Self {
        Self {
            run_id: c.run_id,
            node_id: c.node_id,
            attempt: c.attempt,
            idempotency_key: c.idempotency_key,
        }
    }
}

/// One kind of task. Implement it on a unit struct and [`export!`](crate::export) it.
pub trait Task {
    /// Plugin name: lowercase words joined by `-`. Workflows say `NAME@MAJOR`.
    const NAME: &'static str;
    /// Semantic version; usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// One line for operators.
    const DESCRIPTION: &'static str;
    /// JSON Schema for `Config`, checked by Baton when a workflow is applied.
    const CONFIG_SCHEMA: Option<&'static str> = None;

    /// The node's `config`, parsed from JSON. A parse failure is a fatal error
    /// that quotes serde's message (field name, line and column).
    type Config: DeserializeOwned;
    /// The node's input, parsed from JSON. Absent input is JSON `null`, so use
    /// `serde_json::Value` or an `Option` if the task takes none.
    type Input: DeserializeOwned;
    /// The output, serialised to JSON for later nodes.
    type Output: Serialize;

    /// Run one attempt.
    fn run(ctx: &Context, config: Self::Config, input: Self::Input) -> Result<Self::Output, Error>;
}

#[doc(hidden)]
pub fn describe<T: Task>() -> PluginInfo {
    PluginInfo {
        name: T::NAME.to_string(),
        version: T::VERSION.to_string(),
        description: T::DESCRIPTION.to_string(),
        config_schema: T::CONFIG_SCHEMA.map(str::to_string),
    }
}

#[doc(hidden)]
pub fn run<T: Task>(ctx: TaskContext, config: &str, input: &str) -> Result<String, TaskError> {
    run_typed::<T>(&ctx.into(), config, input).map_err(TaskError::from)
}

pub(crate) fn run_typed<T: Task>(
    ctx: &Context,
    config: &str,
    input: &str,
) -> Result<String, Error> {
    let config: T::Config = serde_json::from_str(or_null(config))
        .map_err(|e| Error::fatal(format!("invalid config: {e}")))?;
    let input: T::Input = serde_json::from_str(or_null(input))
        .map_err(|e| Error::fatal(format!("invalid input: {e}")))?;
    let output = T::run(ctx, config, input)?;
    serde_json::to_string(&output).map_err(|e| Error::fatal(format!("cannot encode output: {e}")))
}

fn or_null(s: &str) -> &str {
    if s.trim().is_empty() { "null" } else { s }
}

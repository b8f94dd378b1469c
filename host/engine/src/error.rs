/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such workflow, run, node or plugin.
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts the current state, e.g. approving a node that
    /// is not waiting for approval.
    #[error("{0}")]
    Conflict(String),
    /// What the caller sent cannot be used, e.g. a run input whose key
    /// expression gives no key, or a resolution missing a field.
    #[error("{0}")]
    BadRequest(String),
    /// A workflow definition is not well-formed.
    #[error("{0}")]
    Parse(#[from] baton_workflow::ParseError),
    /// A workflow definition has problems; each names its node and field.
    #[error("the workflow is invalid:\n{0}")]
    Invalid(#[from] baton_workflow::Problems),
    /// A plugin component was refused.
    #[error("{0}")]
    Plugin(#[from] baton_runtime::Error),
    /// A stored workflow version cannot be run.
    #[error("{0}")]
    Definition(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] baton_store::Error),
    /// The safety interlock is engaged, so no run may start.
    #[error("the safety interlock is engaged: no run may start until it is released")]
    Interlock,
    /// Another node owns the run now; this one dropped it.
    #[error("run {0} is owned by another node now")]
    Fenced(String),
    /// What was asked for cannot be done now, e.g. the node that owns the
    /// run did not answer in time.
    #[error("{0}")]
    Unavailable(String),
    /// The engine is shutting down.
    #[error("the engine is shutting down")]
    ShuttingDown,
}

/// Engine results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

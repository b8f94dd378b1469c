use std::fmt;

use crate::bindings::TaskError;

/// Why a task failed: the engine retries `Retryable` failures (following the
/// node's retry policy) and fails the node at once on `Fatal` ones.
///
/// Capability errors convert with `?` into the sensible kind: a device that is
/// offline or slow is retryable; a denied grant, a bad argument or a Modbus
/// exception is fatal, because trying again would give the same answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A transient problem; try again.
    Retryable(String),
    /// Trying again cannot help.
    Fatal(String),
}

impl Error {
    /// A transient failure.
    pub fn retryable(message: impl fmt::Display) -> Self {
        Error::Retryable(message.to_string())
    }

    /// A permanent failure.
    pub fn fatal(message: impl fmt::Display) -> Self {
        Error::Fatal(message.to_string())
    }

    /// The message, whatever the kind.
    pub fn message(&self) -> &str {
        match self {
            Error::Retryable(m) | Error::Fatal(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Retryable(m) => write!(f, "retryable: {m}"),
            Error::Fatal(m) => write!(f, "fatal: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for TaskError {
    fn from(e: Error) -> Self {
        match e {
            Error::Retryable(m) => TaskError::Retryable(m),
            Error::Fatal(m) => TaskError::Fatal(m),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Fatal(format!("JSON: {e}"))
    }
}

use std::fmt;

/// A capability call that the node's grants do not allow.
///
/// The message is meant for the plugin author and the operator reading the run
/// history: it names the resource and what was granted instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Denied {}

/// A grant entry that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid grant `{input}`: {reason}")]
pub struct ParseError {
    /// The text as written in the workflow.
    pub input: String,
    /// What is wrong with it, and what is expected instead.
    pub reason: String,
}

impl ParseError {
    pub(crate) fn new(input: &str, reason: impl Into<String>) -> Self {
        Self {
            input: input.to_string(),
            reason: reason.into(),
        }
    }
}

use std::fmt;

/// A definition that is not well-formed YAML or JSON, or does not fit the
/// workflow schema at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What is wrong, with the line and column where the parser knows them.
    pub message: String,
    /// The line (1-based) where the parser stopped, if it knows.
    pub line: Option<usize>,
    /// The column (1-based) on that line.
    pub column: Option<usize>,
}

impl ParseError {
    /// A problem with the whole document, at no particular place.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            line: None,
            column: None,
        }
    }

    /// A YAML error, located where the parser stopped.
    pub fn yaml(e: &serde_yaml_ng::Error) -> Self {
        let location = e.location();
        Self {
            message: e.to_string(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
        }
    }
}

/// One thing wrong with a workflow, located as precisely as possible.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// The node at fault, if the problem is inside one.
    pub node: Option<String>,
    /// The field, as a path: `needs`, `config.address`, `grants.plc[0].device`.
    pub field: String,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Some(node) => write!(f, "node `{node}`, {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// Every problem found in a workflow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{}", self.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct Problems(pub Vec<Problem>);

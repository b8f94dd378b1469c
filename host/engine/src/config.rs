//! Engine settings.

use serde::{Deserialize, Serialize};

/// How the engine runs work.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Most task attempts executing at once across all runs. Attempts beyond
    /// it wait for a slot; waiting nodes (approvals, delays, waits) never
    /// take one.
    pub max_concurrent_tasks: usize,
    /// What a workflow definition may contain (`[engine.workflows]`): the
    /// bounds that keep parsing and validating any definition cheap, and the
    /// largest per-node settings.
    pub workflows: baton_workflow::Limits,
    /// The host's secrets (`[secrets]` in `baton.toml`, not `[engine]`):
    /// what `{secret: NAME}` in a node's config stands for.
    #[serde(skip)]
    pub secrets: crate::Secrets,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_concurrent_tasks: 64,
            workflows: baton_workflow::Limits::default(),
            secrets: crate::Secrets::default(),
        }
    }
}

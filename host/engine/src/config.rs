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
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_concurrent_tasks: 64,
        }
    }
}

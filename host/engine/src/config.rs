//! Engine settings.

use std::time::Duration;

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
    /// How steps without grants are committed (`[engine.fast_path]`).
    pub fast_path: FastPath,
    /// This engine as one node of several on one database
    /// (`[engine.cluster]`).
    pub cluster: ClusterConfig,
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
            fast_path: FastPath::default(),
            cluster: ClusterConfig::default(),
            secrets: crate::Secrets::default(),
        }
    }
}

/// The fast path (`[engine.fast_path]`): a task whose grants reach nothing
/// outside its sandbox (and whose node is not `durable: true`) has no effect
/// a crash could repeat, so a run goes on from its result without waiting
/// for the disk. Its events are committed with the run's next commit point:
/// a step that holds a grant, a wait, a timer, an operator's action, the
/// run's end, or one of these bounds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FastPath {
    /// Whether pure steps may go on before their results are committed.
    /// `false` commits every step before the next starts.
    pub enabled: bool,
    /// Longest a pure step's result waits for its commit. It bounds the work
    /// a crash can make a run repeat, and how late the API and the console
    /// see a pure step's progress.
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// Most events a run holds uncommitted; the next one commits them.
    pub max_events: usize,
}

impl Default for FastPath {
    fn default() -> Self {
        Self {
            enabled: true,
            max_delay: Duration::from_millis(100),
            max_events: 4096,
        }
    }
}

/// This engine as a node (`[engine.cluster]`). Every engine registers as a
/// node of its database and heartbeats; on PostgreSQL, several nodes share
/// the work, and the live ones take over the runs of a node that went
/// silent. On SQLite one process alone uses the database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This node's id, unique among the nodes on the database. Defaults to
    /// the host name. A process that finds its id heartbeating waits until
    /// that process has been silent for `lease` (a crashed predecessor), and
    /// refuses to start if it stays alive (a second process with the id).
    pub node_id: Option<String>,
    /// Where this node's API listens, shown to operators.
    pub address: Option<String>,
    /// How often the node says it is alive.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// How long a silent node is still taken for alive. After it, the live
    /// nodes take over its runs; a node that could not heartbeat for this
    /// long holds no run it cannot confirm.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Most runs one node takes over per heartbeat, and never more than its
    /// free task slots.
    pub claim_batch: usize,
    /// The MQTT shared-subscription group the nodes' MQTT triggers join on
    /// PostgreSQL (`$share/GROUP/...`), so that each message starts one run
    /// in the whole cluster. Two installations on one broker need two groups.
    pub mqtt_group: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            node_id: None,
            address: None,
            heartbeat: Duration::from_secs(2),
            lease: Duration::from_secs(10),
            claim_batch: 64,
            mqtt_group: "baton".into(),
        }
    }
}

//! The Baton workflow engine: runs workflow graphs of sandboxed plugin tasks,
//! durably.
//!
//! Every run is an actor (a tokio task) that owns its [`state::RunState`]. The
//! [`scheduler`] turns what happens (an attempt ends, a timer fires, an
//! operator approves) into [`event::Event`]s; the actor commits them to the
//! [`baton_store::Store`] (group-committed with every other run's) and only
//! then acts on them: starts attempts, arms timers, subscribes to MQTT. A run
//! that waits (an approval, a delay, a message) holds no thread and no WASM
//! instance, only its small state and a timer.
//!
//! After a crash, [`Engine::start`] replays the events of every unfinished
//! run: completed node outputs are reused, attempts that were in flight run
//! again with the same idempotency key, and timers, approvals and waits are
//! restored. Runs are pinned to the workflow version they started on.
//!
//! # Layout
//! - `engine`: the [`Engine`]: plugins, workflows, starting and steering runs, recovery.
//! - `run`: the per-run actor: commit, then act.
//! - [`scheduler`]: pure decisions from state to events.
//! - [`state`]: a run's state as the fold of its events.
//! - [`event`]: the events.
//! - [`compiled`]: a workflow version made ready to run.
//! - [`retry`]: backoff and jitter.
//! - [`metrics`]: attempt latency, slot queueing, compile times.
//! - `executor`: running one attempt through the runtime.
//! - `node`: this engine as a node of its database: heartbeat, lease,
//!   taking over the runs of silent nodes.
//! - `relay`: operator actions for runs another node owns, through the
//!   store's inbox.
//! - [`interlock`]: one safety interlock for every node on the database.
//! - [`locks`]: equipment locks: grants reaching waiting runs, and who
//!   holds what.
//! - [`incidents`]: runs held on a failed node, and an operator's retry,
//!   completion by hand, skip or fail.
//! - `triggers`: runs started by MQTT messages, cron schedules and PLC
//!   changes.
//! - [`retention`]: the background sweep that deletes finished runs and old
//!   audit events (`[retention]`).
//! - `catalog`: what validation knows about installed plugins and connections.
//! - [`config`]: the engine's settings.
//! - [`secrets`]: the host's secrets: put into a node's config as an attempt
//!   starts, and redacted from what it reports.
#![deny(missing_docs)]

pub mod compiled;
pub mod config;
pub mod event;
pub mod metrics;
pub mod retention;
pub mod retry;
pub mod scheduler;
pub mod secrets;
pub mod state;

mod catalog;
mod engine;
mod error;
mod executions;
mod executor;
pub mod incidents;
mod inspect;
pub mod interlock;
pub mod locks;
mod node;
mod relay;
mod run;
mod takeover;
mod triggers;
mod waiters;

pub use config::{ClusterConfig, EngineConfig, FastPath};
pub use engine::{Applied, Engine, StartOptions, Started};
pub use error::{Error, Result};
pub use event::{Event, Resolution};
pub use incidents::Incident;
pub use node::NodeStatus;
pub use retention::{RetentionConfig, RetentionStatus};
pub use scheduler::Fix;
pub use secrets::Secrets;
pub use triggers::message_input;

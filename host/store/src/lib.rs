//! Durable state for Baton, on SQLite (the embedded default) or PostgreSQL.
//!
//! One [`Store`] interface serves both backends with the same SQL and the
//! same schema intent; migrations are versioned per backend under
//! `migrations/` and applied at start-up.
//!
//! Run state changes arrive as [`Transition`]s: the events that describe the
//! change plus the rows it updates. They are written by a single writer task
//! that batches every transition waiting at that moment, from any number of
//! runs, into one database transaction ("group commit"). A caller's
//! [`Store::commit`] returns only once its transition is durable, so the
//! engine never acts on a change that a crash could take back.
//!
//! # Layout
//! - `store`: opening a database, the backends, migrations.
//! - `exclusive`: one process per SQLite database.
//! - `intake`: runs accepted on an SQLite file before the writer creates
//!   them, in a log of their own.
//! - `writer`: the group-commit writer; `writer::lite`, its transactions
//!   on an SQLite file in one call each.
//! - [`model`]: the records the store reads and writes.
//! - `cache`: token lookups and the newest workflow versions, kept in memory.
//! - `cluster`: the nodes sharing a database, and which owns each run.
//! - `inbox`: operator actions for runs another node owns.
//! - `locks`: equipment locks and concurrency limits across nodes.
//! - `retention`: deleting finished runs and old audit events, in small
//!   batches.
//! - `plugins`, `workflows`, `runs`, `events`, `tokens`, `flags`: queries, one module per table.
//! - `trigger_state`: the `plc_triggers` table, the last stable state and
//!   edge count of each PLC-change trigger.
#![deny(missing_docs)]

pub mod model;

mod cache;
mod cluster;
mod error;
mod events;
mod exclusive;
mod flags;
mod histogram;
mod inbox;
mod intake;
mod locks;
mod plugins;
mod retention;
mod runs;
mod store;
mod tokens;
mod trigger_state;
mod workflows;
mod writer;

pub use cache::TTL as CACHE_TTL;
pub use cluster::{Claimed, Fence, NodeRecord, Registered};
pub use error::{Error, Result};
pub use histogram::{COMMIT_BUCKETS, Histogram};
pub use inbox::{INBOX_CHANNEL, InboxItem};
pub use locks::{LockOp, LockRecord};
pub use model::*;
pub use retention::Deleted;
pub use store::{Backend, CommitsHeld, Store, StoreOptions, Synchronous, WriterStats};
pub use tokens::TokenRecord;
pub use trigger_state::PlcTriggerState;

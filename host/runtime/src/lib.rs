//! The Baton plugin runtime: runs task plugins as sandboxed WebAssembly
//! components with exactly the capabilities their workflow node grants.
//!
//! A plugin is a component of the `baton:plugin/task` world (see `wit/`).
//! [`Runtime::load`] checks it, compiles it once (caching the artifact on disk
//! by digest and engine compatibility hash), reads its `describe`, and returns
//! a [`Plugin`]. [`Runtime::run`] executes one attempt in a fresh instance:
//! - capability calls (`plc`, `mqtt`, `wasi:http`) are checked against the
//!   attempt's [`Grants`](baton_grant::Grants); a call outside them returns
//!   `denied` to the guest and is recorded in the attempt's journal;
//! - memory, CPU time (epoch ticks), wall time and output size are bounded by
//!   [`Limits`], and hitting a bound fails the attempt with a specific
//!   [`Failure`];
//! - there is no filesystem, environment or socket access, except an optional
//!   per-attempt scratch directory that is deleted afterwards.
//!
//! # Layout
//! - [`config`]: [`RuntimeConfig`] and per-attempt [`Limits`].
//! - `runtime`: the [`Runtime`]: engine, linker, epoch ticker, load and run.
//! - `artifact`: the on-disk cache of compiled components.
//! - `inspect`: checks on uploaded bytes before and after compiling.
//! - [`plugin`]: a loaded [`Plugin`] and what it reported about itself.
//! - [`attempt`]: what goes into and comes out of one attempt.
//! - `state`: the per-attempt store data, its journal of log lines and
//!   denials, and its resource limiter.
//! - `scratch`: the scratch directory's size quota.
//! - `host`: the `log`, `plc` and `mqtt` host implementations.
//! - `http`: the `wasi:http` hooks that enforce HTTP grants, DNS checks included.
//! - `bindings`: the host bindings generated from `wit/`, in one place.
#![deny(missing_docs)]

pub mod attempt;
pub mod config;
pub mod plugin;

mod artifact;
#[doc(hidden)]
pub mod bindings;
pub mod counters;
mod error;
mod host;
mod http;
mod inspect;
pub mod interlock;
mod runtime;
mod scratch;
mod state;

pub use attempt::{Attempt, Failure, LogLevel, LogLine, TaskContext, TaskRequest};
pub use config::{Limits, RuntimeConfig};
pub use error::{Error, Result};
pub use interlock::Interlock;
pub use plugin::{Plugin, PluginInfo};
pub use runtime::Runtime;
pub use state::Redactor;

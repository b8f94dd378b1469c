//! Engine behaviour against a real store, the real runtime and real plugins.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

mod approvals;
mod cluster;
mod compensation;
mod deadlines;
mod fast_path;
mod graph;
mod incidents;
mod intake;
mod keys;
mod locks;
mod plc_trigger;
mod recovery;
mod retention;
mod retries;
mod secrets;
mod stopping;
mod subworkflows;
mod triggers;
mod unborn;
mod versions;

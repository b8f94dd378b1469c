//! Engine behaviour against a real store, the real runtime and real plugins.

mod support;

mod approvals;
mod compensation;
mod graph;
mod recovery;
mod retries;
mod versions;

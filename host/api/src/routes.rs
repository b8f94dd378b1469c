//! Handlers, one module per resource.

pub mod approvals;
pub(crate) mod body;
pub mod cluster;
pub mod health;
pub mod interlock;
pub mod metrics;
pub mod plugins;
pub mod runs;
pub mod status;
pub mod tokens;
pub mod workflows;

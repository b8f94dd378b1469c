//! Handlers, one module per resource.

pub mod approvals;
pub(crate) mod body;
pub mod cluster;
pub mod health;
pub mod incidents;
pub mod interlock;
pub mod locks;
pub mod metrics;
pub mod plugins;
pub mod runs;
pub mod status;
pub mod tokens;
pub mod workflows;

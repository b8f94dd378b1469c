//! One module per subcommand.

pub mod demo;
pub mod plugin;
pub mod serve;
pub mod task;
pub mod workflow;

//! One module per subcommand.

pub mod audit;
pub mod cluster;
pub mod demo;
pub mod incident;
pub mod interlock;
pub mod lock;
pub mod plugin;
pub mod run;
pub mod serve;
pub mod status;
pub mod task;
pub mod token;
pub mod workflow;

//! Log lines recorded on the run, next to this attempt.

pub use crate::bindings::baton::plugin::log::Level;

#[cfg(target_arch = "wasm32")]
use crate::bindings::baton::plugin::log as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::log as host;

/// Record one line at `level`.
pub fn log(level: Level, message: &str) {
    host::log(level, message);
}

/// Record a debug line.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Record an info line.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Record a warning.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Record an error line.
pub fn error(message: &str) {
    log(Level::Error, message);
}

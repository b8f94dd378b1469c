//! Whole-system scenarios, compiled into one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cargo;

mod broker_restart;
mod guest_unit_tests;
mod vendor_plugin;

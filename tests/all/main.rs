//! Whole-system scenarios, compiled into one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cargo;
mod chaos;
mod crash;
mod engine_node;
mod fast_path_crash;
mod guests;
mod plant;

mod broker_restart;
mod guest_unit_tests;
mod javascript_plugin;
mod optional_suites;
mod python_plugin;
mod vendor_plugin;

//! `baton serve` as a real process on an ephemeral port, driven over HTTP
//! (and MQTT) the way an MES, a SCADA screen or an operator would.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod abuse;
mod client;
mod cluster;
mod console;
mod endpoints;
mod hostile;
mod incidents;
mod journey;
mod locks;
mod offline;
mod openapi;
mod plc_trigger;
mod restart;
mod retention;
mod safety;
mod secrets;
mod status;
mod statuses;
mod subworkflows;
mod tour;

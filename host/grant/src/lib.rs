//! Capability grants: exactly which PLC registers, MQTT topics and HTTP endpoints
//! one workflow node lets its task touch.
//!
//! Baton denies by default. A task reaches a device, broker or web service only
//! through a grant written on its workflow node:
//!
//! ```yaml
//! grants:
//!   plc:  [{ device: oven-1, read: ["holding:0-99", "coil:0-15"], write: ["coil:3"] }]
//!   mqtt: [{ connection: plant, publish: ["plant/line1/+/status"], subscribe: ["plant/line1/cmd/#"] }]
//!   http: ["https://mes.local:443/api/*"]
//! ```
//!
//! This crate parses grants (with errors that name the offending entry) and
//! answers "is this call allowed?" with either `Ok` or a [`Denied`] that says why.
//! It has no I/O: the runtime asks it before every host call.
//!
//! # Layout
//! - [`plc`]: address ranges such as `holding:0-99`, split into read and write.
//! - [`mqtt`]: topic filters with MQTT wildcard semantics, split into publish and subscribe.
//! - [`http`]: URL patterns (scheme, host, port, path), the canonical
//!   [`http::Target`] that is both checked and sent, and the addresses that
//!   are refused after DNS unless granted by literal IP.
//! - [`grants`]: the [`Grants`] of one node, tying the three together.
#![deny(missing_docs)]

pub mod grants;
pub mod http;
pub mod mqtt;
pub mod plc;

mod error;

pub use error::{Denied, ParseError};
pub use grants::Grants;

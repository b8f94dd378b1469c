//! The first-party task plugins, embedded in the Baton binary.
//!
//! `build.rs` compiles the guest workspace in `plugins/` (written with the
//! Rust guest SDK in `sdk-guest/`) to `wasm32-wasip2` components and embeds
//! them here, so `baton` ships with `modbus-read`, `modbus-write`,
//! `mqtt-publish`, `http-request` and `transform` ready to use.
//!
//! It also exposes the paths of small purpose-built guest programs that the
//! test suites use to attack the sandbox ([`test_programs`]).
#![deny(missing_docs)]

/// One embedded plugin component.
#[derive(Debug, Clone, Copy)]
pub struct FirstParty {
    /// The plugin's name, as its `describe` reports it.
    pub name: &'static str,
    /// The component bytes.
    pub wasm: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

/// The embedded plugin called `name`, if any.
pub fn find(name: &str) -> Option<&'static FirstParty> {
    FIRST_PARTY.iter().find(|p| p.name == name)
}

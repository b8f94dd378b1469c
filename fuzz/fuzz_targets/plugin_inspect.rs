//! The upload checks on component bytes, as `Runtime::load` runs them up to
//! compiling: the header check (mirrored: `baton_runtime::inspect` is
//! private), then wasmparser's validation of the whole component with the
//! features wasmtime enables, then the import names against what Baton
//! provides (also mirrored). wasmtime itself is not built here; its compile
//! step starts from this same validation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmparser::{Parser, Payload, Validator, WasmFeatures};

/// `baton_runtime::config` default `max_component_size` order of magnitude.
const LIMIT: usize = 64 << 20;

/// Mirror of `host/runtime/src/inspect.rs` `PROVIDED`.
const PROVIDED: &[&str] = &[
    "baton:plugin/types@0.1.",
    "baton:plugin/log@0.1.",
    "baton:plugin/plc@0.1.",
    "baton:plugin/mqtt@0.1.",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
    "wasi:http/outgoing-handler@0.2.",
    "wasi:http/types@0.2.",
];

/// Mirror of `inspect::check_bytes`.
fn check_bytes(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.len() <= LIMIT
        && bytes.len() >= 8
        && &bytes[..4] == b"\0asm"
        && bytes[6..8] != [0, 0]
}

/// Mirror of `inspect::provided`.
fn provided(name: &str) -> bool {
    PROVIDED.iter().any(|p| name.starts_with(p))
        && (name.starts_with("baton:") || name.contains("@0.2."))
}

fuzz_target!(|data: &[u8]| {
    if !check_bytes(data) {
        return;
    }
    let mut validator = Validator::new_with_features(WasmFeatures::default());
    if validator.validate_all(data).is_err() {
        return;
    }
    // Valid: list the outer component's imports as the runtime does after
    // compiling, and sort them into provided and unknown.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(data) {
        // validate_all accepted these bytes, so parsing them again must too.
        let payload = match payload {
            Ok(payload) => payload,
            Err(e) => panic!("validated bytes failed to parse: {e}"),
        };
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.expect("validated import section");
                    let _ = provided(import.name.name);
                }
            }
            _ => {}
        }
    }
});

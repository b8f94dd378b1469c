//! Checks on uploaded bytes: before compiling (cheap, precise messages) and
//! after (imports and exports against what Baton offers).

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::{Error, Result};

/// Interfaces a task may import: our own package at 0.1.x and WASI 0.2.x.
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

/// Reject what is obviously not a component, with a specific reason.
pub(crate) fn check_bytes(bytes: &[u8], limit: usize) -> Result<()> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    if bytes.len() > limit {
        return Err(Error::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(Error::NotWasm);
    }
    // Bytes 6..8 are the layer: 0 for a core module, 1 for a component.
    if bytes[6..8] == [0, 0] {
        return Err(Error::CoreModule);
    }
    Ok(())
}

/// The names of everything the component imports.
pub(crate) fn imports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Imports outside what Baton provides, wasi:cli's `run`-world extras included.
pub(crate) fn unknown_imports(imports: &[String]) -> Vec<String> {
    imports
        .iter()
        .filter(|name| !provided(name))
        .cloned()
        .collect()
}

/// Whether Baton provides an import: one of [`PROVIDED`], and for WASI, version 0.2.
fn provided(name: &str) -> bool {
    PROVIDED.iter().any(|p| name.starts_with(p))
        && (name.starts_with("baton:") || name.contains("@0.2."))
}

/// What a component exports, for the wrong-world message.
pub(crate) fn exports(engine: &Engine, component: &Component) -> String {
    let names: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks_name_the_problem() {
        assert!(matches!(check_bytes(b"", 10), Err(Error::Empty)));
        assert!(matches!(
            check_bytes(&[0; 20], 10),
            Err(Error::TooLarge {
                size: 20,
                limit: 10
            })
        ));
        assert!(matches!(
            check_bytes(b"MZ\x90\0garbage", 100),
            Err(Error::NotWasm)
        ));
        assert!(matches!(
            check_bytes(b"\0asm\x01\0\0\0", 100),
            Err(Error::CoreModule)
        ));
        assert!(check_bytes(b"\0asm\x0d\0\x01\0", 100).is_ok());
    }

    #[test]
    fn only_our_package_and_wasi_0_2_are_provided() {
        let imports: Vec<String> = [
            "baton:plugin/plc@0.1.0",
            "wasi:io/streams@0.2.12",
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:http/incoming-handler@0.2.0",
            "wasi:io/streams@0.3.0",
            "acme:secret/backdoor@1.0.0",
            "baton:plugin/plc@0.2.0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            unknown_imports(&imports),
            vec![
                "wasi:http/incoming-handler@0.2.0",
                "wasi:io/streams@0.3.0",
                "acme:secret/backdoor@1.0.0",
                "baton:plugin/plc@0.2.0"
            ]
        );
    }
}

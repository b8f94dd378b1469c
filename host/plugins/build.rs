//! Compiles the guest workspace in `plugins/` to wasm32-wasip2 and generates
//! `plugins.rs`, which embeds the first-party plugins and names the test programs.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a build script reports failure by panicking"
)]

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

/// First-party plugins, embedded in the binary: (plugin name, crate name).
const FIRST_PARTY: &[(&str, &str)] = &[
    ("modbus-read", "modbus_read"),
    ("modbus-write", "modbus_write"),
    ("mqtt-publish", "mqtt_publish"),
    ("http-request", "http_request"),
    ("transform", "transform"),
];

/// Guest programs used only by tests: (constant name, file name).
const TEST_PROGRAMS: &[(&str, &str)] = &[
    ("HOSTILE", "test_hostile.wasm"),
    ("PROBE", "test_probe.wasm"),
    ("NOOP", "test_noop.wasm"),
    ("COMMAND", "test-command.wasm"),
    ("SCRIPTED", "test_scripted.wasm"),
];

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest
        .join("../..")
        .canonicalize()
        .expect("workspace root exists");
    let plugins = root.join("plugins");
    for watched in [
        "plugins/Cargo.toml",
        "plugins/Cargo.lock",
        "sdk-guest/Cargo.toml",
        "sdk-guest/src",
        "wit",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    for (_, krate) in FIRST_PARTY {
        println!(
            "cargo:rerun-if-changed={}",
            plugins.join(krate.replace('_', "-")).display()
        );
    }
    println!(
        "cargo:rerun-if-changed={}",
        plugins.join("test-programs").display()
    );

    ensure_target();

    // A target directory of its own: sharing the outer one would deadlock on cargo's lock.
    let target_dir = root.join("target").join("wasm-plugins");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--release", "--workspace", "--target", TARGET])
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's settings are for the host, not for wasm guests.
    for (key, _) in env::vars() {
        if (key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_MAKEFLAGS")
            || key == "RUSTFLAGS"
            || key == "RUSTC_WRAPPER"
            || key == "RUSTC_WORKSPACE_WRAPPER"
        {
            build.env_remove(key);
        }
    }
    let status = build.status().expect("run cargo to build the wasm plugins");
    if !status.success() {
        panic!(
            "building the wasm plugins in {} failed (see the errors above)",
            plugins.display()
        );
    }

    let built = target_dir.join(TARGET).join("release");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut code = String::from(
        "/// The first-party plugins, by plugin name.\npub static FIRST_PARTY: &[FirstParty] = &[\n",
    );
    for (name, krate) in FIRST_PARTY {
        let file = copy(&built.join(format!("{krate}.wasm")), &out);
        writeln!(
            code,
            "    FirstParty {{ name: {name:?}, wasm: include_bytes!({file:?}) }},"
        )
        .unwrap();
    }
    code.push_str("];\n\n/// Paths of guest programs built for tests.\n#[doc(hidden)]\npub mod test_programs {\n");
    for (constant, file) in TEST_PROGRAMS {
        let path = copy(&built.join(file), &out);
        writeln!(
            code,
            "    /// `{file}`\n    pub const {constant}: &str = {path:?};"
        )
        .unwrap();
    }
    code.push_str("}\n");
    std::fs::write(out.join("plugins.rs"), code).expect("write plugins.rs");
}

/// Copy a built component next to the generated code, so a concurrent
/// rebuild of the guest workspace cannot change it under `include_bytes!`.
fn copy(from: &Path, out: &Path) -> String {
    let Some(name) = from.file_name() else {
        panic!("{} has no file name", from.display());
    };
    let to = out.join(name);
    if let Err(e) = std::fs::copy(from, &to) {
        panic!(
            "expected the guest build to produce {}: {e}",
            from.display()
        );
    }
    to.display().to_string()
}

/// Make sure the wasm32-wasip2 standard library is installed, adding it with
/// rustup if possible.
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if sysroot.is_some_and(|s| s.join("lib/rustlib").join(TARGET).exists()) {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !added {
        panic!(
            "the Rust target {TARGET} is missing and could not be installed automatically.\n\
             Install it with:\n\n    rustup target add {TARGET}\n"
        );
    }
}

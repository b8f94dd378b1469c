//! Building guest components with their vendors' toolchains (componentize-py,
//! componentize-js), and loading them once per test binary.
//!
//! Where a toolchain is missing the tests that need it say so and pass
//! without running; `.ci/run` installs both, so CI runs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::cargo::root;

/// Where built components and compiled artifacts go.
fn out_dir() -> PathBuf {
    let dir = root().join("target").join("guests");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The artifact cache shared by every test runtime, so each large component
/// is compiled once per machine rather than once per test.
pub fn artifact_cache() -> PathBuf {
    out_dir().join("artifacts")
}

fn available(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Why Python guests cannot be built here, if they cannot.
fn python_missing() -> Option<String> {
    (!available("componentize-py", "--version")).then(|| {
        "componentize-py is not installed (pip install -r examples/plugins/python/vibration-check/requirements.txt)".into()
    })
}

/// Why JavaScript guests cannot be built here, if they cannot.
fn javascript_missing() -> Option<String> {
    (!available("node", "--version") || !available("npm", "--version"))
        .then(|| "node and npm are not installed".into())
}

type Built = Result<Vec<u8>, String>;

fn build_once(cell: &'static OnceLock<Built>, build: impl FnOnce() -> Built) -> Option<Vec<u8>> {
    match cell.get_or_init(build) {
        Ok(bytes) => Some(bytes.clone()),
        Err(reason) if reason.starts_with("skip: ") => {
            eprintln!("skipped: {}", &reason[6..]);
            None
        }
        Err(reason) => panic!("{reason}"),
    }
}

fn build_with_script(dir: &Path, name: &str) -> Built {
    let out = out_dir().join(format!("{name}.wasm"));
    let mut command = Command::new("sh");
    command.arg(dir.join("build.sh")).arg(&out);
    run(command, &format!("building {name}"))?;
    std::fs::read(&out).map_err(|e| e.to_string())
}

/// The Python example, built from source.
pub fn vibration_check() -> Option<Vec<u8>> {
    static BUILT: OnceLock<Built> = OnceLock::new();
    build_once(&BUILT, || match python_missing() {
        Some(why) => Err(format!("skip: {why}")),
        None => build_with_script(
            &root().join("examples/plugins/python/vibration-check"),
            "vibration_check",
        ),
    })
}

/// A Python guest that loops or raises on request.
pub fn python_hostile() -> Option<Vec<u8>> {
    static BUILT: OnceLock<Built> = OnceLock::new();
    build_once(&BUILT, || {
        if let Some(why) = python_missing() {
            return Err(format!("skip: {why}"));
        }
        let out = out_dir().join("py_hostile.wasm");
        let mut command = Command::new("componentize-py");
        command
            .current_dir(root().join("tests/guests/python/hostile"))
            .arg("--wit-path")
            .arg(root().join("wit"))
            .args(["--world", "task", "componentize", "app", "--output"])
            .arg(&out);
        run(command, "building the Python hostile guest")?;
        std::fs::read(&out).map_err(|e| e.to_string())
    })
}

/// The JavaScript example, built from source (its pinned toolchain is
/// installed from the npm registry on first use).
pub fn mes_record() -> Option<Vec<u8>> {
    static BUILT: OnceLock<Built> = OnceLock::new();
    build_once(&BUILT, || match javascript_missing() {
        Some(why) => Err(format!("skip: {why}")),
        None => build_with_script(
            &root().join("examples/plugins/javascript/mes-record"),
            "mes_record",
        ),
    })
}

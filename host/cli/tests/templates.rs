//! `baton plugin new` makes projects that build with their language's
//! toolchain and run under Baton. Where a toolchain is missing, that language
//! is skipped with one `skipped:` line, and under `CI=true` it fails naming
//! it; `.ci/run` installs them all.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::Command;

use baton_sim::suite::{optional_suite, program_runs};

fn baton(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "baton {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Build a generated project's component and check it reads the simulated oven.
fn check(dir: &Path, build: &mut Command, wasm: &Path) {
    let out = build.current_dir(dir).output().unwrap();
    assert!(
        out.status.success(),
        "build failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let run = baton(
        dir,
        &[
            "task",
            "run",
            wasm.to_str().unwrap(),
            "--simulate",
            "--config",
            "{device: oven-1, address: 10, topic: plant/demo}",
            "--grants",
            "{plc: [{device: oven-1, read: [\"holding:10\"]}], mqtt: [{connection: plant, publish: [\"plant/#\"]}]}",
        ],
    );
    let output: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(output, serde_json::json!({"value": 20}));
    // The subscriber that `--simulate` runs saw the publish.
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("[mqtt plant] plant/demo: {\"value\""),
        "{stderr}"
    );
}

#[test]
fn rust_template_builds_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    baton(
        tmp.path(),
        &["plugin", "new", "line-reader", "--lang", "rust"],
    );
    let project = tmp.path().join("line-reader");
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/examples");
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target);
    // The outer `cargo test` holds its own target directory; keep its settings out.
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_HOME" {
            build.env_remove(key);
        }
    }
    check(
        &project,
        &mut build,
        &target.join("wasm32-wasip2/release/line_reader.wasm"),
    );
}

#[test]
fn python_template_builds_and_runs() {
    if !program_runs("componentize-py", &["--version"]) {
        optional_suite(
            "Python template suite",
            "componentize-py is not installed (pip install componentize-py==0.25.1)",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    baton(
        tmp.path(),
        &["plugin", "new", "line-reader", "--lang", "python"],
    );
    let project = tmp.path().join("line-reader");
    check(
        &project,
        Command::new("sh").arg("build.sh"),
        &project.join("line_reader.wasm"),
    );
}

#[test]
fn javascript_template_builds_and_runs() {
    if !program_runs("node", &["--version"]) || !program_runs("npm", &["--version"]) {
        optional_suite(
            "JavaScript template suite",
            "node and npm are not installed (install Node.js 18 or later, which includes npm)",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    baton(
        tmp.path(),
        &["plugin", "new", "line-reader", "--lang", "javascript"],
    );
    let project = tmp.path().join("line-reader");
    let install = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund"])
        .current_dir(&project)
        .output()
        .unwrap();
    if !install.status.success() {
        optional_suite(
            "JavaScript template suite",
            &format!(
                "componentize-js could not be installed from the npm registry (npm install): {}",
                String::from_utf8_lossy(&install.stderr)
            ),
        );
        return;
    }
    check(
        &project,
        Command::new("sh").arg("build.sh"),
        &project.join("line_reader.wasm"),
    );
}

//! A suite whose toolchain is missing cannot pass unseen: this binary runs
//! one of its own Python plugin tests in a child process with a `PATH` that
//! has no componentize-py, as `.ci/run` would on a machine without it. Under
//! `CI=true` the test fails naming componentize-py; outside CI it passes with
//! one `skipped:` line that shows on stderr.

use std::process::{Command, Output};

/// A test that needs componentize-py; its availability check comes first, so
/// the child gives up before building or starting anything.
const PYTHON_TEST: &str = "python_plugin::vibration_check_reads_publishes_and_reports";

/// Run [`PYTHON_TEST`] from this binary with an empty `PATH`, `CI` as given.
fn python_test_without_componentize_py(ci: Option<&str>) -> (Output, String) {
    let empty = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", PYTHON_TEST, "--test-threads=1"])
        .env("PATH", empty.path());
    match ci {
        Some(value) => child.env("CI", value),
        None => child.env_remove("CI"),
    };
    let out = child.output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

#[test]
fn under_ci_a_missing_componentize_py_fails_the_python_suite_naming_it() {
    let (out, text) = python_test_without_componentize_py(Some("true"));
    assert!(!out.status.success(), "the child passed:\n{text}");
    assert!(text.contains("1 failed"), "{text}");
    assert!(
        text.contains(
            "CI=true but componentize-py is not installed (pip install -r \
             examples/plugins/python/vibration-check/requirements.txt): \
             the Python plugin suite cannot run"
        ),
        "{text}"
    );
}

#[test]
fn outside_ci_a_missing_componentize_py_skips_with_one_visible_line() {
    let (out, text) = python_test_without_componentize_py(None);
    assert!(out.status.success(), "the child failed:\n{text}");
    assert!(text.contains("1 passed"), "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let skipped: Vec<_> = stderr
        .lines()
        .filter(|l| l.starts_with("skipped: "))
        .collect();
    assert_eq!(
        skipped,
        [
            "skipped: Python plugin suite: componentize-py is not installed \
          (pip install -r examples/plugins/python/vibration-check/requirements.txt)"
        ],
        "{text}"
    );
}

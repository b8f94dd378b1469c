//! The first-party plugins' own unit tests, which run natively against the
//! SDK's fake host, are part of the suite.

use crate::cargo::{cargo, root};

#[test]
fn first_party_plugins_pass_their_unit_tests() {
    let out = cargo(
        &root().join("plugins/Cargo.toml"),
        "guest-native",
        &["test", "--quiet"],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "plugin unit tests failed:\n{stdout}\n{stderr}"
    );
    let passed: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(
        passed >= 10,
        "expected the plugin unit tests to run, saw {passed}:\n{stdout}"
    );
}

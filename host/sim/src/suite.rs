//! Optional test suites: what a test does when a tool or service it needs
//! (componentize-py, node, pymodbus, Mosquitto, PostgreSQL, a browser) is
//! missing on this machine.
//!
//! Outside CI the suite is skipped with one `skipped: SUITE: WHAT` line,
//! written straight to stderr so that it shows in `cargo test` output even for
//! a passing test (libtest captures only the `print!` family). Under `CI=true`
//! (or `CI=1`), which `.ci/run` sets, the same absence fails the test, naming
//! what is missing and how to install it: CI must not pass a suite it did not
//! run.
//!
//! Everything here that reads the environment is a thin wrapper around a
//! function that takes the CI flag as a parameter, so the decision is tested
//! without mutating the environment of a multi-threaded test binary.

use std::io::Write;
use std::process::{Command, Stdio};

/// The PostgreSQL server tests create their databases on.
pub const DATABASE_URL_VAR: &str = "BATON_TEST_DATABASE_URL";

/// The MQTT broker (Mosquitto, in CI) tests use instead of the embedded one.
pub const MQTT_URL_VAR: &str = "BATON_TEST_MQTT_URL";

const DATABASE_MISSING: &str = "BATON_TEST_DATABASE_URL is not set (start PostgreSQL and set it \
     to a server URL such as postgres://postgres@127.0.0.1:5432/test, as .ci/run does)";

const MQTT_MISSING: &str = "BATON_TEST_MQTT_URL is not set (start Mosquitto and set it to a \
     broker URL such as mqtt://127.0.0.1:1883, as .ci/run does)";

/// Whether this process runs under CI: the `CI` variable is `true` or `1`.
pub fn ci() -> bool {
    ci_flag(std::env::var("CI").ok().as_deref())
}

fn ci_flag(value: Option<&str>) -> bool {
    matches!(value, Some("true" | "1"))
}

/// A suite that did not run here, and the line that said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    line: String,
}

impl Skip {
    /// `skipped: SUITE: WHAT IS MISSING`, as printed.
    pub fn line(&self) -> &str {
        &self.line
    }
}

/// What a suite does about `missing`: skip it outside CI, refuse under CI.
///
/// `suite` names the suite ("Python plugin suite"); `missing` says what is
/// missing and how to install it ("componentize-py is not installed (pip
/// install ...)"). The error is the message a CI failure shows; the skip
/// line is one line even when `missing` quotes a tool's multi-line output.
pub fn decide(ci: bool, suite: &str, missing: &str) -> Result<Skip, String> {
    required_in_ci(ci, suite, missing)?;
    let missing = missing.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(Skip {
        line: format!("skipped: {suite}: {missing}"),
    })
}

/// The CI half of [`decide`] alone, for something that has a fallback outside
/// CI and so is no skip there (the embedded broker instead of Mosquitto).
pub fn required_in_ci(ci: bool, suite: &str, missing: &str) -> Result<(), String> {
    if ci {
        Err(format!("CI=true but {missing}: the {suite} cannot run"))
    } else {
        Ok(())
    }
}

/// The call a test makes when something its suite needs is `missing`: under
/// CI it panics, outside CI it prints the skip line and returns the [`Skip`],
/// after which the test returns without running.
///
/// # Panics
/// Under CI, with a message naming the suite, what is missing and how to
/// install it. That is its purpose: it is for tests only.
#[track_caller]
pub fn optional_suite(suite: &str, missing: &str) -> Skip {
    skip_or_fail(ci(), suite, missing, &mut std::io::stderr())
}

/// [`optional_suite`] with the CI flag and the output given.
///
/// # Panics
/// When `ci`, as [`optional_suite`] does.
#[track_caller]
pub fn skip_or_fail(ci: bool, suite: &str, missing: &str, out: &mut dyn Write) -> Skip {
    match decide(ci, suite, missing) {
        Ok(skip) => {
            // One write, so the line is not split by libtest's own output;
            // best effort, as a closed stderr must not fail the test.
            let _ = out.write_all(format!("{}\n", skip.line).as_bytes());
            skip
        }
        Err(message) => panic!("{message}"),
    }
}

/// The PostgreSQL server at `BATON_TEST_DATABASE_URL` for `suite`, or `None`
/// after skipping it (outside CI) when that is not set.
///
/// # Panics
/// Under CI when it is not set: CI runs every PostgreSQL suite.
#[track_caller]
pub fn database_url(suite: &str) -> Option<String> {
    match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            optional_suite(suite, DATABASE_MISSING);
            None
        }
    }
}

/// A new, empty database `NAME_PID` on the server at
/// `BATON_TEST_DATABASE_URL` (dropped first if a crashed run left it), and
/// its URL; `None` after skipping `suite` when the variable is not set.
///
/// # Panics
/// Under CI when it is not set, or when the server refuses.
#[track_caller]
pub fn fresh_database(suite: &str, name: &str) -> impl Future<Output = Option<String>> {
    let server = database_url(suite);
    let name = format!("{name}_{}", std::process::id());
    async move {
        let server = server?;
        let admin = sqlx::PgPool::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("{DATABASE_URL_VAR}={server}: {e}"));
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&admin)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        admin.close().await;
        let mut url =
            url::Url::parse(&server).unwrap_or_else(|e| panic!("{DATABASE_URL_VAR}={server}: {e}"));
        url.set_path(&name);
        Some(url.to_string())
    }
}

/// The broker at `BATON_TEST_MQTT_URL`, `None` outside CI when that is not
/// set (the embedded broker stands in, which is no skip), and an error under
/// CI when it is not set: CI runs the MQTT suites against Mosquitto.
pub fn mqtt_url() -> Result<Option<String>, String> {
    mqtt_url_from(ci(), std::env::var(MQTT_URL_VAR).ok())
}

fn mqtt_url_from(ci: bool, value: Option<String>) -> Result<Option<String>, String> {
    match value {
        Some(url) if !url.is_empty() => Ok(Some(url)),
        _ => required_in_ci(ci, "Mosquitto suite", MQTT_MISSING).map(|()| None),
    }
}

/// Whether `program` starts with `args` and exits successfully: how a suite
/// checks for a tool. The program is looked up on `PATH`.
pub fn program_runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `python3` can import `module`.
pub fn python_module(module: &str) -> bool {
    program_runs("python3", &["-c", &format!("import {module}")])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const MISSING: &str = "componentize-py is not installed (pip install componentize-py)";

    #[test]
    fn ci_is_true_or_1() {
        assert!(ci_flag(Some("true")));
        assert!(ci_flag(Some("1")));
        for value in [None, Some(""), Some("0"), Some("false"), Some("yes")] {
            assert!(!ci_flag(value), "{value:?}");
        }
    }

    #[test]
    #[should_panic(
        expected = "CI=true but componentize-py is not installed (pip install componentize-py): \
                    the Python plugin suite cannot run"
    )]
    fn under_ci_a_missing_tool_fails_naming_it_and_the_suite() {
        skip_or_fail(true, "Python plugin suite", MISSING, &mut Vec::new());
    }

    #[test]
    fn outside_ci_a_missing_tool_prints_one_skip_line() {
        let mut out = Vec::new();
        let skip = skip_or_fail(false, "Python plugin suite", MISSING, &mut out);
        let line = "skipped: Python plugin suite: componentize-py is not installed \
                    (pip install componentize-py)";
        assert_eq!(skip.line(), line);
        assert_eq!(String::from_utf8(out).unwrap(), format!("{line}\n"));
    }

    #[test]
    fn the_skip_line_is_one_line_even_for_multi_line_output() {
        let mut out = Vec::new();
        let missing =
            "componentize-js could not be installed: npm install failed:\n\nnpm ERR! network\n";
        let skip = skip_or_fail(false, "JavaScript plugin suite", missing, &mut out);
        assert_eq!(
            skip.line(),
            "skipped: JavaScript plugin suite: componentize-js could not be installed: \
             npm install failed: npm ERR! network"
        );
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1);
    }

    #[test]
    fn decide_refuses_only_under_ci() {
        let refused = decide(true, "Modbus interoperability suite", "pymodbus is missing");
        assert_eq!(
            refused,
            Err(
                "CI=true but pymodbus is missing: the Modbus interoperability suite cannot run"
                    .into()
            )
        );
        assert!(
            decide(
                false,
                "Modbus interoperability suite",
                "pymodbus is missing"
            )
            .is_ok()
        );
    }

    #[test]
    fn mosquitto_is_required_under_ci_and_optional_outside() {
        let url = Some("mqtt://127.0.0.1:1883".to_string());
        assert_eq!(mqtt_url_from(true, url.clone()), Ok(url.clone()));
        assert_eq!(mqtt_url_from(false, url.clone()), Ok(url));
        assert_eq!(mqtt_url_from(false, None), Ok(None));
        let refused = mqtt_url_from(true, None).unwrap_err();
        assert!(
            refused.starts_with("CI=true but BATON_TEST_MQTT_URL is not set"),
            "{refused}"
        );
        assert!(refused.contains("start Mosquitto"), "{refused}");
        assert!(
            refused.ends_with("the Mosquitto suite cannot run"),
            "{refused}"
        );
        assert!(mqtt_url_from(true, Some(String::new())).is_err());
    }

    #[test]
    fn a_program_that_is_not_on_path_does_not_run() {
        assert!(!program_runs("baton-no-such-program", &["--version"]));
    }
}

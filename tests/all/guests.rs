//! Building guest components with their vendors' toolchains (componentize-py,
//! componentize-js), and loading them once per test binary.
//!
//! Where a toolchain is missing, the tests that need it print one `skipped:`
//! line and pass without running; under `CI=true` they fail naming it
//! (`baton_sim::suite`). `.ci/run` installs both, so CI runs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use baton_sim::suite::{optional_suite, program_runs};

use crate::cargo::root;

/// The suites that build Python and JavaScript guests, as their skip lines
/// and CI failures name them.
const PYTHON_SUITE: &str = "Python plugin suite";
const JAVASCRIPT_SUITE: &str = "JavaScript plugin suite";

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

/// Why a guest was not built.
#[derive(Debug)]
enum NotBuilt {
    /// A toolchain is missing: the suite is optional outside CI.
    Missing(String),
    /// The toolchain is there and the build failed: always a test failure.
    Failed(String),
}

impl From<String> for NotBuilt {
    fn from(reason: String) -> Self {
        NotBuilt::Failed(reason)
    }
}

/// Why Python guests cannot be built here, if they cannot.
fn python_missing() -> Result<(), NotBuilt> {
    if program_runs("componentize-py", &["--version"]) {
        Ok(())
    } else {
        Err(NotBuilt::Missing(
            "componentize-py is not installed (pip install -r examples/plugins/python/vibration-check/requirements.txt)".into(),
        ))
    }
}

/// Why JavaScript guests cannot be built here, if they cannot.
fn javascript_missing() -> Result<(), NotBuilt> {
    if program_runs("node", &["--version"]) && program_runs("npm", &["--version"]) {
        Ok(())
    } else {
        Err(NotBuilt::Missing(
            "node and npm are not installed (install Node.js 18 or later, which includes npm)"
                .into(),
        ))
    }
}

type Built = Result<Vec<u8>, NotBuilt>;

/// The guest built once per process, or `None` when `suite` is skipped here
/// (see `baton_sim::suite`: under CI a missing toolchain fails instead).
fn build_once(
    cell: &'static OnceLock<Built>,
    suite: &str,
    build: impl FnOnce() -> Built,
) -> Option<Vec<u8>> {
    match cell.get_or_init(build) {
        Ok(bytes) => Some(bytes.clone()),
        Err(NotBuilt::Missing(why)) => {
            optional_suite(suite, why);
            None
        }
        Err(NotBuilt::Failed(reason)) => panic!("{reason}"),
    }
}

fn build_with_script(dir: &Path, name: &str) -> Built {
    let out = out_dir().join(format!("{name}.wasm"));
    let mut command = Command::new("sh");
    command.arg(dir.join("build.sh")).arg(&out);
    run(command, &format!("building {name}"))?;
    Ok(std::fs::read(&out).map_err(|e| e.to_string())?)
}

/// The Python example, built from source.
pub fn vibration_check() -> Option<Vec<u8>> {
    static BUILT: OnceLock<Built> = OnceLock::new();
    build_once(&BUILT, PYTHON_SUITE, || {
        python_missing()?;
        build_with_script(
            &root().join("examples/plugins/python/vibration-check"),
            "vibration_check",
        )
    })
}

/// A Python guest that loops or raises on request.
pub fn python_hostile() -> Option<Vec<u8>> {
    static BUILT: OnceLock<Built> = OnceLock::new();
    build_once(&BUILT, PYTHON_SUITE, || {
        python_missing()?;
        let out = out_dir().join("py_hostile.wasm");
        let mut command = Command::new("componentize-py");
        command
            .current_dir(root().join("tests/guests/python/hostile"))
            .arg("--wit-path")
            .arg(root().join("wit"))
            .args(["--world", "task", "componentize", "app", "--output"])
            .arg(&out);
        run(command, "building the Python hostile guest")?;
        Ok(std::fs::read(&out).map_err(|e| e.to_string())?)
    })
}

/// The directory of the pinned componentize-js, installed from the npm
/// registry on first use; what is missing if it cannot be.
fn componentize_js() -> Result<PathBuf, NotBuilt> {
    javascript_missing()?;
    let dir = root().join("examples/plugins/javascript/mes-record");
    if !dir
        .join("node_modules/@bytecodealliance/componentize-js")
        .exists()
    {
        let mut install = Command::new("npm");
        install
            .current_dir(&dir)
            .args(["install", "--no-audit", "--no-fund"]);
        if let Err(e) = run(install, "npm install") {
            return Err(NotBuilt::Missing(format!(
                "componentize-js could not be installed from the npm registry \
                 (npm install in examples/plugins/javascript/mes-record): {e}"
            )));
        }
    }
    Ok(dir)
}

/// The JavaScript example, built from source.
pub fn mes_record() -> Option<Vec<u8>> {
    static BUILT: OnceLock<Built> = OnceLock::new();
    build_once(&BUILT, JAVASCRIPT_SUITE, || {
        build_with_script(&componentize_js()?, "mes_record")
    })
}

/// A JavaScript guest that loops or throws on request.
pub fn javascript_hostile() -> Option<Vec<u8>> {
    static BUILT: OnceLock<Built> = OnceLock::new();
    build_once(&BUILT, JAVASCRIPT_SUITE, || {
        let tool =
            componentize_js()?.join("node_modules/@bytecodealliance/componentize-js/src/cli.js");
        let out = out_dir().join("js_hostile.wasm");
        let mut command = Command::new("node");
        command
            .arg(tool)
            .arg(root().join("tests/guests/javascript/hostile.js"))
            .arg("--wit")
            .arg(root().join("wit"))
            .args([
                "--world-name",
                "task",
                "--disable",
                "fetch-event",
                "http",
                "--out",
            ])
            .arg(&out);
        run(command, "building the JavaScript hostile guest")?;
        Ok(std::fs::read(&out).map_err(|e| e.to_string())?)
    })
}

//! The README's tour, run as written against `baton demo`, so that it stays
//! true: the commands between `<!-- tour -->` and `<!-- /tour -->`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::client::Demo;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tour's shell lines, without the `export` the demo prints for you.
fn tour_script() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (_, rest) = readme
        .split_once("<!-- tour -->")
        .expect("README marks its tour");
    let (tour, _) = rest.split_once("<!-- /tour -->").unwrap();
    let mut script = String::new();
    let mut in_block = false;
    for line in tour.lines() {
        if line.starts_with("```") {
            in_block = line.starts_with("```sh");
            continue;
        }
        if in_block && !line.starts_with("export ") && !line.trim().is_empty() {
            script.push_str(line);
            script.push('\n');
        }
    }
    script
}

/// Build the example vendor plugin, as step 2 of the tour does.
fn build_oven_guard() -> PathBuf {
    let target = root().join("target/examples");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(root().join("examples/plugins/rust/oven-guard/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(status.success());
    target.join("wasm32-wasip2/release/oven_guard.wasm")
}

#[test]
fn the_readme_tour_runs_as_written() {
    let wasm = build_oven_guard();
    let data = tempfile::tempdir().unwrap();
    let demo = Demo::start(data.path());
    let env = demo.env.clone();
    let var = |k: &str| demo.var(k);

    let mut script = tour_script()
        .replace("cargo run --", "\"$BATON_BIN\"")
        .replace(
            "examples/plugins/rust/oven-guard/target/wasm32-wasip2/release/oven_guard.wasm",
            wasm.to_str().unwrap(),
        );
    let has = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(has("curl"), "the tour uses curl");
    let mosquitto_pub = has("mosquitto_pub");
    if !mosquitto_pub {
        // The test publishes the tour's message itself instead.
        baton_sim::suite::optional_suite(
            "README tour's mosquitto_pub step",
            "mosquitto_pub is not installed (apt-get install mosquitto-clients)",
        );
        script = script
            .lines()
            .filter(|l| !l.starts_with("mosquitto_pub"))
            .map(|l| format!("{l}\n"))
            .collect();
    }
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .envs(env.iter().cloned())
        .env("BATON_BIN", env!("CARGO_BIN_EXE_baton"))
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("script:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(out.status.success());

    // What the tour says happens, happened.
    assert!(
        stdout.contains("oven-guard"),
        "plugin list shows the pushed plugin"
    );
    assert!(
        stdout.contains("pushed oven-guard@1.0.0"),
        "plugin push says so"
    );
    assert!(
        stdout.contains("guard: attempt succeeded"),
        "run watch follows the run"
    );
    assert!(
        stdout.contains("approve: approved (line clear)"),
        "the approval is in the events"
    );
    assert!(stdout.contains("run succeeded"));
    assert!(
        stdout.contains("\"kind\":\"run_succeeded\""),
        "curl got the event stream"
    );
    assert!(
        stdout.contains("baton_runs{status=\"succeeded\"}"),
        "curl read the metrics"
    );

    if !mosquitto_pub {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(crate::client::publish(
            &var("BATON_MQTT"),
            "plant/line1/start",
            r#"{"batch": "B-42"}"#,
        ));
    }
    // The MQTT message started a run with its payload as input.
    let server = var("BATON_SERVER");
    let token = var("BATON_TOKEN");
    let mut found = Value::Null;
    for _ in 0..200 {
        let out = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["run", "list", "--workflow", "line1-startup", "--json"])
            .env("BATON_SERVER", &server)
            .env("BATON_TOKEN", &token)
            .output()
            .unwrap();
        let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
        if let Some(run) = runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["trigger"] == "mqtt:plant/line1/start")
        {
            found = run.clone();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(found["input"]["batch"], "B-42", "a run started by MQTT");
    drop(demo);
}

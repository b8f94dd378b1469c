//! The `baton` binary, run as a vendor would run it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Output};

fn baton(args: &[&str]) -> Output {
    baton_with_cache(
        args,
        &std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache"),
    )
}

/// [`baton`] with `XDG_CACHE_HOME` at `cache`: where local runs keep compiled plugins.
fn baton_with_cache(args: &[&str], cache: &std::path::Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("BATON_CONFIG")
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .output()
        .unwrap();
    eprintln!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn task_run_reads_the_simulated_oven() {
    let out = baton(&[
        "task",
        "run",
        "modbus-read",
        "--simulate",
        "--config",
        "{device: oven-1, kind: holding, address: 10}",
        "--grants",
        "{plc: [{device: oven-1, read: [\"holding:10\"]}]}",
    ]);
    assert!(out.status.success());
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value, serde_json::json!({"values": [20]}));
}

#[test]
fn local_runs_keep_compiled_plugins_in_the_user_cache() {
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        let out = baton_with_cache(
            &[
                "task",
                "run",
                "modbus-read",
                "--simulate",
                "--config",
                "{device: oven-1, kind: holding, address: 10}",
                "--grants",
                "{plc: [{device: oven-1, read: [\"holding:10\"]}]}",
            ],
            cache.path(),
        );
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let first = run();
    assert!(first.contains("compiled in"), "{first}");
    let kept = std::fs::read_dir(cache.path().join("baton/artifacts"))
        .unwrap()
        .count();
    assert!(kept > 0, "the artifact is kept in the user cache");
    let second = run();
    assert!(
        second.contains("from cache"),
        "the second run loads it: {second}"
    );
}

#[test]
fn task_run_shows_what_the_task_publishes() {
    let out = baton(&[
        "task",
        "run",
        "mqtt-publish",
        "--simulate",
        "--config",
        "{connection: plant, topic: plant/line1/oven/status}",
        "--input",
        "{temp: 181}",
        "--grants",
        "{mqtt: [{connection: plant, publish: [\"plant/#\"]}]}",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"[mqtt plant] plant/line1/oven/status: {"temp":181}"#),
        "{stderr}"
    );
}

#[test]
fn task_run_reports_a_denial_and_fails() {
    let out = baton(&[
        "task",
        "run",
        "modbus-write",
        "--simulate",
        "--json",
        "--config",
        "{device: oven-1, kind: coil, address: 4, values: [true]}",
        "--grants",
        "{plc: [{device: oven-1, write: [\"coil:3\"]}]}",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["output"], serde_json::Value::Null);
    assert_eq!(doc["error"]["retryable"], serde_json::json!(false));
    assert!(
        doc["denials"][0]
            .as_str()
            .unwrap()
            .contains("write of coil:4 is not granted"),
        "{doc}"
    );
}

#[test]
fn task_run_takes_a_wasm_file_and_config_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("transform.wasm");
    std::fs::write(&wasm, baton_plugins_wasm("transform")).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "range: { value: /t, min: 150, max: 200 }\n").unwrap();
    let out = baton(&[
        "task",
        "run",
        wasm.to_str().unwrap(),
        "--config",
        &format!("@{}", config.display()),
        "--input",
        "{\"t\": 172}",
    ]);
    assert!(out.status.success());
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["in_range"], serde_json::json!(true));
}

#[test]
fn inspect_rejects_a_bad_file_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let out = baton(&["plugin", "inspect", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("core WebAssembly module, not a component")
    );
}

#[test]
fn inspect_shows_imports_and_schema() {
    let out = baton(&["plugin", "inspect", "mqtt-publish"]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["name"], serde_json::json!("mqtt-publish"));
    assert!(
        doc["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i.as_str().unwrap().starts_with("baton:plugin/mqtt@0.1"))
    );
    assert_eq!(
        doc["config_schema"]["required"],
        serde_json::json!(["connection", "topic"])
    );
}

#[test]
fn unknown_plugin_names_the_built_in_ones() {
    let out = baton(&["task", "run", "modbus-reed"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("built-in: modbus-read, modbus-write"));
}

fn baton_plugins_wasm(name: &str) -> &'static [u8] {
    baton_plugins::find(name).unwrap().wasm
}

const LINE1: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/workflows/line1-startup.yaml"
);

#[test]
fn workflow_run_heats_the_oven_gets_approval_and_announces() {
    let out = baton(&["workflow", "run", LINE1, "--simulate", "--approve"]);
    assert!(out.status.success());
    let output: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(output["announce"]["topic"], "plant/line1/oven/status");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [
        "read_temp: attempt succeeded",
        "heat: succeeded",
        "approve: approved",
        "[mqtt plant] plant/line1/oven/status: {\"heating\":true,\"temp\":20}",
        "run succeeded",
    ] {
        assert!(stderr.contains(line), "missing `{line}`");
    }
}

#[test]
fn workflow_run_refuses_an_invalid_workflow_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "name: bad\nnodes:\n  a: { plugin: modbus-read@7 }\n  b: { needs: [a, ghost], plugin: transform@1, when: 'nodes.c.output' }\n",
    )
    .unwrap();
    let out = baton(&["workflow", "run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in ["node `a`, plugin", "node `b`, needs[1]", "node `b`, when"] {
        assert!(stderr.contains(expected), "missing `{expected}`");
    }
}

#[test]
fn workflow_apply_names_a_syntax_error_and_its_place_before_calling_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "name: oven\nnodes:\n  a: { plugin: [\n").unwrap();
    let nameless = dir.path().join("nameless.yaml");
    std::fs::write(&nameless, "nodes: {}\n").unwrap();
    // Nothing listens on port 9: reaching the server would fail differently.
    let server = "--server=http://127.0.0.1:9";
    let out = baton(&["workflow", "apply", broken.to_str().unwrap(), server]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.yaml is not a workflow"), "{stderr}");
    assert!(stderr.contains("line 4"), "{stderr}");

    let out = baton(&["workflow", "validate", nameless.to_str().unwrap(), server]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing field `name`"), "{stderr}");
}

#[test]
fn workflow_commands_refuse_an_alias_bomb_without_expanding_it() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.yaml");
    let list = vec!["1"; 20_000].join(", ");
    let refs = vec!["*x"; 20_000].join(", ");
    std::fs::write(
        &bomb,
        format!("name: bomb\nnodes:\n  a:\n    plugin: transform@1\n    config:\n      x: &x [{list}]\n      y: [{refs}]\n"),
    )
    .unwrap();
    let file = bomb.to_str().unwrap();
    for args in [
        vec!["workflow", "validate", file, "--server=http://127.0.0.1:9"],
        vec!["workflow", "run", file],
    ] {
        let out = baton(&args);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("max_values"), "{args:?}: {stderr}");
    }
}

/// One HTTP/1.1 request on a fresh connection; the status and body.
fn http(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: baton\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn serve_creates_an_admin_token_once_and_answers_with_it() {
    use std::io::BufRead;
    let data = tempfile::tempdir().unwrap();
    let start = |given: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env_remove("BATON_CONFIG")
            .env_remove("BATON_ADMIN_TOKEN")
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .stderr(std::process::Stdio::piped());
        if let Some(given) = given {
            command.env("BATON_ADMIN_TOKEN", given);
        }
        let mut child = command.spawn().unwrap();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let (mut token, mut addr, mut said) = (None, None, String::new());
        for line in stderr.lines() {
            let line = line.unwrap();
            said.push_str(&line);
            said.push('\n');
            if let Some(t) = line.trim().strip_prefix("baton_") {
                token = Some(format!("baton_{t}"));
            }
            if let Some(a) = line.strip_prefix("baton listening on http://") {
                addr = Some(a.to_string());
                break;
            }
        }
        (
            child,
            token,
            addr.expect("the server says where it listens"),
            said,
        )
    };
    let (mut child, token, addr, _) = start(None);
    let token = token.expect("a first start prints the admin token");
    assert_eq!(http(&addr, "GET", "/healthz", None).0, 200);
    assert_eq!(http(&addr, "GET", "/api/v1/plugins", None).0, 401);
    let (status, body) = http(&addr, "GET", "/api/v1/plugins", Some(&token));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("modbus-read"),
        "the built-in plugins are installed: {body}"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // A second start on the same data keeps the token and prints none.
    let (mut child, again, addr, _) = start(None);
    assert!(again.is_none());
    assert_eq!(http(&addr, "GET", "/api/v1/plugins", Some(&token)).0, 200);
    child.kill().unwrap();
    child.wait().unwrap();

    // BATON_ADMIN_TOKEN only makes the first token: later, it is said to be
    // ignored rather than silently not working.
    let (mut child, _, addr, said) = start(Some("baton_latecomer"));
    assert!(
        said.contains("BATON_ADMIN_TOKEN is not installed"),
        "{said}"
    );
    let (status, _) = http(&addr, "GET", "/api/v1/plugins", Some("baton_latecomer"));
    assert_eq!(status, 401);
    assert_eq!(http(&addr, "GET", "/api/v1/plugins", Some(&token)).0, 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

//! `[retention]` in a real `baton serve`: the settings show in `GET /status`
//! and `baton status`, the sweep runs at its interval and counts in
//! `/metrics`, and a value out of bounds stops the server before it starts,
//! naming the key.

use std::process::{Command, Stdio};

use serde_json::json;

use crate::client::{ADMIN, Server, baton};

/// A `/metrics` sample's value.
fn sample(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no `{name}` in\n{metrics}"))
}

fn metrics(server: &Server) -> String {
    let (status, text) = server.call("GET", "/metrics", Some(ADMIN), b"");
    assert_eq!(status, 200, "{text}");
    text.as_str().unwrap().to_string()
}

#[test]
fn the_sweep_runs_at_its_interval_and_reports_what_it_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("baton.toml");
    std::fs::write(
        &config,
        "[retention]\nruns = \"90d\"\naudit = \"400d\"\nbatch = 50\ninterval = \"100ms\"\n",
    )
    .unwrap();
    let server = Server::start(&dir.path().join("data"), &config);

    let status = server.get("/api/v1/status");
    let retention = &status["retention"];
    assert_eq!(retention["enabled"], true, "{status}");
    assert_eq!(retention["runs_ms"], json!(90u64 * 24 * 3600 * 1000));
    assert_eq!(retention["audit_ms"], json!(400u64 * 24 * 3600 * 1000));
    assert_eq!(retention["batch"], 50);
    assert_eq!(retention["interval_ms"], 100);
    assert_eq!(
        retention["deleted"],
        json!({"runs": 0, "node_executions": 0, "events": 0, "audit": 0})
    );

    // Sweeps come every 100 ms, find nothing that old, and fail nowhere.
    server.wait("three sweeps", || {
        let r = server.get("/api/v1/status")["retention"].clone();
        (r["sweeps"].as_u64().unwrap_or(0) >= 3).then_some(())
    });
    let r = server.get("/api/v1/status")["retention"].clone();
    assert_eq!(r["last_error"], json!(null), "{r}");
    assert!(
        r["last_sweep_at"].as_i64().unwrap() > 1_700_000_000_000,
        "{r}"
    );
    let text = metrics(&server);
    assert!(sample(&text, "baton_retention_sweeps_total") >= 3, "{text}");
    for table in ["runs", "node_executions", "events", "audit"] {
        let name = format!("baton_retention_deleted_total{{table=\"{table}\"}}");
        assert_eq!(sample(&text, &name), 0, "{text}");
    }
    assert!(text.contains("# TYPE baton_retention_deleted_total counter"));

    let (code, out) = baton(&server, &["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "retention   finished runs kept 90d, audit events kept 400d; deleted 0 runs \
             (0 node executions, 0 events) and 0 audit events"
        ),
        "{out}"
    );
}

#[test]
fn by_default_nothing_is_swept() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("baton.toml");
    std::fs::write(&config, "").unwrap();
    let server = Server::start(&dir.path().join("data"), &config);
    let r = server.get("/api/v1/status")["retention"].clone();
    assert_eq!(r["enabled"], false, "{r}");
    assert_eq!(
        (r["runs_ms"].clone(), r["audit_ms"].clone()),
        (json!(null), json!(null))
    );
    assert_eq!(r["batch"], 500);
    assert_eq!(r["interval_ms"], 60_000);
    let (_, out) = baton(&server, &["status"]);
    assert!(
        out.contains("finished runs kept forever, audit events kept forever"),
        "{out}"
    );
}

#[test]
fn a_value_out_of_bounds_stops_the_server_naming_the_key() {
    for (setting, key) in [
        ("runs = \"90s\"", "retention.runs"),
        ("batch = 0", "retention.batch"),
        ("interval = \"0s\"", "retention.interval"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("baton.toml");
        std::fs::write(&config, format!("[retention]\n{setting}\n")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--config-file")
            .arg(&config)
            .env_remove("BATON_DATABASE_URL")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{setting}: {stderr}");
        assert!(stderr.contains(key), "{setting}: {stderr}");
        assert!(!stderr.contains("baton listening"), "{setting}: {stderr}");
    }
}

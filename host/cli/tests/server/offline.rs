//! A PLC that is offline: the run fails with a clear error after its
//! retries, and the failures show in the metrics.

use serde_json::json;

use crate::client::{ADMIN, Server, offline_plc_config};

#[test]
fn an_offline_plc_fails_the_run_clearly_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = offline_plc_config(dir.path());
    let server = Server::start(&dir.path().join("data"), &config);
    server.apply(
        "read-offline",
        r#"
name: read-offline
nodes:
  read:
    plugin: modbus-read@1
    config: { device: oven-1, kind: holding, address: 10 }
    grants: { plc: [{ device: oven-1, read: ["holding:10"] }] }
    retry: { max_attempts: 2, initial_interval: 10ms }
"#,
    );
    let run = server.start_run("read-offline", json!({}));
    let finished = server.wait_finished(&run);
    assert_eq!(finished["status"], "failed", "{finished}");
    let read = &finished["nodes"][0];
    assert_eq!(read["attempts"].as_array().unwrap().len(), 2, "{read}");
    let error = read["error"].to_string();
    assert!(
        error.contains("oven-1"),
        "the error names the device: {error}"
    );

    let (status, metrics) = server.call("GET", "/metrics", Some(ADMIN), b"");
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains(
            "baton_connector_errors_total{connector=\"plc\",name=\"oven-1\",kind=\"unavailable\"} 2"
        ),
        "{metrics}"
    );
}

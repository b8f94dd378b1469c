//! No ambient authority: no host filesystem, environment or sockets; an
//! optional scratch directory that disappears after the attempt.

use serde_json::json;

use baton_plugins::test_programs;

use crate::support::{Env, output};

#[tokio::test]
async fn no_filesystem_environment_or_sockets() {
    let env = Env::new().await;
    let probe = env.program(test_programs::PROBE).await;
    let out = env
        .run(
            &probe,
            json!(null),
            json!({"calls": [
                {"op": "read-file", "path": "/etc/passwd"},
                {"op": "env"},
                {"op": "tcp-connect", "addr": env.plc.addr().to_string()},
                {"op": "write-file", "path": "/scratch/x", "contents": "no"},
            ]}),
            json!({}),
        )
        .await;
    let out = output(&out);
    assert_eq!(out[0]["err"], json!("io"), "{out}");
    assert_eq!(
        out[1],
        json!({"ok": []}),
        "the guest saw environment variables"
    );
    assert_eq!(out[2]["err"], json!("io"), "{out}");
    assert_eq!(out[3]["err"], json!("io"), "scratch without a grant: {out}");
}

#[tokio::test]
async fn scratch_directory_is_private_and_removed() {
    let parent = tempfile::tempdir().unwrap();
    let config = baton_runtime::RuntimeConfig {
        scratch_dir: Some(parent.path().to_path_buf()),
        ..Default::default()
    };
    let env = Env::with_config(config).await;
    let probe = env.program(test_programs::PROBE).await;
    let out = env
        .run(
            &probe,
            json!(null),
            json!({"calls": [
                {"op": "write-file", "path": "/scratch/batch.csv", "contents": "t,172"},
                {"op": "read-file", "path": "/scratch/../etc/passwd"},
            ]}),
            json!({"scratch": true}),
        )
        .await;
    let out = output(&out);
    assert_eq!(out[0], json!({"ok": "t,172"}));
    assert_eq!(
        out[1]["err"],
        json!("io"),
        "escaped the scratch directory: {out}"
    );
    let left: Vec<_> = std::fs::read_dir(parent.path()).unwrap().collect();
    assert!(left.is_empty(), "scratch directory not removed: {left:?}");
}

#[tokio::test]
async fn context_reaches_the_guest() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let out = env
        .run(&hostile, json!({"mode": "context"}), json!(null), json!({}))
        .await;
    assert_eq!(
        output(&out),
        json!({"run_id": "run-1", "node_id": "node-1", "attempt": 1, "idempotency_key": "run-1/node-1"})
    );
}

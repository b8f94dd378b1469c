//! Everything a guest can make the host keep is bounded per attempt: log
//! lines and their bytes, denials, scratch space, and the pool slots one
//! component may take. Each bound, when hit, leaves one record that says so.

use std::time::Duration;

use baton_plugins::test_programs;
use baton_runtime::{Failure, Limits, RuntimeConfig};
use serde_json::json;

use crate::support::{Env, output};

fn limits() -> Limits {
    Limits {
        cpu: Duration::from_secs(5),
        timeout: Duration::from_secs(20),
        ..Limits::default()
    }
}

#[tokio::test]
async fn log_bytes_are_capped_and_the_rest_counted_in_one_line() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let out = env
        .run_with(
            &hostile,
            json!({"mode": "log-bytes", "size": 100, "width": 1000}),
            json!(null),
            json!({}),
            Limits {
                log_bytes: 10_000,
                ..limits()
            },
        )
        .await;
    assert_eq!(output(&out), json!(100));
    // Ten lines of 1,000 bytes fit; the other 90 are counted.
    assert_eq!(out.dropped_logs, 90);
    assert_eq!(out.logs.len(), 11);
    let last = &out.logs[10].message;
    assert!(
        last.contains("90 more log lines suppressed") && last.contains("10000 bytes"),
        "{last}"
    );
}

#[tokio::test]
async fn denials_are_capped_with_one_suppressed_record() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let out = env
        .run_with(
            &hostile,
            json!({"mode": "deny-flood", "size": 5000}),
            json!(null),
            json!({}),
            Limits {
                denials: 20,
                ..limits()
            },
        )
        .await;
    // Every call was refused (the guest saw each denial) ...
    assert_eq!(output(&out), json!(5000));
    // ... but the host kept twenty and one line for the rest.
    assert_eq!(out.denials.len(), 21, "{:?}", &out.denials[..3]);
    assert!(out.denials[0].contains("oven-1"), "{}", out.denials[0]);
    assert_eq!(
        out.denials[20],
        "4980 more denials suppressed (limit: 20 per attempt)"
    );
    let denied_lines = out
        .logs
        .iter()
        .filter(|l| l.message.starts_with("denied:"))
        .count();
    assert_eq!(denied_lines, 20);
}

fn scratch_env_config(parent: &std::path::Path) -> RuntimeConfig {
    RuntimeConfig {
        scratch_dir: Some(parent.to_path_buf()),
        ..Default::default()
    }
}

#[tokio::test]
async fn scratch_writes_past_the_quota_fail_the_attempt() {
    let parent = tempfile::tempdir().unwrap();
    let env = Env::with_config(scratch_env_config(parent.path())).await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let quota = 1 << 20;
    let scratch =
        |size: usize, width: usize| json!({"mode": "scratch-fill", "size": size, "width": width});
    let with_quota = Limits {
        scratch_bytes: quota,
        ..limits()
    };
    // Well within the quota: fine.
    let out = env
        .run_with(
            &hostile,
            scratch(100_000, 10_000),
            json!(null),
            json!({"scratch": true}),
            with_quota,
        )
        .await;
    assert_eq!(output(&out), json!(100_000));
    // Big files, and many empty-ish ones: both pass the quota and fail.
    for (size, width) in [(64 << 20, 1 << 20), (10_000, 1)] {
        let out = env
            .run_with(
                &hostile,
                scratch(size, width),
                json!(null),
                json!({"scratch": true}),
                with_quota,
            )
            .await;
        match out.result {
            Err(Failure::ScratchLimit { limit, used }) => {
                assert_eq!(limit, quota);
                assert!(used > quota, "{used}");
            }
            other => panic!("{size} bytes in {width}-byte files: {other:?}"),
        }
    }
    let left: Vec<_> = std::fs::read_dir(parent.path()).unwrap().collect();
    assert!(left.is_empty(), "scratch directories not removed: {left:?}");
}

#[tokio::test]
async fn a_component_over_the_per_component_pool_caps_is_refused_naming_them() {
    let env = Env::with_config(RuntimeConfig {
        max_core_instances_per_component: 1,
        ..Default::default()
    })
    .await;
    let bytes = std::fs::read(test_programs::HOSTILE).unwrap();
    let e = env.runtime.load(&bytes).await.unwrap_err().to_string();
    assert!(
        e.contains("core module instances") && e.contains("max_core_instances_per_component"),
        "{e}"
    );
}

//! Misbehaving guests hit their bounds with a specific reason, and the host stays healthy.

use std::time::{Duration, Instant};

use baton_plugins::test_programs;
use baton_runtime::{Failure, Limits};
use serde_json::json;

use crate::support::{Env, output};

fn limits() -> Limits {
    Limits {
        cpu: Duration::from_millis(300),
        timeout: Duration::from_secs(20),
        memory: 32 << 20,
        output: 64 * 1024,
        log_lines: 50,
        ..Limits::default()
    }
}

#[tokio::test]
async fn infinite_loop_is_stopped_by_the_cpu_bound() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let started = Instant::now();
    let out = env
        .run_with(
            &hostile,
            json!({"mode": "spin"}),
            json!(null),
            json!({}),
            limits(),
        )
        .await;
    assert_eq!(
        out.result.unwrap_err(),
        Failure::CpuLimit(Duration::from_millis(300))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn infinite_loop_is_stopped_by_the_wall_clock_too() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let limits = Limits {
        cpu: Duration::from_secs(60),
        timeout: Duration::from_millis(300),
        ..limits()
    };
    let out = env
        .run_with(
            &hostile,
            json!({"mode": "spin"}),
            json!(null),
            json!({}),
            limits,
        )
        .await;
    let failure = out.result.unwrap_err();
    assert_eq!(failure, Failure::Timeout(Duration::from_millis(300)));
    assert!(failure.is_retryable());
}

#[tokio::test(flavor = "current_thread")]
async fn a_spinning_guest_does_not_starve_others() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let noop = env.program(test_programs::NOOP).await;
    let spin_limits = Limits {
        cpu: Duration::from_secs(2),
        ..limits()
    };
    let spinner = env.run_with(
        &hostile,
        json!({"mode": "spin"}),
        json!(null),
        json!({}),
        spin_limits,
    );
    let quick = async {
        // Let the spinner start first, on this single-threaded executor.
        tokio::task::yield_now().await;
        let started = Instant::now();
        let out = env
            .run(&noop, json!(null), json!({"n": 1}), json!({}))
            .await;
        (out, started.elapsed())
    };
    let (spun, (quick, waited)) = tokio::join!(spinner, quick);
    assert!(matches!(spun.result, Err(Failure::CpuLimit(_))));
    assert_eq!(output(&quick), json!({"n": 1}));
    assert!(
        waited < Duration::from_millis(1500),
        "the quick task waited {waited:?} behind the spinner"
    );
}

#[tokio::test]
async fn memory_bomb_hits_the_memory_bound() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let out = env
        .run_with(
            &hostile,
            json!({"mode": "memory-bomb"}),
            json!(null),
            json!({}),
            limits(),
        )
        .await;
    match out.result {
        Err(Failure::MemoryLimit { limit, requested }) => {
            assert_eq!(limit, 32 << 20);
            assert!(requested > limit);
        }
        other => panic!("expected a memory limit failure, got {other:?}"),
    }
}

#[tokio::test]
async fn trap_and_panic_fail_the_attempt_with_their_message() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let out = env
        .run_with(
            &hostile,
            json!({"mode": "trap"}),
            json!(null),
            json!({}),
            limits(),
        )
        .await;
    match out.result {
        Err(Failure::Trap(m)) => assert!(m.contains("unreachable"), "{m}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    let out = env
        .run_with(
            &hostile,
            json!({"mode": "panic"}),
            json!("batch 17"),
            json!({}),
            limits(),
        )
        .await;
    match &out.result {
        Err(f @ Failure::Trap(m)) => {
            assert!(
                m.contains("hostile task panicked on purpose: \"batch 17\""),
                "{m}"
            );
            assert!(!f.is_retryable());
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[tokio::test]
async fn task_errors_keep_their_kind() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let out = env
        .run(
            &hostile,
            json!({"mode": "retryable"}),
            json!("PLC busy"),
            json!({}),
        )
        .await;
    assert_eq!(
        out.result.unwrap_err(),
        Failure::Retryable("\"PLC busy\"".into())
    );
    let out = env
        .run(
            &hostile,
            json!({"mode": "fatal"}),
            json!("bad recipe"),
            json!({}),
        )
        .await;
    assert_eq!(
        out.result.unwrap_err(),
        Failure::Fatal("\"bad recipe\"".into())
    );
}

#[tokio::test]
async fn oversized_output_is_refused() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let out = env
        .run_with(
            &hostile,
            json!({"mode": "big-output", "size": 100_000}),
            json!(null),
            json!({}),
            limits(),
        )
        .await;
    assert_eq!(
        out.result.unwrap_err(),
        Failure::OutputTooLarge {
            size: 100_002,
            limit: 64 * 1024
        }
    );
}

#[tokio::test]
async fn log_flood_is_capped() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let out = env
        .run_with(
            &hostile,
            json!({"mode": "log-flood", "size": 500}),
            json!(null),
            json!({}),
            limits(),
        )
        .await;
    assert_eq!(output(&out), json!(500));
    // Fifty lines kept, then one that counts the rest.
    assert_eq!(out.logs.len(), 51);
    assert_eq!(out.dropped_logs, 450);
    assert!(
        out.logs[50]
            .message
            .starts_with("450 more log lines suppressed")
    );
    assert_eq!(out.logs[0].message, "line 0");
}

#[tokio::test]
async fn host_stays_healthy_after_hostile_guests() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    for mode in ["spin", "memory-bomb", "trap", "panic"] {
        let out = env
            .run_with(
                &hostile,
                json!({"mode": mode}),
                json!(null),
                json!({}),
                limits(),
            )
            .await;
        assert!(out.result.is_err(), "{mode} did not fail");
    }
    // Fresh instances each time: the next task runs normally, with nothing left over.
    let reader = env.first_party("modbus-read").await;
    let out = env
        .run(
            &reader,
            json!({"device": "oven-1", "kind": "holding", "address": 10}),
            json!(null),
            json!({"plc": [{"device": "oven-1", "read": ["holding:10"]}]}),
        )
        .await;
    assert_eq!(output(&out), json!({"values": [20]}));
    let out = env
        .run(
            &hostile,
            json!({"mode": "echo"}),
            json!({"fine": true}),
            json!({}),
        )
        .await;
    assert_eq!(output(&out), json!({"fine": true}));
}

#[tokio::test]
async fn a_memory_limit_above_the_host_maximum_is_capped_with_a_warning() {
    let config = baton_runtime::RuntimeConfig {
        max_memory: 64 << 20,
        ..Default::default()
    };
    let env = Env::with_config(config).await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let limits = Limits {
        memory: 1 << 30,
        ..limits()
    };
    let out = env
        .run_with(
            &hostile,
            json!({"mode": "memory-bomb"}),
            json!(null),
            json!({}),
            limits,
        )
        .await;
    assert!(
        matches!(out.result, Err(Failure::MemoryLimit { limit, .. }) if limit == 64 << 20),
        "{:?}",
        out.result
    );
    assert!(
        out.logs
            .iter()
            .any(|l| l.message.contains("above the host's maximum")),
        "{:?}",
        out.logs
    );
}

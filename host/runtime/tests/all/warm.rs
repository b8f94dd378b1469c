//! Instances of pure tasks made ready ahead of their attempts: each still
//! serves one attempt only, and none are kept where they are not wanted.

use std::sync::Arc;
use std::time::Duration;

use baton_plugins::test_programs;
use baton_runtime::{Limits, RuntimeConfig};
use serde_json::{Value, json};

use crate::support::{Env, output};

/// Wait until `runtime` holds `n` ready instances; false after 10 s.
async fn ready(env: &Env, n: usize) -> bool {
    for _ in 0..1000 {
        if env.runtime.warm_instances() == n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn calls(env: &Env, plugin: &baton_runtime::Plugin, grants: Value) -> Value {
    output(
        &env.run(plugin, json!({"mode": "calls"}), json!(null), grants)
            .await,
    )
}

#[tokio::test]
async fn a_ready_instance_serves_one_attempt_and_is_replaced() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    assert_eq!(env.runtime.warm_instances(), 0, "none before any attempt");
    // Each attempt finds a fresh instance: a counter in the guest's memory
    // starts again at 1, whether the instance was made on the attempt's path
    // or ahead of it.
    for i in 0..6 {
        assert_eq!(
            calls(&env, &hostile, json!({})).await,
            json!(1),
            "attempt {i}"
        );
        assert!(ready(&env, 1).await, "a ready instance after attempt {i}");
    }
    // The ready instance is taken by the next attempt, not shared with it.
    let before = env.runtime.warm_instances();
    let attempt = env
        .run(&hostile, json!({"mode": "calls"}), json!(null), json!({}))
        .await;
    assert_eq!(output(&attempt), json!(1));
    assert_eq!(before, 1);
}

#[tokio::test]
async fn tasks_with_grants_or_scratch_or_other_limits_take_no_ready_instance() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    assert_eq!(calls(&env, &hostile, json!({})).await, json!(1));
    assert!(ready(&env, 1).await);
    // A grant or a scratch directory: built on the attempt's path, and no
    // instance is made ready for it.
    let plc = json!({"plc": [{"device": "oven-1", "read": ["holding:0-9"]}]});
    assert_eq!(calls(&env, &hostile, plc).await, json!(1));
    assert_eq!(
        calls(&env, &hostile, json!({"scratch": true})).await,
        json!(1)
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        env.runtime.warm_instances(),
        1,
        "only the pure kind is kept"
    );
    // Other limits are another kind: the ready instance is not used for it.
    let tight = Limits {
        cpu: Duration::from_millis(500),
        ..Limits::default()
    };
    let out = env
        .run_with(
            &hostile,
            json!({"mode": "calls"}),
            json!(null),
            json!({}),
            tight,
        )
        .await;
    assert_eq!(output(&out), json!(1));
    assert!(ready(&env, 2).await, "one ready per kind");
}

#[tokio::test]
async fn the_pool_keeps_at_most_its_capacity_and_zero_turns_it_off() {
    let env = Env::with_config(RuntimeConfig {
        warm_instances: 0,
        ..RuntimeConfig::default()
    })
    .await;
    let hostile = env.program(test_programs::HOSTILE).await;
    for _ in 0..3 {
        assert_eq!(calls(&env, &hostile, json!({})).await, json!(1));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        env.runtime.warm_instances(),
        0,
        "warm_instances = 0 keeps none"
    );

    let env = Env::with_config(RuntimeConfig {
        warm_instances: 1,
        ..RuntimeConfig::default()
    })
    .await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let noop = env.program(test_programs::NOOP).await;
    assert_eq!(calls(&env, &hostile, json!({})).await, json!(1));
    assert!(ready(&env, 1).await);
    let out = env.run(&noop, json!({}), json!({"x": 1}), json!({})).await;
    assert_eq!(output(&out), json!({"x": 1}));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(env.runtime.warm_instances(), 1, "capacity 1 holds one");
}

#[tokio::test]
async fn a_new_redactor_drops_the_ready_instances_built_without_it() {
    let env = Env::new().await;
    let hostile = env.program(test_programs::HOSTILE).await;
    assert_eq!(calls(&env, &hostile, json!({})).await, json!(1));
    assert!(ready(&env, 1).await);
    env.runtime.set_redactor(Arc::new(|text: &mut String| {
        *text = text.replace("hunter2", "[secret]");
    }));
    assert_eq!(env.runtime.warm_instances(), 0);
    // The next attempt's log lines are redacted, and so are those of the
    // instance made ready after it.
    for _ in 0..2 {
        let out = env
            .run(
                &hostile,
                json!({"mode": "log-config", "password": "hunter2"}),
                json!(null),
                json!({}),
            )
            .await;
        let logs = format!("{:?}", out.logs);
        assert!(!logs.contains("hunter2"), "{logs}");
        assert!(logs.contains("[secret]"), "{logs}");
        assert!(ready(&env, 1).await);
    }
}

#[tokio::test]
async fn ready_instances_never_take_the_slots_attempts_need() {
    // One pooled slot: a ready instance would hold it, and an attempt of
    // another kind could not start. None is made.
    let env = Env::with_config(RuntimeConfig {
        max_instances: 1,
        ..RuntimeConfig::default()
    })
    .await;
    let hostile = env.program(test_programs::HOSTILE).await;
    let noop = env.program(test_programs::NOOP).await;
    for _ in 0..3 {
        assert_eq!(calls(&env, &hostile, json!({})).await, json!(1));
        let out = env.run(&noop, json!({}), json!({"x": 1}), json!({})).await;
        assert_eq!(output(&out), json!({"x": 1}));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(env.runtime.warm_instances(), 0);
}

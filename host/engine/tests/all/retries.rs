//! Retries, timeouts and cancellation.

use baton_engine::Event;
use baton_store::RunStatus;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_retryable_failure_is_retried_with_the_policys_backoff_until_it_succeeds() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: flaky
nodes:
  flaky:
    plugin: scripted@1
    config: { fail_attempts: 2 }
    retry: { max_attempts: 5, initial_interval: 200ms, backoff: 2.0, max_interval: 10s }
"#,
    )
    .await;
    let run = h.run("flaky", json!({})).await;
    assert_status(&run, RunStatus::Succeeded);
    assert_eq!(run.output.as_ref().unwrap()["flaky"]["attempt"], json!(3));

    let ev = h.events(&run.id).await;
    let delays: Vec<u64> = ev
        .iter()
        .filter_map(|e| match e {
            Event::AttemptFailed {
                retry_in_ms, kind, ..
            } => {
                assert_eq!(kind, "retryable");
                *retry_in_ms
            }
            _ => None,
        })
        .collect();
    assert_eq!(delays.len(), 2, "{ev:#?}");
    // 200 ms then 400 ms, each shortened by at most a tenth of jitter.
    assert!((180..=200).contains(&delays[0]), "{delays:?}");
    assert!((360..=400).contains(&delays[1]), "{delays:?}");

    let x = h.executions(&run.id).await;
    let a = attempts(&x, "flaky");
    assert_eq!(
        a.iter().map(|e| e.status.as_str()).collect::<Vec<_>>(),
        ["failed", "failed", "succeeded"]
    );
    for (n, pair) in a.windows(2).enumerate() {
        let gap = pair[1].started_at - pair[0].finished_at.unwrap();
        assert!(
            gap >= delays[n] as i64,
            "attempt {} started {gap} ms after the failure, before its {} ms delay",
            n + 2,
            delays[n]
        );
        assert_eq!(
            pair[0].retry_at,
            Some(pair[0].finished_at.unwrap() + delays[n] as i64)
        );
    }
}

#[tokio::test]
async fn a_fatal_error_is_never_retried() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: fatal
nodes:
  broken:
    plugin: scripted@1
    config: { fail_attempts: 9, fail: fatal }
    retry: { max_attempts: 5, initial_interval: 10ms }
  after: { needs: [broken], plugin: scripted@1 }
"#,
    )
    .await;
    let run = h.run("fatal", json!({})).await;
    assert_status(&run, RunStatus::Failed);
    let x = h.executions(&run.id).await;
    let a = attempts(&x, "broken");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].error_kind.as_deref(), Some("fatal"));
    assert!(attempts(&x, "after").is_empty());
    let error = run.error.unwrap();
    assert!(
        error.contains("node `broken` failed") && error.contains("scripted failure on attempt 1"),
        "{error}"
    );
}

#[tokio::test]
async fn retries_stop_at_max_attempts_and_excluded_kinds_are_not_retried() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: exhausted
nodes:
  flaky:
    plugin: scripted@1
    config: { fail_attempts: 9 }
    retry: { max_attempts: 3, initial_interval: 10ms }
"#,
    )
    .await;
    let run = h.run("exhausted", json!({})).await;
    assert_status(&run, RunStatus::Failed);
    assert_eq!(attempts(&h.executions(&run.id).await, "flaky").len(), 3);

    h.apply(
        r#"
name: slow
nodes:
  slow:
    plugin: scripted@1
    config: { sleep_ms: 5000 }
    timeout: 200ms
    retry: { max_attempts: 3, initial_interval: 10ms, non_retryable: [timeout] }
"#,
    )
    .await;
    let run = h.run("slow", json!({})).await;
    assert_status(&run, RunStatus::Failed);
    let x = h.executions(&run.id).await;
    let a = attempts(&x, "slow");
    assert_eq!(
        a.len(),
        1,
        "a timeout listed as non-retryable is not retried"
    );
    assert_eq!(a[0].error_kind.as_deref(), Some("timeout"));
    let took = a[0].finished_at.unwrap() - a[0].started_at;
    assert!(
        took < 2000,
        "the 200 ms timeout was not enforced: {took} ms"
    );
}

#[tokio::test]
async fn cancelling_stops_running_attempts_and_ends_the_run_cancelled() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: long
nodes:
  long: { plugin: scripted@1, config: { sleep_ms: 20000 }, timeout: 60s }
  after: { needs: [long], plugin: scripted@1 }
"#,
    )
    .await;
    let id = h.start("long", json!({})).await;
    h.until_event(&id, |e| matches!(e, Event::AttemptStarted { .. }))
        .await;
    h.engine
        .cancel(&id, "operator-1", "line stopped")
        .await
        .unwrap();
    let run = h.finish(&id).await;
    assert_status(&run, RunStatus::Cancelled);
    assert_eq!(run.error.as_deref(), Some("line stopped"));
    let x = h.executions(&id).await;
    let long = attempts(&x, "long");
    assert_eq!(long[0].error_kind.as_deref(), Some("cancelled"));
    assert!(long[0].finished_at.unwrap() - long[0].started_at < 10_000);
    assert!(attempts(&x, "after").is_empty());
    // A finished run cannot be cancelled again.
    let again = h
        .engine
        .cancel(&id, "operator-1", "again")
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already cancelled"), "{again}");
}

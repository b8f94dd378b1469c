//! Recovery inside one process: an engine stops abruptly and a new one on the
//! same database resumes its runs. (The top-level suite does the same with a
//! real `kill -9` of a separate process.)

use std::time::Duration;

use baton_engine::Event;
use baton_store::RunStatus;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn timers_approvals_and_in_flight_attempts_survive_a_restart() {
    survives_restarts(Db::sqlite()).await;
}

#[tokio::test]
async fn the_same_on_postgres() {
    if let Some(db) = Db::postgres().await {
        survives_restarts(db).await;
    }
}

async fn survives_restarts(db: Db) {
    let h = Harness::on(db).await;
    h.apply(
        r#"
name: resumable
nodes:
  first: { plugin: scripted@1 }
  flaky:
    needs: [first]
    plugin: scripted@1
    config: { fail_attempts: 1 }
    retry: { max_attempts: 3, initial_interval: 1500ms }
  approve: { needs: [flaky], type: approval }
  slow: { needs: [approve], plugin: scripted@1, config: { sleep_ms: 1500 } }
  last: { needs: [slow], plugin: scripted@1 }
"#,
    )
    .await;
    let id = h.start("resumable", json!({})).await;
    // Stop while the retry timer is pending.
    h.until_event(&id, |e| matches!(e, Event::AttemptFailed { .. }))
        .await;
    h.engine.halt();

    let engine = h.restart().await;
    // The node has begun: it is waiting, or an attempt started.
    let begun = |node: &'static str| {
        move |e: &Event| {
            matches!(e, Event::NodeWaiting { node: n, .. } if n == node)
                || matches!(e, Event::AttemptStarted { node: n, .. } if n == node)
        }
    };
    until_event(engine.store(), &id, begun("approve")).await;
    engine
        .decide_approval(&id, "approve", true, "ana", None)
        .await
        .unwrap();
    until_event(engine.store(), &id, begun("slow")).await;
    // Stop again while `slow` is in flight.
    tokio::time::sleep(Duration::from_millis(300)).await;
    engine.halt();

    let engine = h.restart().await;
    let run = engine
        .wait_finished(&id, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_status(&run, RunStatus::Succeeded);

    let ev = events(engine.store(), &id).await;
    let started = |node: &str| {
        ev.iter()
            .filter(|e| matches!(e, Event::AttemptStarted { node: n, .. } if n == node))
            .count()
    };
    assert_eq!(started("first"), 1, "a completed node never runs again");
    assert_eq!(
        started("flaky"),
        2,
        "one failure, one retry after the restart"
    );
    assert_eq!(started("slow"), 2, "the in-flight attempt runs again");
    assert!(ev.iter().any(|e| matches!(e, Event::AttemptStarted { node, resumed: true, attempt: 1, .. } if node == "slow")));
    let out = run.output.unwrap();
    assert_eq!(out["last"]["attempt"], json!(1));
    let x = engine.store().executions(&id).await.unwrap();
    let slow = attempts(&x, "slow");
    assert_eq!(slow.len(), 1, "the replay reuses attempt 1's row");
    assert_eq!(
        slow[0].output.as_ref().unwrap()["key"],
        json!(format!("{id}/slow"))
    );
}

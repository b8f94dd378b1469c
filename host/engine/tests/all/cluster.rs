//! Two engines on one PostgreSQL database, as two nodes: a run owned by one
//! is steered through the other, a crashed node's runs are taken over
//! without repeating a committed PLC write, and the interlock holds for
//! both. The simulated PLC's write log is the ledger.

use std::time::Duration;

use baton_engine::{Error, Event};
use baton_store::RunStatus;
use serde_json::json;

use crate::support::*;

const GATED_WRITE: &str = r#"
name: gated-write
nodes:
  heat:
    plugin: modbus-write@1
    config: { device: oven-1, kind: holding, address: 40, values: [7] }
    grants: { plc: [{ device: oven-1, write: ["holding:40"] }] }
  approve: { needs: [heat], type: approval }
  done:
    needs: [approve]
    plugin: modbus-write@1
    config: { device: oven-1, kind: holding, address: 41, values: [9] }
    grants: { plc: [{ device: oven-1, write: ["holding:41"] }] }
"#;

fn waiting(node: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::NodeWaiting { node: n, .. } if n == node)
}

/// Node `a` (the harness) and node `b`, on one PostgreSQL database.
async fn two_nodes() -> Option<(Harness, baton_engine::Engine)> {
    let db = Db::postgres().await?;
    let a = Harness::configured(db, cluster_node("a")).await;
    a.apply(GATED_WRITE).await;
    let b = start_engine_with(&a.db.url, &a.plc.url(), cluster_node("b")).await;
    Some((a, b))
}

fn writes_to(h: &Harness, address: u16) -> usize {
    h.plc
        .writes()
        .iter()
        .filter(|w| w.address == address)
        .count()
}

#[tokio::test]
async fn a_run_owned_by_one_node_is_approved_and_cancelled_through_the_other() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let first = a.start("gated-write", json!({})).await;
    let second = a.start("gated-write", json!({})).await;
    for id in [&first, &second] {
        a.until_event(id, waiting("approve")).await;
    }
    // `b` does not own them: its answers come from `a`.
    let wrong = b
        .decide_approval(&first, "heat", true, "ana", None)
        .await
        .unwrap_err();
    assert!(matches!(wrong, Error::Conflict(_)), "{wrong:?}");
    assert!(
        wrong.to_string().contains("not waiting for approval"),
        "{wrong}"
    );
    b.decide_approval(&first, "approve", true, "ana", Some("ok".into()))
        .await
        .unwrap();
    b.cancel(&second, "ben", "wrong recipe").await.unwrap();
    assert_status(&a.finish(&first).await, RunStatus::Succeeded);
    assert_status(&a.finish(&second).await, RunStatus::Cancelled);
    // `b` waits for a run `a` runs.
    let seen = b
        .wait_finished(&first, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_status(&seen, RunStatus::Succeeded);
    let approved = a
        .engine
        .store()
        .all_events(&first)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "node_approved")
        .unwrap();
    assert_eq!(approved.actor.as_deref(), Some("ana"));
    assert_eq!(writes_to(&a, 41), 1, "only the approved run went on");
    let finished = b.cancel(&first, "ben", "late").await.unwrap_err();
    assert!(
        finished.to_string().contains("has already succeeded"),
        "{finished}"
    );
}

#[tokio::test]
async fn a_crashed_nodes_runs_finish_on_the_other_without_repeating_a_write() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(a.start("gated-write", json!({})).await);
    }
    for id in &ids {
        a.until_event(id, waiting("approve")).await;
    }
    assert_eq!(writes_to(&a, 40), 3);
    a.engine.halt(); // as a crash: no release, no more heartbeats
    let crashed = std::time::Instant::now();
    // Approved through `b`, which takes the runs over once `a` has been
    // silent for the lease, then hands them the approval.
    for id in &ids {
        b.decide_approval(id, "approve", true, "ana", None)
            .await
            .unwrap();
    }
    for id in &ids {
        let run = b
            .wait_finished(id, Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        assert_status(&run, RunStatus::Succeeded);
    }
    let took = crashed.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "taken over before the lease ran out: {took:?}"
    );
    assert_eq!(
        writes_to(&a, 40),
        3,
        "the committed first writes were not repeated"
    );
    assert_eq!(writes_to(&a, 41), 3);
    let owners: Vec<_> = b
        .store()
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.id, n.runs))
        .collect();
    assert!(owners.contains(&("a".to_string(), 0)), "{owners:?}");
}

#[tokio::test]
async fn the_interlock_engaged_through_one_node_holds_on_the_other() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    assert!(!b.interlock());
    a.engine.set_interlock(true, "ana").await.unwrap();
    // Denied on `b` by the time the engage returned.
    assert!(b.interlock(), "b still allows actuation");
    let refused = b
        .start_run("gated-write", json!({}), Default::default())
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::Interlock), "{refused:?}");

    b.set_interlock(false, "ben").await.unwrap();
    for _ in 0..50 {
        if !a.engine.interlock() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!a.engine.interlock(), "released through b, a writes again");
    let id = a.start("gated-write", json!({})).await;
    a.until_event(&id, waiting("approve")).await;
    assert_eq!(writes_to(&a, 40), 1);
}

//! Sub-workflows: a node that runs another workflow waits for its output;
//! the child's failure is the node's, so retries apply; a cancel reaches
//! the child.

use std::time::Duration;

use baton_engine::Event;
use baton_store::RunStatus;
use serde_json::json;

use crate::support::*;

/// Fails while coil 7 is off: what the test flips to let a retry succeed.
const CURE: &str = r#"
name: cure
nodes:
  check:
    plugin: modbus-read@1
    config: { device: oven-1, kind: coil, address: 7, count: 1 }
    grants: { plc: [{ device: oven-1, read: ["coil:7"] }] }
  refuse:
    needs: [check]
    when: "nodes.check.output.values[0] == false"
    plugin: scripted@1
    config: { fail_attempts: 9, fail: fatal }
  result:
    needs: [check, refuse]
    plugin: scripted@1
    input: { batch: "input.batch" }
    config: { tag: cured }
"#;

const LINE: &str = r#"
name: line
nodes:
  cure:
    type: workflow
    workflow: cure
    input: { batch: "input.batch" }
    retry: { max_attempts: 2, initial_interval: 1s }
  ship:
    needs: [cure]
    plugin: scripted@1
    input: "nodes.cure.output.result.input"
"#;

#[tokio::test]
async fn the_parent_waits_for_the_child_and_reads_its_output() {
    let h = Harness::new().await;
    h.apply(CURE).await;
    h.apply(LINE).await;
    h.plc.oven().memory().coils[7] = true;
    let run = h.run("line", json!({"batch": "B-1"})).await;
    assert_status(&run, RunStatus::Succeeded);
    assert_eq!(
        run.output.as_ref().unwrap()["ship"]["input"],
        json!({"batch": "B-1"}),
        "{:?}",
        run.output
    );
    let children = h.engine.store().child_runs(&run.id).await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].workflow, "cure");
    assert_eq!(children[0].status, RunStatus::Succeeded);
    assert_eq!(
        children[0].parent,
        Some((run.id.clone(), "cure".to_string())),
        "the child links back"
    );
}

#[tokio::test]
async fn a_child_failure_fails_the_node_and_its_retry_starts_a_new_child() {
    let h = Harness::new().await;
    h.apply(CURE).await;
    h.apply(LINE).await;
    let run = h.start("line", json!({"batch": "B-2"})).await;
    h.until_event(
        &run,
        |e| matches!(e, Event::AttemptFailed { node, .. } if node == "cure"),
    )
    .await;
    // The first child failed; the retry is due in a second.
    h.plc.oven().memory().coils[7] = true;
    let done = h.finish(&run).await;
    assert_status(&done, RunStatus::Succeeded);
    let children = h.engine.store().child_runs(&run).await.unwrap();
    let statuses: Vec<RunStatus> = children.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [RunStatus::Failed, RunStatus::Succeeded]);
    let failed = h
        .events(&run)
        .await
        .into_iter()
        .find_map(|e| match e {
            Event::AttemptFailed { node, error, .. } if node == "cure" => Some(error),
            _ => None,
        })
        .unwrap();
    assert!(failed.contains(&children[0].id), "{failed}");
}

#[tokio::test]
async fn cancelling_the_parent_cancels_the_child() {
    let h = Harness::new().await;
    h.apply("name: soak\nnodes:\n  wait:\n    type: approval\n")
        .await;
    h.apply(
        "name: parent\nnodes:\n  soak:\n    type: workflow\n    workflow: soak\n    version: 1\n",
    )
    .await;
    let run = h.start("parent", json!({})).await;
    let child = loop {
        let children = h.engine.store().child_runs(&run).await.unwrap();
        if let Some(c) = children.first() {
            break c.id.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    h.until_event(&child, |e| matches!(e, Event::NodeWaiting { .. }))
        .await;
    h.engine.cancel(&run, "ana", "line stopped").await.unwrap();
    assert_status(&h.finish(&run).await, RunStatus::Cancelled);
    let child = h.finish(&child).await;
    assert_status(&child, RunStatus::Cancelled);
    assert!(
        child.error.unwrap_or_default().contains("line stopped"),
        "the child says why"
    );
}

#[tokio::test]
async fn runs_may_start_one_another_at_most_eight_deep() {
    let h = Harness::new().await;
    h.apply("name: d9\nnodes:\n  leaf: { plugin: scripted@1 }\n")
        .await;
    for i in (0..9).rev() {
        h.apply(&format!(
            "name: d{i}\nnodes:\n  next: {{ type: workflow, workflow: d{} }}\n",
            i + 1
        ))
        .await;
    }
    let top = h.run("d0", json!({})).await;
    assert_status(&top, RunStatus::Failed);
    // Follow the children down: eight levels start, the ninth is refused.
    let mut depth = 0;
    let mut at = top.id.clone();
    let mut deepest = None;
    loop {
        let children = h.engine.store().child_runs(&at).await.unwrap();
        let Some(child) = children.first() else {
            break;
        };
        depth += 1;
        deepest = Some(child.clone());
        at = child.id.clone();
    }
    assert_eq!(depth, 8, "d1 to d8 started; d9 was refused");
    let deepest = deepest.unwrap();
    assert_eq!(deepest.workflow, "d8");
    assert!(
        deepest.error.unwrap_or_default().contains("at most 8"),
        "the refusal says why"
    );
}

#[tokio::test]
async fn a_workflow_node_must_name_an_applied_workflow_and_version() {
    let h = Harness::new().await;
    h.apply("name: soak\nnodes:\n  wait:\n    type: approval\n")
        .await;
    let problems = async |yaml: &str| match h.engine.check_workflow(yaml).await {
        Err(baton_engine::Error::Invalid(p)) => p.0,
        other => panic!("expected problems, got {other:?}"),
    };
    let missing = problems("name: p\nnodes:\n  a: { type: workflow, workflow: sook }\n").await;
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(
        (missing[0].node.as_deref(), missing[0].field.as_str()),
        (Some("a"), "workflow")
    );
    assert!(missing[0].message.contains("apply it first"), "{missing:?}");
    let version =
        problems("name: p\nnodes:\n  a: { type: workflow, workflow: soak, version: 2 }\n").await;
    assert_eq!(version[0].field, "version");
    assert!(
        version[0].message.contains("versions 1 to 1"),
        "{version:?}"
    );
    h.apply("name: p\nnodes:\n  a: { type: workflow, workflow: soak, version: 1 }\n")
        .await;
}

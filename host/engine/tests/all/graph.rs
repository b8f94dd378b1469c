//! Graph semantics: parallelism, joins, conditions, fan-out, input mapping.

use baton_engine::Event;
use baton_store::RunStatus;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn parallel_branches_overlap_and_a_diamond_join_waits_for_both() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: diamond
nodes:
  start: { plugin: scripted@1 }
  left:  { needs: [start], plugin: scripted@1, config: { sleep_ms: 100 } }
  right: { needs: [start], plugin: scripted@1, config: { sleep_ms: 400 } }
  join:  { needs: [left, right], plugin: scripted@1 }
"#,
    )
    .await;
    let run = h.run("diamond", json!({})).await;
    assert_status(&run, RunStatus::Succeeded);
    let x = h.executions(&run.id).await;
    let (left, right, join) = (
        attempts(&x, "left")[0],
        attempts(&x, "right")[0],
        attempts(&x, "join")[0],
    );
    let (lf, rf) = (left.finished_at.unwrap(), right.finished_at.unwrap());
    assert!(
        left.started_at < rf && right.started_at < lf,
        "left {}..{lf} and right {}..{rf} should overlap",
        left.started_at,
        right.started_at
    );
    assert!(
        join.started_at >= rf && join.started_at >= lf,
        "join started before both parents finished"
    );
    assert_eq!(
        run.output,
        Some(
            json!({"join": {"node": "join", "attempt": 1, "key": format!("{}/join", run.id), "input": {}, "tag": null}})
        )
    );
}

#[tokio::test]
async fn when_gates_nodes_and_skips_propagate_to_nodes_that_need_only_skipped_ones() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: gate
nodes:
  read: { plugin: scripted@1 }
  hot:  { needs: [read], when: "input.temp > 100", plugin: scripted@1 }
  cool: { needs: [read], when: "input.temp <= 100", plugin: scripted@1 }
  after_hot: { needs: [hot], plugin: scripted@1 }
  after_after_hot: { needs: [after_hot], plugin: scripted@1 }
  join: { needs: [hot, cool], plugin: scripted@1 }
"#,
    )
    .await;
    let run = h.run("gate", json!({"temp": 50})).await;
    assert_status(&run, RunStatus::Succeeded);
    let ev = h.events(&run.id).await;
    assert_eq!(node_outcome(&ev, "hot"), "skipped");
    assert_eq!(node_outcome(&ev, "cool"), "succeeded");
    assert_eq!(node_outcome(&ev, "after_hot"), "skipped");
    assert_eq!(node_outcome(&ev, "after_after_hot"), "skipped");
    assert_eq!(
        node_outcome(&ev, "join"),
        "succeeded",
        "a join with one taken branch runs"
    );
    assert!(ev.iter().any(|e| matches!(e, Event::NodeSkipped { node, reason } if node == "hot" && reason.contains("input.temp > 100"))));

    let run = h.run("gate", json!({"temp": 150})).await;
    let ev = h.events(&run.id).await;
    assert_eq!(node_outcome(&ev, "hot"), "succeeded");
    assert_eq!(node_outcome(&ev, "cool"), "skipped");
    assert_eq!(node_outcome(&ev, "after_after_hot"), "succeeded");
    assert_eq!(node_outcome(&ev, "join"), "succeeded");
}

#[tokio::test]
async fn a_condition_that_cannot_be_evaluated_fails_the_node_and_the_run() {
    let h = Harness::new().await;
    h.apply("name: bad-when\nnodes:\n  a: { plugin: scripted@1, when: 'input.missing.deeper > 1' }\n  b: { needs: [a], plugin: scripted@1 }\n")
        .await;
    let run = h.run("bad-when", json!({})).await;
    assert_status(&run, RunStatus::Failed);
    let ev = h.events(&run.id).await;
    assert_eq!(node_outcome(&ev, "a"), "failed");
    assert_eq!(node_outcome(&ev, "b"), "pending");
    assert!(run.error.unwrap().contains("node `a` failed: when:"));
}

#[tokio::test]
async fn foreach_runs_every_item_within_its_concurrency_and_returns_results_in_order() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: fan
nodes:
  each:
    plugin: scripted@1
    foreach: "input.ovens"
    concurrency: 2
    input: { oven: "item", line: "input.line" }
    config: { sleep_ms: 150 }
  count:
    needs: [each]
    plugin: scripted@1
    input: "size(nodes.each.output)"
"#,
    )
    .await;
    let ovens = json!(["o1", "o2", "o3", "o4", "o5", "o6"]);
    let run = h.run("fan", json!({"ovens": ovens, "line": 3})).await;
    assert_status(&run, RunStatus::Succeeded);
    let x = h.executions(&run.id).await;
    let items = attempts(&x, "each");
    assert_eq!(items.len(), 6);
    // The most items running at any moment.
    let mut most = 0;
    for a in &items {
        let at = a.started_at;
        let running = items
            .iter()
            .filter(|b| b.started_at <= at && b.finished_at.unwrap() > at)
            .count();
        most = most.max(running);
    }
    let spans: Vec<_> = items
        .iter()
        .map(|a| (a.started_at, a.finished_at))
        .collect();
    assert_eq!(
        most, 2,
        "concurrency 2 should allow exactly two items at once: {spans:?}"
    );
    let ev = h.events(&run.id).await;
    let output = ev
        .iter()
        .find_map(|e| match e {
            Event::NodeSucceeded { node, output, .. } if node == "each" => Some(output.clone()),
            _ => None,
        })
        .unwrap();
    let inputs: Vec<_> = output
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["input"].clone())
        .collect();
    let expected: Vec<_> = ovens
        .as_array()
        .unwrap()
        .iter()
        .map(|o| json!({"oven": o, "line": 3}))
        .collect();
    assert_eq!(inputs, expected);
    assert_eq!(output[4]["key"], json!(format!("{}/each[4]", run.id)));
    assert_eq!(run.output.unwrap()["count"]["input"], json!(6));
}

#[tokio::test]
async fn inputs_map_upstream_outputs_and_the_run_input() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: mapping
nodes:
  a: { plugin: scripted@1, input: { x: "input.x" } }
  b:
    needs: [a]
    plugin: scripted@1
    input: { doubled: "nodes.a.output.input.x * 2", label: "'oven-' + string(input.x)", fixed: 7 }
"#,
    )
    .await;
    let run = h.run("mapping", json!({"x": 21})).await;
    assert_status(&run, RunStatus::Succeeded);
    assert_eq!(
        run.output.unwrap()["b"]["input"],
        json!({"doubled": 42, "label": "oven-21", "fixed": 7})
    );
}

#[tokio::test]
async fn run_concurrency_limits_nodes_of_one_run() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: narrow
concurrency: 1
nodes:
  a: { plugin: scripted@1, config: { sleep_ms: 100 } }
  b: { plugin: scripted@1, config: { sleep_ms: 100 } }
  c: { plugin: scripted@1, config: { sleep_ms: 100 } }
"#,
    )
    .await;
    let run = h.run("narrow", json!({})).await;
    assert_status(&run, RunStatus::Succeeded);
    let x = h.executions(&run.id).await;
    let mut spans: Vec<(i64, i64)> = x
        .iter()
        .map(|e| (e.started_at, e.finished_at.unwrap()))
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(
            w[1].0 >= w[0].1,
            "with concurrency 1 nodes must not overlap: {spans:?}"
        );
    }
}

#[tokio::test]
async fn foreach_past_its_item_cap_fails_the_run_before_any_item_starts() {
    let h = Harness::new().await;
    h.apply(
        r#"
name: capped
nodes:
  few:
    plugin: scripted@1
    foreach: "input.small"
    limits: { items: 3 }
  many:
    needs: [few]
    plugin: scripted@1
    foreach: "input.big"
"#,
    )
    .await;
    // Three items pass a cap of three; 10,001 pass the default of 10,000 by one.
    let big: Vec<u32> = (0..10_001).collect();
    let run = h
        .run("capped", json!({"small": [1, 2, 3], "big": big}))
        .await;
    assert_status(&run, RunStatus::Failed);
    let error = run.error.clone().unwrap_or_default();
    assert!(error.contains("10001 items; at most 10000"), "{error}");
    let x = h.executions(&run.id).await;
    assert_eq!(attempts(&x, "few").len(), 3);
    assert!(
        attempts(&x, "many").is_empty(),
        "no item of `many` may start"
    );

    let run = h
        .run("capped", json!({"small": [1, 2, 3, 4], "big": []}))
        .await;
    assert_status(&run, RunStatus::Failed);
    let error = run.error.clone().unwrap_or_default();
    assert!(error.contains("4 items; at most 3"), "{error}");
    assert!(attempts(&h.executions(&run.id).await, "few").is_empty());
}

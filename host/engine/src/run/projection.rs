//! The rows a run's committed events change.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use baton_store::{Execution, LockOp, Phase, RunStatus, RunUpdate, Transition};
use serde_json::Value;

use super::Decided;
use crate::compiled::CompiledWorkflow;
use crate::event::Event;
use crate::state::RunState;

/// The transition that commits `events`: the events and the rows they change.
pub(crate) fn projection(
    wf: &CompiledWorkflow,
    state: &RunState,
    events: &[Decided],
) -> Transition {
    let run_id = &state.run_id;
    let mut executions = Rows::default();
    let mut run = None;
    let mut held_changed = false;
    let mut locks = Vec::new();
    let stored = super::fold::stored(events);
    for (decided, &folded) in events.iter().zip(&stored.folded) {
        let (event, now) = (&decided.event, decided.at);
        let row = |node: &str, item: Option<u32>, phase: Phase, attempt: u32| {
            let started_at = wf
                .index(node)
                .and_then(|i| state.nodes[i].exec(item, phase))
                .map_or(now, |e| e.started_at);
            Execution {
                run_id: run_id.clone(),
                node_id: node.to_string(),
                item,
                phase,
                attempt,
                status: "running".into(),
                output: None,
                error: None,
                error_kind: None,
                started_at,
                finished_at: None,
                retry_at: None,
            }
        };
        match event {
            // A folded step's attempt is read from its event (see `fold`).
            Event::AttemptStarted { .. } | Event::AttemptSucceeded { .. } if folded => {}
            Event::AttemptStarted {
                node,
                item,
                phase,
                attempt,
                ..
            } => executions.put(
                (node, *item, *phase, *attempt),
                Execution {
                    started_at: now,
                    ..row(node, *item, *phase, *attempt)
                },
            ),
            Event::AttemptSucceeded {
                node,
                item,
                phase,
                attempt,
                output,
                ..
            } => executions.put(
                (node, *item, *phase, *attempt),
                Execution {
                    status: "succeeded".into(),
                    output: Some(output.clone()),
                    finished_at: Some(now),
                    ..row(node, *item, *phase, *attempt)
                },
            ),
            Event::AttemptFailed {
                node,
                item,
                phase,
                attempt,
                error,
                kind,
                retry_at,
                ..
            } => executions.put(
                (node, *item, *phase, *attempt),
                Execution {
                    status: "failed".into(),
                    error: Some(error.clone()),
                    error_kind: Some(kind.clone()),
                    finished_at: Some(now),
                    retry_at: *retry_at,
                    ..row(node, *item, *phase, *attempt)
                },
            ),
            Event::RunSucceeded { output } => {
                run = Some(end(RunStatus::Succeeded, Some(output), None))
            }
            Event::RunFailed { error } => run = Some(end(RunStatus::Failed, None, Some(error))),
            Event::RunCancelled { reason } => {
                run = Some(end(RunStatus::Cancelled, None, Some(reason)))
            }
            Event::LocksRequested {
                node,
                locks: keys,
                reject,
            } => locks.push(LockOp::Request {
                node: node.clone().unwrap_or_default(),
                keys: keys.iter().map(|k| (k.key.clone(), k.limit)).collect(),
                reject: *reject,
            }),
            // A node gives its locks back when it ends, unless it holds an
            // incident: equipment left in doubt stays locked until an
            // operator resolves it. The run's own go when it ends.
            Event::NodeSucceeded { node, .. }
            | Event::NodeFailed { node, .. }
            | Event::NodeSkipped { node, .. }
            | Event::NodeCancelled { node }
                if wf.any_locks =>
            {
                if let Some(i) = wf.index(node)
                    && !wf.nodes[i].locks.is_empty()
                    && state.nodes[i].status.is_terminal()
                    && !state.nodes[i].incident
                    && !locks.contains(&LockOp::Release { node: node.clone() })
                {
                    locks.push(LockOp::Release { node: node.clone() });
                }
            }
            Event::IncidentOpened { .. }
            | Event::IncidentResolved { .. }
            | Event::RunStopping { .. }
                if run.is_none() =>
            {
                held_changed = true
            }
            _ => {}
        }
    }
    // A run is `held` while a node has an open incident, and `running`
    // again once it is resolved or the run is ending.
    if held_changed && run.is_none() && state.ended.is_none() {
        let error = state
            .incidents()
            .next()
            .filter(|_| state.held())
            .and_then(|i| {
                let why = state.nodes[i].error.as_deref().unwrap_or("failed");
                Some(format!("node `{}` failed: {why}", wf.nodes.get(i)?.id))
            });
        run = Some(RunUpdate {
            status: state.status(),
            output: None,
            error,
        });
    }
    Transition {
        run_id: Some(run_id.clone()),
        events: stored.events,
        executions: executions.rows,
        run,
        fence: None,
        locks,
        lockless: !wf.any_locks,
        lazy: false,
    }
}

fn end(status: RunStatus, output: Option<&Value>, error: Option<&String>) -> RunUpdate {
    RunUpdate {
        status,
        output: output.cloned(),
        error: error.cloned(),
    }
}

/// The execution rows of one transition: one per attempt, holding the last
/// of its changes. A row is written whole, so an attempt that started and
/// ended in the same commit costs one write, not two.
#[derive(Default)]
struct Rows<'a> {
    rows: Vec<Execution>,
    index: HashMap<(&'a str, Option<u32>, Phase, u32), usize>,
}

impl<'a> Rows<'a> {
    fn put(&mut self, key: (&'a str, Option<u32>, Phase, u32), row: Execution) {
        match self.index.entry(key) {
            Entry::Occupied(at) => self.rows[*at.get()] = row,
            Entry::Vacant(at) => {
                at.insert(self.rows.len());
                self.rows.push(row);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn started(node: &str, attempt: u32) -> Decided {
        Decided::new(
            Event::AttemptStarted {
                node: node.into(),
                item: None,
                phase: Phase::Run,
                attempt,
                resumed: false,
            },
            5,
        )
    }

    fn succeeded(node: &str, attempt: u32) -> Decided {
        Decided::new(
            Event::AttemptSucceeded {
                node: node.into(),
                item: None,
                phase: Phase::Run,
                attempt,
                output: json!({"v": 1}),
                duration_ms: 1,
                logs: Vec::new(),
                denials: Vec::new(),
            },
            9,
        )
    }

    #[test]
    fn an_attempt_started_and_ended_in_one_commit_is_one_row_as_it_ended() {
        let yaml = "name: w\nnodes:\n  a: { plugin: t@1 }\n  b: { needs: [a], plugin: t@1 }\n";
        let wf = crate::scheduler::tests::workflow(yaml);
        let state = RunState::new("r1", json!({}), &wf);
        let events = [
            started("a", 1),
            succeeded("a", 1),
            started("b", 1),
            started("b", 2),
        ];
        let rows = projection(&wf, &state, &events).executions;
        let seen: Vec<_> = rows
            .iter()
            .map(|x| {
                (
                    x.node_id.as_str(),
                    x.attempt,
                    x.status.as_str(),
                    x.finished_at,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("a", 1, "succeeded", Some(9)),
                ("b", 1, "running", None),
                ("b", 2, "running", None),
            ]
        );
        assert_eq!(rows[0].output, Some(json!({"v": 1})));
    }

    #[test]
    fn a_folded_step_writes_its_event_and_no_execution_row() {
        let yaml = "name: w\nnodes:\n  a: { plugin: t@1 }\n  b: { needs: [a], plugin: t@1 }\n";
        let wf = crate::scheduler::tests::workflow(yaml);
        let state = RunState::new("r1", json!({}), &wf);
        let node_started = |node: &str| {
            Decided::new(
                Event::NodeStarted {
                    node: node.into(),
                    input: json!({}),
                    items: None,
                },
                4,
            )
        };
        let events = [
            node_started("a"),
            started("a", 1),
            succeeded("a", 1),
            Decided::new(
                Event::NodeSucceeded {
                    node: "a".into(),
                    output: json!({"v": 1}),
                    step: None,
                },
                9,
            ),
            node_started("b"),
            started("b", 1),
        ];
        let t = projection(&wf, &state, &events);
        let kinds: Vec<_> = t.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["node_succeeded", "node_started", "attempt_started"]);
        let rows: Vec<_> = t
            .executions
            .iter()
            .map(|x| (x.node_id.as_str(), x.status.as_str()))
            .collect();
        assert_eq!(rows, [("b", "running")]);
    }
}

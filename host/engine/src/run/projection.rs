//! The rows a run's committed events change.

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
    let mut executions = Vec::new();
    let mut run = None;
    let mut held_changed = false;
    let mut locks = Vec::new();
    for decided in events {
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
            Event::AttemptStarted {
                node,
                item,
                phase,
                attempt,
                ..
            } => executions.push(Execution {
                started_at: now,
                ..row(node, *item, *phase, *attempt)
            }),
            Event::AttemptSucceeded {
                node,
                item,
                phase,
                attempt,
                output,
                ..
            } => executions.push(Execution {
                status: "succeeded".into(),
                output: Some(output.clone()),
                finished_at: Some(now),
                ..row(node, *item, *phase, *attempt)
            }),
            Event::AttemptFailed {
                node,
                item,
                phase,
                attempt,
                error,
                kind,
                retry_at,
                ..
            } => executions.push(Execution {
                status: "failed".into(),
                error: Some(error.clone()),
                error_kind: Some(kind.clone()),
                finished_at: Some(now),
                retry_at: *retry_at,
                ..row(node, *item, *phase, *attempt)
            }),
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
        events: super::fold::stored(events),
        executions,
        run,
        fence: None,
        locks,
        lockless: !wf.any_locks,
    }
}

fn end(status: RunStatus, output: Option<&Value>, error: Option<&String>) -> RunUpdate {
    RunUpdate {
        status,
        output: output.cloned(),
        error: error.cloned(),
    }
}

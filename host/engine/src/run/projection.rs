//! The rows a run's committed events change.

use baton_store::{Execution, Phase, RunStatus, RunUpdate, Transition};
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
            _ => {}
        }
    }
    Transition {
        run_id: Some(run_id.clone()),
        events: events
            .iter()
            .map(|d| d.event.to_new(d.by.as_deref()))
            .collect(),
        executions,
        run,
        fence: None,
    }
}

fn end(status: RunStatus, output: Option<&Value>, error: Option<&String>) -> RunUpdate {
    RunUpdate {
        status,
        output: output.cloned(),
        error: error.cloned(),
    }
}

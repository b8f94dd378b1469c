//! Sub-workflows: an attempt of a `type: workflow` node starts a run of
//! another workflow and ends when that run ends, with its output or its
//! failure. A cancel of the parent reaches its children.

use std::time::{Duration, Instant};

use baton_store::{Phase, RunStatus};
use serde_json::Value;

use super::{RunActor, Running};
use crate::engine::Engine;
use crate::scheduler::Outcome;
use crate::{Error, StartOptions};

impl RunActor {
    /// The engine this run belongs to, to start and steer other runs.
    fn engine(&self) -> Engine {
        Engine {
            shared: self.shared.clone(),
        }
    }

    /// Start (or, resumed after a restart, find again by its key) the child
    /// run of attempt `attempt` of workflow node `i`, and wait for its end.
    pub(super) fn spawn_child(&mut self, i: usize, item: Option<u32>, attempt: u32, input: Value) {
        let node = &self.wf.nodes[i];
        let Some(workflow) = node.def.workflow.clone() else {
            return;
        };
        let version = node.def.version;
        let parent = (self.state.run_id.clone(), node.id.clone());
        let item_part = item.map(|k| format!("[{k}]")).unwrap_or_default();
        let key = format!("{}/{}{item_part}#{attempt}", parent.0, parent.1);
        let engine = self.engine();
        let abort = self.attempts.spawn(async move {
            let began = Instant::now();
            let result = child(&engine, &workflow, version, input, key, parent).await;
            Outcome {
                result,
                duration_ms: began.elapsed().as_millis() as u64,
                logs: Vec::new(),
                denials: Vec::new(),
            }
        });
        self.running.insert(
            abort.id(),
            Running {
                node: i,
                item,
                phase: Phase::Run,
                attempt,
                abort,
                actuates: false,
                interlocked: false,
            },
        );
    }

    /// Cancel this run's unfinished children, now and once more a moment
    /// later for a child whose start was under way.
    pub(super) fn cancel_children(&self, reason: &str) {
        if !self
            .wf
            .nodes
            .iter()
            .any(|n| n.def.kind == baton_workflow::NodeKind::Workflow)
        {
            return;
        }
        let engine = self.engine();
        let run = self.state.run_id.clone();
        let why = format!("its parent run {run} was cancelled: {reason}");
        tokio::spawn(async move {
            for pass in 0..2 {
                if pass > 0 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                let Ok(children) = engine.store().child_runs(&run).await else {
                    continue;
                };
                for child in children.iter().filter(|c| !c.status.is_terminal()) {
                    if let Err(e) = engine.cancel(&child.id, "parent", &why).await {
                        tracing::debug!(run = %child.id, error = %e, "child not cancelled");
                    }
                }
            }
        });
    }
}

/// Run `workflow` as a child of `parent` and wait for it: its output, or
/// the failure's kind and message.
async fn child(
    engine: &Engine,
    workflow: &str,
    version: Option<i64>,
    input: Value,
    key: String,
    parent: (String, String),
) -> Result<Value, (String, String)> {
    let options = StartOptions {
        idempotency_key: Some(key),
        trigger: format!("workflow:{}/{}", parent.0, parent.1),
        version,
        parent: Some(parent),
        ..StartOptions::default()
    };
    let started = engine
        .start_run(workflow, input, options)
        .await
        .map_err(|e| {
            let kind = match e {
                Error::NotFound(_) | Error::BadRequest(_) | Error::Definition(_) => "fatal",
                _ => "retryable",
            };
            (
                kind.to_string(),
                format!("cannot start workflow `{workflow}`: {e}"),
            )
        })?;
    let id = started.run_id;
    loop {
        match engine.wait_finished(&id, Duration::from_secs(3600)).await {
            Ok(Some(run)) => {
                return match run.status {
                    RunStatus::Succeeded => Ok(run.output.unwrap_or(Value::Null)),
                    status => Err((
                        "retryable".into(),
                        format!(
                            "child run {id} of `{workflow}` {status}: {}",
                            run.error.unwrap_or_default()
                        ),
                    )),
                };
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(run = %id, error = %e, "cannot read a child run; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

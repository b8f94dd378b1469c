//! The scheduler: pure decisions from a run's state to the events that
//! change it. Nothing here does I/O or reads the clock; the run actor passes
//! in the time, the jitter and what happened, commits the events this emits,
//! and only then acts on them. That keeps every decision replayable and
//! testable without a database or a plugin.

use baton_store::{Millis, Phase};
use baton_workflow::NodeKind;
use baton_workflow::definition::{OnFailure, RetryPolicy, TimeoutOutcome};
use baton_workflow::expr::Scope;
use serde_json::{Map, Value, json};

use crate::compiled::{CompiledNode, CompiledWorkflow};
use crate::event::{Ending, Event, WaitReason};
use crate::retry;
use crate::state::{ExecStatus, NodeStatus, RunState};

mod incident;
mod locks;
pub use incident::Fix;

/// How an attempt ended, as the scheduler needs it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The output, or the failure's kind and message.
    pub result: Result<Value, (String, String)>,
    /// Wall time.
    pub duration_ms: u64,
    /// Guest log lines.
    pub logs: Vec<baton_runtime::LogLine>,
    /// Refused capability calls.
    pub denials: Vec<String>,
}

/// Makes decisions for one run and collects the events they produce.
pub struct Scheduler<'a> {
    wf: &'a CompiledWorkflow,
    state: &'a mut RunState,
    now: Millis,
    out: Vec<Event>,
}

/// A node without `retry` gets one attempt.
static NO_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 1,
    initial_interval: std::time::Duration::ZERO,
    backoff: 1.0,
    max_interval: std::time::Duration::ZERO,
    non_retryable: Vec::new(),
};

impl<'a> Scheduler<'a> {
    /// Decide for `state` at time `now`.
    pub fn new(wf: &'a CompiledWorkflow, state: &'a mut RunState, now: Millis) -> Self {
        Self {
            wf,
            state,
            now,
            out: Vec::new(),
        }
    }

    /// Everything decided, in order; each event is already applied to the state.
    pub fn into_events(self) -> Vec<Event> {
        self.out
    }

    /// How many events have been decided so far.
    pub fn events_so_far(&self) -> usize {
        self.out.len()
    }

    /// Node `i`'s status now.
    pub fn status(&self, i: usize) -> NodeStatus {
        self.state.nodes[i].status
    }

    fn emit(&mut self, event: Event) {
        self.state.apply(self.wf, &event, self.now);
        self.out.push(event);
    }

    fn id(&self, i: usize) -> String {
        self.wf.nodes[i].id.clone()
    }

    fn fail_run(&mut self, reason: String) {
        if self.state.stopping.is_none() {
            self.emit(Event::RunStopping {
                ending: Ending::Failed,
                reason,
            });
        }
    }

    /// Node `i` failed for good: the run stops, or under `on_failure: hold`
    /// it is held with an incident on the node.
    fn fail_node(&mut self, i: usize, error: String) {
        self.fail_node_as(i, error, self.wf.def.on_failure == OnFailure::Hold);
    }

    /// Node `i` failed for good; with `hold`, the run is held on it unless
    /// it is already ending.
    fn fail_node_as(&mut self, i: usize, error: String, hold: bool) {
        let node = self.id(i);
        self.emit(Event::NodeFailed {
            node: node.clone(),
            error: error.clone(),
        });
        if hold && self.state.stopping.is_none() {
            self.emit(Event::IncidentOpened { node, error });
        } else {
            self.fail_run(format!("node `{node}` failed: {error}"));
        }
    }

    /// An attempt ended.
    pub fn attempt_done(
        &mut self,
        i: usize,
        item: Option<u32>,
        phase: Phase,
        attempt: u32,
        outcome: Outcome,
        jitter: f64,
    ) {
        let node = self.id(i);
        let current = self.state.nodes[i].exec(item, phase);
        if current.is_none_or(|e| e.attempt != attempt || e.status != ExecStatus::Running) {
            return; // a stale result, e.g. from before a cancel
        }
        let counted = current.map_or(attempt, |e| e.policy_attempt());
        match outcome.result {
            Ok(output) => {
                self.emit(Event::AttemptSucceeded {
                    node: node.clone(),
                    item,
                    phase,
                    attempt,
                    output: output.clone(),
                    duration_ms: outcome.duration_ms,
                    logs: outcome.logs,
                    denials: outcome.denials,
                });
                match phase {
                    Phase::Compensate => self.emit(Event::CompensationSucceeded { node, output }),
                    Phase::Run => self.maybe_complete(i),
                }
            }
            Err((kind, error)) => {
                let policy = self.wf.nodes[i].def.retry.as_ref().unwrap_or(&NO_RETRY);
                let retry_in = (retry::allows(policy, &kind)
                    && (self.state.stopping.is_none() || phase == Phase::Compensate))
                    .then(|| retry::delay(policy, counted, jitter))
                    .flatten();
                let retry_in_ms = retry_in.map(|d| d.as_millis() as u64);
                self.emit(Event::AttemptFailed {
                    node: node.clone(),
                    item,
                    phase,
                    attempt,
                    error: error.clone(),
                    kind: kind.clone(),
                    retry_in_ms,
                    retry_at: retry_in_ms.map(|ms| self.now + ms as i64),
                    duration_ms: outcome.duration_ms,
                    logs: outcome.logs,
                    denials: outcome.denials,
                });
                if retry_in.is_some() {
                    return;
                }
                let what = match item {
                    Some(k) => format!("item {k}, attempt {attempt}: {error}"),
                    None => format!("attempt {attempt}: {error}"),
                };
                match phase {
                    Phase::Compensate => self.emit(Event::CompensationFailed { node, error: what }),
                    Phase::Run if kind == "cancelled" => {}
                    Phase::Run => self.fail_node(i, what),
                }
            }
        }
    }

    /// A node whose executions all succeeded is done.
    fn maybe_complete(&mut self, i: usize) {
        let state = &self.state.nodes[i];
        if state.status != NodeStatus::Running {
            return;
        }
        let outputs: Option<Vec<Value>> = state
            .execs
            .iter()
            .map(|e| match &e.status {
                ExecStatus::Succeeded(v) => Some(v.clone()),
                _ => None,
            })
            .collect();
        if let Some(outputs) = outputs {
            let output = if state.items.is_some() {
                Value::Array(outputs)
            } else {
                outputs.into_iter().next().unwrap_or(Value::Null)
            };
            let node = self.id(i);
            self.emit(Event::NodeSucceeded {
                node,
                output,
                step: None,
            });
        }
    }

    /// A retry timer fired.
    pub fn retry_due(&mut self, i: usize, item: Option<u32>, phase: Phase) {
        let Some(exec) = self.state.nodes[i].exec(item, phase) else {
            return;
        };
        let ExecStatus::RetryAt(at) = exec.status else {
            return;
        };
        if at > self.now || (self.state.stopping.is_some() && phase == Phase::Run) {
            return;
        }
        let attempt = exec.attempt + 1;
        let node = self.id(i);
        self.emit(Event::AttemptStarted {
            node,
            item,
            phase,
            attempt,
            resumed: false,
        });
    }

    /// A waiting node's time came: a delay ends, an approval or wait times out.
    pub fn wait_timeout(&mut self, i: usize) {
        let NodeStatus::Waiting(reason, Some(until)) = self.state.nodes[i].status else {
            return;
        };
        if until > self.now {
            return;
        }
        let node = self.id(i);
        if reason == WaitReason::Delay {
            self.emit(Event::NodeSucceeded {
                node,
                output: Value::Null,
                step: None,
            });
            return;
        }
        let outcome = self.wf.nodes[i]
            .def
            .on_timeout
            .unwrap_or(TimeoutOutcome::Reject);
        self.emit(Event::NodeTimedOut {
            node: node.clone(),
            outcome,
        });
        match outcome {
            TimeoutOutcome::Approve => self.emit(Event::NodeSucceeded {
                node,
                output: json!({"approved": reason == WaitReason::Approval, "timed_out": true}),
                step: None,
            }),
            TimeoutOutcome::Skip => self.emit(Event::NodeSkipped {
                node,
                reason: "timed out".into(),
            }),
            TimeoutOutcome::Reject => {
                let after = self.wf.nodes[i].def.timeout.unwrap_or_default();
                self.fail_node(i, format!("timed out after {after:?}"));
            }
        }
    }

    /// An operator approved or rejected node `i`.
    pub fn decide_approval(
        &mut self,
        i: usize,
        approved: bool,
        actor: &str,
        comment: Option<String>,
    ) -> Result<(), String> {
        let node = self.id(i);
        match self.state.nodes[i].status {
            NodeStatus::Waiting(WaitReason::Approval, _) => {}
            other => {
                return Err(format!(
                    "node `{node}` is not waiting for approval (it is {})",
                    other.as_str()
                ));
            }
        }
        if approved {
            self.emit(Event::NodeApproved {
                node: node.clone(),
                comment: comment.clone(),
            });
            self.emit(Event::NodeSucceeded {
                node,
                output: json!({"approved": true, "by": actor, "comment": comment}),
                step: None,
            });
        } else {
            self.emit(Event::NodeRejected {
                node: node.clone(),
                comment: comment.clone(),
            });
            let why = match comment {
                Some(c) => format!("rejected by {actor}: {c}"),
                None => format!("rejected by {actor}"),
            };
            // An operator's decision, not a failure to repair: never held.
            self.fail_node_as(i, why, false);
        }
        Ok(())
    }

    /// A message or signal released waiting node `i`.
    pub fn release(&mut self, i: usize, output: Value) -> bool {
        match self.state.nodes[i].status {
            NodeStatus::Waiting(WaitReason::Mqtt | WaitReason::Signal, _) => {
                let node = self.id(i);
                self.emit(Event::NodeSucceeded {
                    node,
                    output,
                    step: None,
                });
                true
            }
            _ => false,
        }
    }

    /// An operator cancelled the run.
    pub fn cancel(&mut self, reason: String) -> Result<(), String> {
        if let Some(status) = self.state.ended {
            return Err(format!("the run has already {status}"));
        }
        if matches!(self.state.stopping, Some((Ending::Cancelled, _))) {
            return Ok(());
        }
        self.emit(Event::RunStopping {
            ending: Ending::Cancelled,
            reason,
        });
        Ok(())
    }

    fn scope(&self, i: usize, item: Option<Value>) -> Scope {
        let mut nodes = Map::new();
        for &r in &self.wf.nodes[i].refs {
            let state = &self.state.nodes[r];
            nodes.insert(
                self.wf.nodes[r].id.clone(),
                json!({"output": state.output.clone().unwrap_or(Value::Null), "status": state.status.as_str()}),
            );
        }
        Scope {
            input: self.state.input.clone(),
            nodes: Value::Object(nodes),
            item,
        }
    }

    /// Start whatever can start and finish whatever is finished.
    pub fn decide(&mut self) {
        if self.state.ended.is_some() {
            return;
        }
        if self.state.stopping.is_some() {
            self.stop();
            return;
        }
        if !self.run_locked() {
            return;
        }
        for i in 0..self.wf.nodes.len() {
            if self.state.nodes[i].status == NodeStatus::Pending && self.ready(i) {
                self.begin(i);
                if self.state.stopping.is_some() {
                    self.stop();
                    return;
                }
            }
        }
        self.start_attempts();
        if self.state.nodes.iter().all(|n| n.status.is_terminal()) && !self.state.held() {
            let mut output = Map::new();
            for &s in &self.wf.sinks {
                if let Some(out) = &self.state.nodes[s].output {
                    output.insert(self.wf.nodes[s].id.clone(), out.clone());
                }
            }
            self.emit(Event::RunSucceeded {
                output: Value::Object(output),
            });
        }
    }

    /// Whether every parent is done (nodes after a failure never start: the
    /// run is stopping).
    fn ready(&self, i: usize) -> bool {
        self.wf.nodes[i].parents.iter().all(|&p| {
            matches!(
                self.state.nodes[p].status,
                NodeStatus::Succeeded | NodeStatus::Skipped
            )
        })
    }

    fn begin(&mut self, i: usize) {
        let wf = self.wf;
        let node: &CompiledNode = &wf.nodes[i];
        let id = node.id.clone();
        if !node.parents.is_empty()
            && node
                .parents
                .iter()
                .all(|&p| self.state.nodes[p].status == NodeStatus::Skipped)
        {
            self.emit(Event::NodeSkipped {
                node: id,
                reason: "every node it needs was skipped".into(),
            });
            return;
        }
        let scope = self.scope(i, None);
        if let Some(when) = node.when.as_ref().filter(|_| !node.when_per_item) {
            match when.eval_bool(&scope) {
                Ok(true) => {}
                Ok(false) => {
                    self.emit(Event::NodeSkipped {
                        node: id,
                        reason: format!("`when` was false: {}", when.source()),
                    });
                    return;
                }
                Err(e) => return self.fail_node(i, format!("when: {e}")),
            }
        }
        if !node.locks.is_empty() && !self.state.nodes[i].locked {
            return self.request_node_locks(i, &scope);
        }
        let until = |d: Option<std::time::Duration>| d.map(|d| self.now + d.as_millis() as i64);
        match node.def.kind {
            NodeKind::Task | NodeKind::Workflow => match self.task_input(i, scope) {
                Ok((input, items)) => {
                    let empty = items.as_ref().is_some_and(Vec::is_empty);
                    self.emit(Event::NodeStarted {
                        node: id.clone(),
                        input,
                        items,
                    });
                    if empty {
                        self.emit(Event::NodeSucceeded {
                            node: id,
                            output: json!([]),
                            step: None,
                        });
                    }
                }
                Err(e) => self.fail_node(i, e),
            },
            NodeKind::Approval => self.emit(Event::NodeWaiting {
                node: id,
                reason: WaitReason::Approval,
                until: until(node.def.timeout),
            }),
            NodeKind::Delay => self.emit(Event::NodeWaiting {
                node: id,
                reason: WaitReason::Delay,
                until: until(node.def.duration),
            }),
            NodeKind::Wait => self.emit(Event::NodeWaiting {
                node: id,
                reason: if node.def.mqtt.is_some() {
                    WaitReason::Mqtt
                } else {
                    WaitReason::Signal
                },
                until: until(node.def.timeout),
            }),
        }
    }

    /// A task's input and, for a foreach node, each item's input.
    fn task_input(&self, i: usize, scope: Scope) -> Result<(Value, Option<Vec<Value>>), String> {
        let node = &self.wf.nodes[i];
        let Some(foreach) = &node.foreach else {
            let input = node
                .input
                .eval(&scope, &self.state.input)
                .map_err(|e| format!("input: {e}"))?;
            return Ok((input, None));
        };
        let list = match foreach.eval(&scope).map_err(|e| format!("foreach: {e}"))? {
            Value::Array(list) => list,
            other => {
                return Err(format!(
                    "foreach: `{}` gave {other}, not a list",
                    foreach.source()
                ));
            }
        };
        let max_items = node
            .def
            .limits
            .as_ref()
            .and_then(|l| l.items)
            .unwrap_or(baton_workflow::limits::DEFAULT_FOREACH_ITEMS);
        if list.len() > max_items {
            return Err(format!(
                "foreach: `{}` gave {} items; at most {max_items} are allowed \
                 (the node's limits.items)",
                foreach.source(),
                list.len()
            ));
        }
        let mut items = Vec::with_capacity(list.len());
        for item in list {
            let scope = Scope {
                item: Some(item.clone()),
                ..scope.clone()
            };
            if node.when_per_item
                && let Some(when) = &node.when
                && !when.eval_bool(&scope).map_err(|e| format!("when: {e}"))?
            {
                continue;
            }
            items.push(
                node.input
                    .eval(&scope, &item)
                    .map_err(|e| format!("input: {e}"))?,
            );
        }
        Ok((Value::Array(items.clone()), Some(items)))
    }

    fn start_attempts(&mut self) {
        let limit = self.wf.def.concurrency.unwrap_or(usize::MAX);
        let mut running: usize = self
            .state
            .nodes
            .iter()
            .flat_map(|n| &n.execs)
            .filter(|e| e.status == ExecStatus::Running)
            .count();
        for i in 0..self.wf.nodes.len() {
            if self.state.nodes[i].status != NodeStatus::Running {
                continue;
            }
            let per_node = self.wf.nodes[i].def.concurrency.unwrap_or(usize::MAX);
            let mut in_node = self.state.nodes[i]
                .execs
                .iter()
                .filter(|e| e.status == ExecStatus::Running)
                .count();
            let foreach = self.state.nodes[i].items.is_some();
            for k in 0..self.state.nodes[i].execs.len() {
                if running >= limit || in_node >= per_node {
                    break;
                }
                if self.state.nodes[i].execs[k].status == ExecStatus::NotStarted {
                    let node = self.id(i);
                    // 1, or the next number after an operator's retry.
                    let attempt = self.state.nodes[i].execs[k].attempt + 1;
                    self.emit(Event::AttemptStarted {
                        node,
                        item: foreach.then_some(k as u32),
                        phase: Phase::Run,
                        attempt,
                        resumed: false,
                    });
                    running += 1;
                    in_node += 1;
                }
            }
        }
    }

    /// The run is ending: stop what has not started, let running attempts
    /// finish, compensate, then end.
    fn stop(&mut self) {
        for i in 0..self.wf.nodes.len() {
            let state = &self.state.nodes[i];
            let idle = !state.execs.iter().any(|e| e.status == ExecStatus::Running);
            let cancel = match state.status {
                NodeStatus::Waiting(..) => true,
                NodeStatus::Running => idle,
                _ => false,
            };
            if cancel {
                let node = self.id(i);
                self.emit(Event::NodeCancelled { node });
            }
        }
        if !self.state.in_flight().is_empty() {
            return;
        }
        if matches!(
            self.wf.def.on_failure,
            OnFailure::Compensate | OnFailure::Hold
        ) {
            if self.state.nodes.iter().any(|n| {
                n.compensation
                    .as_ref()
                    .is_some_and(|c| matches!(c.status, ExecStatus::RetryAt(_)))
            }) {
                return; // a compensation retry is due later
            }
            let next = self.state.completed.iter().rev().copied().find(|&i| {
                self.wf.nodes[i].compensate.is_some() && self.state.nodes[i].compensation.is_none()
            });
            if let Some(i) = next {
                let node = self.id(i);
                let state = &self.state.nodes[i];
                let input = json!({"input": state.input, "output": state.output});
                self.emit(Event::CompensationStarted {
                    node: node.clone(),
                    input,
                });
                self.emit(Event::AttemptStarted {
                    node,
                    item: None,
                    phase: Phase::Compensate,
                    attempt: 1,
                    resumed: false,
                });
                return;
            }
        }
        let Some((ending, reason)) = self.state.stopping.clone() else {
            return;
        };
        self.emit(match ending {
            Ending::Failed => Event::RunFailed { error: reason },
            Ending::Cancelled => Event::RunCancelled { reason },
        });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use baton_store::WorkflowRecord;

    pub(crate) fn workflow(yaml: &str) -> CompiledWorkflow {
        let wf = baton_workflow::Workflow::parse(yaml).unwrap();
        CompiledWorkflow::new(
            &WorkflowRecord {
                name: wf.name.clone(),
                version: 1,
                definition: serde_json::to_value(&wf).unwrap(),
                plugins: json!({"t@1": {"version": "1.0.0", "digest": "d"}}),
                created_at: 0,
                source: Some(yaml.to_string()),
            },
            &Default::default(),
        )
        .unwrap()
    }

    pub(super) fn ok(output: Value) -> Outcome {
        Outcome {
            result: Ok(output),
            duration_ms: 1,
            logs: vec![],
            denials: vec![],
        }
    }

    pub(super) fn failed(kind: &str) -> Outcome {
        Outcome {
            result: Err((kind.into(), "boom".into())),
            ..ok(Value::Null)
        }
    }

    /// Feed the scheduler a whole run, step by step, and keep every event.
    #[test]
    fn replaying_the_events_rebuilds_exactly_the_live_state() {
        let wf = workflow(
            r#"
name: w
on_failure: compensate
nodes:
  a: { plugin: t@1, compensate: { plugin: t@1 } }
  b: { needs: [a], plugin: t@1, foreach: "[1, 2]", retry: { max_attempts: 2, initial_interval: 1s } }
  c: { needs: [a], plugin: t@1, when: "false" }
  d: { needs: [c], plugin: t@1 }
  e: { needs: [b], type: approval }
"#,
        );
        let (a, b, e) = (
            wf.index("a").unwrap(),
            wf.index("b").unwrap(),
            wf.index("e").unwrap(),
        );
        let mut live = RunState::new("r", json!({}), &wf);
        let mut all = Vec::new();
        let mut step = |now, f: &dyn Fn(&mut Scheduler<'_>)| {
            let mut s = Scheduler::new(&wf, &mut live, now);
            f(&mut s);
            s.decide();
            all.extend(s.into_events().into_iter().map(|e| (e, now)));
        };
        step(0, &|_| {});
        step(10, &|s| {
            s.attempt_done(a, None, Phase::Run, 1, ok(json!("a")), 0.0)
        });
        step(20, &|s| {
            s.attempt_done(b, Some(0), Phase::Run, 1, failed("retryable"), 0.5)
        });
        step(30, &|s| {
            s.attempt_done(b, Some(1), Phase::Run, 1, ok(json!(2)), 0.0)
        });
        step(1100, &|s| s.retry_due(b, Some(0), Phase::Run));
        step(1200, &|s| {
            s.attempt_done(b, Some(0), Phase::Run, 2, ok(json!(1)), 0.0)
        });
        step(1300, &|s| {
            s.decide_approval(e, false, "ana", None).unwrap();
        });
        step(1400, &|s| {
            s.attempt_done(a, None, Phase::Compensate, 1, ok(json!("undone")), 0.0)
        });

        let status = |id| live.nodes[wf.index(id).unwrap()].status.as_str();
        assert_eq!(status("a"), "succeeded");
        assert_eq!(status("b"), "succeeded");
        assert_eq!(status("c"), "skipped");
        assert_eq!(status("d"), "skipped");
        assert_eq!(status("e"), "failed");
        assert_eq!(live.ended, Some(baton_store::RunStatus::Failed));
        assert_eq!(
            live.nodes[wf.index("b").unwrap()].output,
            Some(json!([1, 2]))
        );

        let replayed = RunState::replay("r", json!({}), &wf, all.iter().map(|(e, at)| (e, *at)));
        assert_eq!(replayed, live);
    }

    #[test]
    fn a_retry_timer_that_fires_early_or_after_the_run_stopped_does_nothing() {
        let wf = workflow(
            "name: w\nnodes:\n  a: { plugin: t@1, retry: { max_attempts: 3, initial_interval: 1s } }\n  b: { plugin: t@1 }\n",
        );
        let (a, b) = (wf.index("a").unwrap(), wf.index("b").unwrap());
        let mut state = RunState::new("r", json!({}), &wf);
        let mut s = Scheduler::new(&wf, &mut state, 0);
        s.decide();
        s.attempt_done(a, None, Phase::Run, 1, failed("retryable"), 0.0);
        let mut s = Scheduler::new(&wf, &mut state, 500);
        s.retry_due(a, None, Phase::Run);
        assert!(s.into_events().is_empty(), "not due yet");
        let mut s = Scheduler::new(&wf, &mut state, 600);
        s.attempt_done(b, None, Phase::Run, 1, failed("fatal"), 0.0);
        s.decide();
        let mut s = Scheduler::new(&wf, &mut state, 2000);
        s.retry_due(a, None, Phase::Run);
        assert!(
            !s.into_events()
                .iter()
                .any(|e| matches!(e, Event::AttemptStarted { .. }))
        );
        assert_eq!(state.ended, Some(baton_store::RunStatus::Failed));
    }
}

//! A run's state: the fold of its events. The same [`RunState::apply`] runs
//! live, as the scheduler emits events, and at start-up, replaying the stored
//! events of unfinished runs; so a resumed run is exactly where it stopped.

use baton_store::{Millis, Phase, RunStatus};
use serde_json::Value;

use crate::compiled::CompiledWorkflow;
use crate::event::{Ending, Event, Resolution, WaitReason};

/// Where a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStatus {
    /// Not started yet.
    Pending,
    /// A task with attempts running or due.
    Running,
    /// Waiting for an approval, a message, a signal or time.
    Waiting(WaitReason, Option<Millis>),
    /// Done, with output.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Not run.
    Skipped,
    /// Stopped because the run ended.
    Cancelled,
}

impl NodeStatus {
    /// Whether the node is done one way or another.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            NodeStatus::Succeeded
                | NodeStatus::Failed
                | NodeStatus::Skipped
                | NodeStatus::Cancelled
        )
    }

    /// Lowercase name, for CEL and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Pending => "pending",
            NodeStatus::Running => "running",
            NodeStatus::Waiting(..) => "waiting",
            NodeStatus::Succeeded => "succeeded",
            NodeStatus::Failed => "failed",
            NodeStatus::Skipped => "skipped",
            NodeStatus::Cancelled => "cancelled",
        }
    }
}

/// One execution (a task, a foreach item, or a compensation).
#[derive(Debug, Clone, PartialEq)]
pub enum ExecStatus {
    /// No attempt yet.
    NotStarted,
    /// An attempt is in flight.
    Running,
    /// The last attempt failed; the next is due then.
    RetryAt(Millis),
    /// Done.
    Succeeded(Value),
    /// Failed for good.
    Failed(String),
}

/// An execution's progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Exec {
    /// The current (or last) attempt; 0 before the first.
    pub attempt: u32,
    /// Where it is.
    pub status: ExecStatus,
    /// When the current attempt started.
    pub started_at: Millis,
    /// Attempts made before an operator's last retry: the retry policy
    /// counts only the attempts after it.
    pub base: u32,
}

impl Exec {
    /// The attempt number the retry policy sees: 1 for the first attempt
    /// since the node started or an operator retried it.
    pub fn policy_attempt(&self) -> u32 {
        self.attempt.saturating_sub(self.base)
    }
}

impl Default for Exec {
    fn default() -> Self {
        Self {
            attempt: 0,
            status: ExecStatus::NotStarted,
            started_at: 0,
            base: 0,
        }
    }
}

/// A node's progress.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeState {
    /// Where it is.
    pub status: NodeStatus,
    /// Its mapped input, once started.
    pub input: Option<Value>,
    /// Foreach item inputs.
    pub items: Option<Vec<Value>>,
    /// One execution, or one per item.
    pub execs: Vec<Exec>,
    /// Its output, once succeeded.
    pub output: Option<Value>,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// Its compensation, once started.
    pub compensation: Option<Exec>,
    /// The compensation's input.
    pub compensation_input: Option<Value>,
    /// An open incident: the node failed for good and the run is held.
    pub incident: bool,
    /// The config an operator's retry set, in place of the workflow's.
    pub config: Option<Value>,
    /// Whether it holds the locks it declares.
    pub locked: bool,
    /// The names of the locks it asked for.
    pub lock_names: Vec<String>,
}

impl Default for NodeState {
    fn default() -> Self {
        Self {
            status: NodeStatus::Pending,
            input: None,
            items: None,
            execs: Vec::new(),
            output: None,
            error: None,
            compensation: None,
            compensation_input: None,
            incident: false,
            config: None,
            locked: false,
            lock_names: Vec::new(),
        }
    }
}

impl NodeState {
    /// The execution for `item` in `phase`.
    pub fn exec(&self, item: Option<u32>, phase: Phase) -> Option<&Exec> {
        match phase {
            Phase::Compensate => self.compensation.as_ref(),
            Phase::Run => self.execs.get(item.unwrap_or(0) as usize),
        }
    }

    /// The execution for `item` in `phase`, to change it.
    pub fn exec_mut(&mut self, item: Option<u32>, phase: Phase) -> Option<&mut Exec> {
        match phase {
            Phase::Compensate => self.compensation.as_mut(),
            Phase::Run => self.execs.get_mut(item.unwrap_or(0) as usize),
        }
    }

    /// Every execution: the node's own (with its item, in a foreach node)
    /// and its compensation.
    pub fn all_execs(&self) -> impl Iterator<Item = (Option<u32>, Phase, &Exec)> {
        let foreach = self.items.is_some();
        let own = self
            .execs
            .iter()
            .enumerate()
            .map(move |(k, e)| (foreach.then_some(k as u32), Phase::Run, e));
        own.chain(
            self.compensation
                .iter()
                .map(|e| (None, Phase::Compensate, e)),
        )
    }
}

/// A run's whole state.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    /// The run id.
    pub run_id: String,
    /// The run input.
    pub input: Value,
    /// Per node, in the compiled workflow's order.
    pub nodes: Vec<NodeState>,
    /// Set once the run is ending.
    pub stopping: Option<(Ending, String)>,
    /// Set once the run is over.
    pub ended: Option<RunStatus>,
    /// Succeeded nodes, in completion order: compensation runs in reverse.
    pub completed: Vec<usize>,
    /// When the run started, for its deadline.
    pub started_at: Millis,
    /// The run's own locks: not asked for, waited for, or held.
    pub run_locks: RunLocks,
    /// The names of the run's own locks, once asked for.
    pub run_lock_names: Vec<String>,
}

/// Where a run is with the locks its workflow declares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunLocks {
    /// Not asked for yet.
    #[default]
    None,
    /// Asked for, waiting.
    Requested,
    /// Held: its nodes may start.
    Held,
}

impl RunState {
    /// A fresh run of `workflow`.
    pub fn new(run_id: &str, input: Value, workflow: &CompiledWorkflow) -> Self {
        Self {
            run_id: run_id.to_string(),
            input,
            nodes: vec![NodeState::default(); workflow.nodes.len()],
            stopping: None,
            ended: None,
            completed: Vec::new(),
            started_at: 0,
            run_locks: RunLocks::None,
            run_lock_names: Vec::new(),
        }
    }

    /// The run's status as the store shows it.
    pub fn status(&self) -> RunStatus {
        match self.ended {
            Some(status) => status,
            None if self.held() => RunStatus::Held,
            None => RunStatus::Running,
        }
    }

    /// Whether the run is held on an incident: a node failed for good and
    /// the run is not ending.
    pub fn held(&self) -> bool {
        self.ended.is_none() && self.stopping.is_none() && self.nodes.iter().any(|n| n.incident)
    }

    /// The lock requests that wait: `None` for the run's own, else the
    /// node's index.
    pub fn lock_waits(&self) -> impl Iterator<Item = Option<usize>> + '_ {
        std::iter::once(None)
            .chain((0..self.nodes.len()).map(Some))
            .filter(|&wait| self.waits_for_locks(wait))
    }

    /// Whether the run's own request (`None`) or node `i`'s waits.
    pub fn waits_for_locks(&self, node: Option<usize>) -> bool {
        match node {
            None => self.run_locks == RunLocks::Requested,
            Some(i) => self.nodes[i].status == NodeStatus::Waiting(WaitReason::Lock, None),
        }
    }

    /// Nodes with an open incident, in the compiled workflow's order.
    pub fn incidents(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.incident)
            .map(|(i, _)| i)
    }

    /// Apply one event. Events that name unknown nodes are ignored: they
    /// cannot come from this workflow version.
    pub fn apply(&mut self, workflow: &CompiledWorkflow, event: &Event, at: Millis) {
        let node = event.node().and_then(|n| workflow.index(n));
        let Some(i) = node else {
            match event {
                Event::RunStopping { ending, reason } => {
                    self.stopping = Some((*ending, reason.clone()))
                }
                Event::RunSucceeded { .. } => self.ended = Some(RunStatus::Succeeded),
                Event::RunFailed { .. } => self.ended = Some(RunStatus::Failed),
                Event::RunCancelled { .. } => self.ended = Some(RunStatus::Cancelled),
                Event::RunStarted { .. } => self.started_at = at,
                Event::LocksRequested {
                    node: None, locks, ..
                } => {
                    self.run_locks = RunLocks::Requested;
                    self.run_lock_names = locks.iter().map(|l| l.key.clone()).collect();
                }
                Event::LocksAcquired { node: None } => self.run_locks = RunLocks::Held,
                _ => {}
            }
            return;
        };
        let state = &mut self.nodes[i];
        match event {
            Event::NodeStarted { input, items, .. } => {
                state.status = NodeStatus::Running;
                state.input = Some(input.clone());
                state.execs = vec![Exec::default(); items.as_ref().map_or(1, Vec::len)];
                state.items = items.clone();
            }
            Event::AttemptStarted {
                item,
                phase,
                attempt,
                ..
            } => {
                if let Some(exec) = state.exec_mut(*item, *phase) {
                    exec.attempt = *attempt;
                    exec.status = ExecStatus::Running;
                    exec.started_at = at;
                }
            }
            Event::AttemptSucceeded {
                item,
                phase,
                output,
                ..
            } => {
                if let Some(exec) = state.exec_mut(*item, *phase) {
                    exec.status = ExecStatus::Succeeded(output.clone());
                }
            }
            Event::AttemptFailed {
                item,
                phase,
                error,
                retry_at,
                ..
            } => {
                if let Some(exec) = state.exec_mut(*item, *phase) {
                    exec.status = match retry_at {
                        Some(t) => ExecStatus::RetryAt(*t),
                        None => ExecStatus::Failed(error.clone()),
                    };
                }
            }
            Event::NodeWaiting { reason, until, .. } => {
                if state.status == NodeStatus::Pending {
                    state.input = Some(Value::Null);
                }
                state.status = NodeStatus::Waiting(*reason, *until);
            }
            Event::NodeSucceeded { step: Some(_), .. } => {
                // A folded pure step is the four events it stands for.
                for part in event.unfolded() {
                    self.apply(workflow, &part, at);
                }
            }
            Event::NodeSucceeded { output, .. } => {
                state.status = NodeStatus::Succeeded;
                state.output = Some(output.clone());
                self.completed.push(i);
            }
            Event::NodeFailed { error, .. } => {
                state.status = NodeStatus::Failed;
                state.error = Some(error.clone());
            }
            Event::NodeSkipped { reason, .. } => {
                state.status = NodeStatus::Skipped;
                state.error = Some(reason.clone());
            }
            Event::NodeCancelled { .. } => state.status = NodeStatus::Cancelled,
            Event::IncidentOpened { .. } => state.incident = true,
            Event::LocksRequested { locks, .. } => {
                state.status = NodeStatus::Waiting(WaitReason::Lock, None);
                state.lock_names = locks.iter().map(|l| l.key.clone()).collect();
            }
            Event::LocksAcquired { .. } => {
                state.status = NodeStatus::Pending;
                state.locked = true;
            }
            Event::IncidentResolved {
                action,
                config,
                input,
                ..
            } => {
                state.incident = false;
                if *action == Resolution::Retry {
                    state.error = None;
                    if let Some(config) = config {
                        state.config = Some(config.clone());
                    }
                    if let Some(input) = input {
                        state.input = Some(input.clone());
                        if state.execs.is_empty() {
                            state.execs = vec![Exec::default()];
                        }
                    }
                    if state.execs.is_empty() {
                        // It failed before any attempt (its input, or a
                        // wait's timeout): it begins again.
                        state.status = NodeStatus::Pending;
                        state.input = None;
                    } else {
                        state.status = NodeStatus::Running;
                        for exec in &mut state.execs {
                            if !matches!(exec.status, ExecStatus::Succeeded(_)) {
                                exec.status = ExecStatus::NotStarted;
                                exec.base = exec.attempt;
                            }
                        }
                    }
                }
            }
            Event::CompensationStarted { input, .. } => {
                state.compensation = Some(Exec::default());
                state.compensation_input = Some(input.clone());
            }
            Event::CompensationSucceeded { output, .. } => {
                if let Some(exec) = &mut state.compensation {
                    exec.status = ExecStatus::Succeeded(output.clone());
                }
            }
            Event::CompensationFailed { error, .. } => {
                if let Some(exec) = &mut state.compensation {
                    exec.status = ExecStatus::Failed(error.clone());
                }
            }
            _ => {}
        }
    }

    /// Rebuild a run from its stored events.
    pub fn replay<'e>(
        run_id: &str,
        input: Value,
        workflow: &CompiledWorkflow,
        events: impl IntoIterator<Item = (&'e Event, Millis)>,
    ) -> Self {
        let mut state = Self::new(run_id, input, workflow);
        for (event, at) in events {
            state.apply(workflow, event, at);
        }
        state
    }

    /// Task executions in flight, by (node, item, phase).
    pub fn in_flight(&self) -> Vec<(usize, Option<u32>, Phase, u32)> {
        self.nodes
            .iter()
            .enumerate()
            .flat_map(|(i, node)| {
                node.all_execs()
                    .filter(|(_, _, e)| e.status == ExecStatus::Running)
                    .map(move |(item, phase, e)| (i, item, phase, e.attempt))
            })
            .collect()
    }
}

//! The per-run actor. It owns the run's state and is the only writer of the
//! run's events. Its loop: take one input (an attempt ended, a timer fired,
//! an operator acted), let the scheduler decide, commit the events, and only
//! then act on them.
//!
//! The fast path: when all that follows from finished attempts is more pure
//! steps (tasks whose grants reach nothing outside the sandbox), the actor
//! starts them at once and keeps the events as `pending`. They are committed
//! with the next commit point (see [`RunActor::advance`]). Nothing outside
//! the actor sees them before then: events reach subscribers, and replies
//! reach callers, only from a commit.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use baton_connectors::mqtt::{Message, TopicFilter};
use baton_runtime::TaskContext;
use baton_store::{Millis, Phase, Transition, now_millis};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::compiled::CompiledWorkflow;
use crate::engine::Shared;
use crate::event::{Ending, Event, WaitReason};
use crate::executor::{self, AttemptSpec};

mod alarm;
mod child;
mod fast_path;
mod fold;
mod inline;
mod input;
mod locks;
mod projection;
mod unborn;
use crate::scheduler::{Outcome, Scheduler};
use crate::state::{ExecStatus, NodeStatus, RunState};
use crate::{Error, Result};
pub(crate) use fast_path::pure_event;
pub(crate) use projection::projection;

/// What can happen to a run from outside.
pub(crate) enum Input {
    Approval {
        node: String,
        approved: bool,
        actor: String,
        comment: Option<String>,
        reply: oneshot::Sender<Result<()>>,
    },
    Signal {
        name: String,
        payload: Value,
        actor: String,
        reply: oneshot::Sender<Result<()>>,
    },
    Cancel {
        actor: String,
        reason: String,
        reply: oneshot::Sender<Result<()>>,
    },
    Incident {
        node: String,
        fix: crate::scheduler::Fix,
        actor: String,
        reply: oneshot::Sender<Result<()>>,
    },
    Message {
        node: usize,
        message: Message,
    },
    /// The safety interlock was engaged: abort attempts that can actuate.
    Interlock,
    /// Lock requests of this run may have been granted: look.
    LocksChanged,
    /// Make sure the run is created, then reply: the caller is about to
    /// name it outside the process (see `unborn`).
    Create {
        reply: oneshot::Sender<Result<()>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Retry {
        node: usize,
        item: Option<u32>,
        phase: Phase,
    },
    Wait {
        node: usize,
    },
    /// The run's deadline.
    Deadline,
}

pub(super) struct Running {
    node: usize,
    item: Option<u32>,
    phase: Phase,
    attempt: u32,
    abort: tokio::task::AbortHandle,
    /// Whether its grants let it act on equipment (see `Grants::actuates`).
    actuates: bool,
    /// Set when the interlock aborted it, for the attempt's failure reason.
    interlocked: bool,
}

/// An event the actor decided on: who caused it (none when it is the
/// engine's own doing) and when, so that events batched into one commit keep
/// their own times.
#[derive(Debug, Clone)]
pub(crate) struct Decided {
    pub event: Event,
    pub by: Option<String>,
    pub at: Millis,
}

impl Decided {
    pub fn new(event: Event, at: Millis) -> Self {
        Self {
            event,
            by: None,
            at,
        }
    }
}

pub(crate) type Events = Vec<Decided>;

/// Most inputs folded into one commit, so a busy run still commits regularly.
const MAX_INPUTS_PER_COMMIT: usize = 256;

/// A wait's MQTT subscription task; stopped when dropped, so it cannot
/// outlive its run however the run ends.
struct Watcher(JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) struct RunActor {
    shared: Arc<Shared>,
    wf: Arc<CompiledWorkflow>,
    state: RunState,
    inbox: mpsc::UnboundedReceiver<Input>,
    me: mpsc::UnboundedSender<Input>,
    attempts: JoinSet<Outcome>,
    running: HashMap<tokio::task::Id, Running>,
    /// The pure attempt that finished in its first poll (see `inline`);
    /// only a run's sole attempt is polled so, so there is at most one.
    finished: Option<inline::Finished>,
    timers: BTreeSet<(Millis, Timer)>,
    watchers: HashMap<usize, Watcher>,
    replies: Vec<oneshot::Sender<Result<()>>>,
    /// Decided, applied and acted on, but not committed yet: pure steps.
    pending: Events,
    /// When `pending` must be committed by.
    flush_at: Option<tokio::time::Instant>,
    /// Rings at `flush_at`.
    flush: alarm::Alarm<tokio::time::Instant>,
    /// Rings when the first of `timers` is due.
    timer: alarm::Alarm<Millis>,
    /// The time the current decisions were made at; rows use it too, so one
    /// transition's times agree.
    now: Millis,
    /// The ownership this actor commits under.
    fence: baton_store::Fence,
    /// This run's attempts that hold it in the database.
    holds: Arc<crate::node::Holds>,
    /// Whether lock requests should be looked at now rather than at the
    /// next poll.
    locks_dirty: bool,
    /// The run, if its creation waits for its first commit (see `unborn`).
    unborn: Option<Box<baton_store::NewRun>>,
    /// The run as its last commit stored it, once known: handed to the
    /// callers waiting for its end, who need not read it back.
    record: Option<baton_store::RunRecord>,
}

impl RunActor {
    pub(crate) fn new(
        shared: Arc<Shared>,
        wf: Arc<CompiledWorkflow>,
        state: RunState,
        inbox: mpsc::UnboundedReceiver<Input>,
        me: mpsc::UnboundedSender<Input>,
        fence: baton_store::Fence,
    ) -> Self {
        Self {
            shared,
            wf,
            state,
            inbox,
            me,
            attempts: JoinSet::new(),
            running: HashMap::new(),
            finished: None,
            timers: BTreeSet::new(),
            watchers: HashMap::new(),
            replies: Vec::new(),
            pending: Vec::new(),
            flush_at: None,
            flush: alarm::Alarm::new(),
            timer: alarm::Alarm::new(),
            now: now_millis(),
            fence,
            holds: Arc::default(),
            locks_dirty: true,
            unborn: None,
            record: None,
        }
    }

    /// The actor of a run stored as `record`.
    pub(crate) fn stored(mut self, record: baton_store::RunRecord) -> Self {
        self.record = Some(record);
        self
    }

    /// Run a freshly created run from its first decided events: committed
    /// with its creation, or, when they are all a pure step's own (see
    /// [`fast_path::pure_event`]), kept for its next commit point.
    pub(crate) async fn start(mut self, first: Events, committed: bool) {
        self.arm_deadline();
        if committed {
            self.subscribe_waits(&first).await;
            self.act(&first);
        } else if self.advance(first, false).await.is_err() {
            return;
        }
        self.main_loop().await;
    }

    /// Resume a run rebuilt from its events after a restart.
    pub(crate) async fn resume(mut self) {
        self.arm_deadline();
        self.now = now_millis();
        let now = self.now;
        let mut events: Events = Vec::new();
        for (node, item, phase, attempt) in self.state.in_flight() {
            let event = Event::AttemptStarted {
                node: self.wf.nodes[node].id.clone(),
                item,
                phase,
                attempt,
                resumed: true,
            };
            self.state.apply(&self.wf, &event, now);
            events.push(Decided::new(event, now));
        }
        let mut mqtt_waits = Vec::new();
        for (i, node) in self.state.nodes.iter().enumerate() {
            for (item, phase, exec) in node.all_execs() {
                if let ExecStatus::RetryAt(at) = exec.status {
                    self.timers.insert((
                        at,
                        Timer::Retry {
                            node: i,
                            item,
                            phase,
                        },
                    ));
                }
            }
            if let NodeStatus::Waiting(reason, until) = node.status {
                if let Some(until) = until {
                    self.timers.insert((until, Timer::Wait { node: i }));
                }
                if reason == WaitReason::Mqtt {
                    mqtt_waits.push(i);
                }
            }
        }
        for i in mqtt_waits {
            self.watch(i).await;
        }
        events.extend(self.step(|_| ()).0);
        if self.commit_and_act(events).await.is_err() {
            return;
        }
        self.main_loop().await;
    }

    async fn main_loop(mut self) {
        while self.state.ended.is_none() {
            let next_timer = self.timers.first().map(|(at, _)| *at);
            self.timer.set(next_timer, |at| {
                let wait = (at - now_millis()).max(0) as u64;
                tokio::time::Instant::now() + Duration::from_millis(wait)
            });
            self.flush.set(self.flush_at, |at| at);
            let lock_poll = self.lock_poll();
            let locks = async {
                match lock_poll {
                    Some(after) => tokio::time::sleep(after).await,
                    None => std::future::pending().await,
                }
            };
            // Whether what happened must be committed before it is acted on:
            // anything from outside (an operator, a message) or a timer.
            let mut commit = false;
            let mut events = tokio::select! {
                () = std::future::ready(()), if self.finished.is_some() => {
                    self.inline_ended().await
                }
                Some(joined) = self.attempts.join_next_with_id(), if !self.attempts.is_empty() => {
                    self.attempt_ended(joined)
                }
                Some(input) = self.inbox.recv() => {
                    commit = true;
                    self.input(input)
                }
                () = self.timer.ring() => {
                    commit = true;
                    self.timer.clear();
                    self.fire_timers()
                }
                () = self.flush.ring() => {
                    commit = true;
                    Vec::new()
                }
                _ = locks => {
                    commit = true;
                    self.look_at_locks().await
                }
            };
            // Whatever else has already happened goes into the same commit:
            // a fan-out's items finishing together cost one transaction.
            for _ in 0..MAX_INPUTS_PER_COMMIT {
                if let Some(joined) = self.attempts.try_join_next_with_id() {
                    events.extend(self.attempt_ended(joined));
                } else if let Ok(input) = self.inbox.try_recv() {
                    commit = true;
                    events.extend(self.input(input));
                } else {
                    break;
                }
            }
            if self.advance(events, commit).await.is_err() {
                return;
            }
        }
        self.finish();
    }

    fn finish(&mut self) {
        self.watchers.clear();
        self.shared.forget(&self.state.run_id, self.record.as_ref());
        // Answer anything that arrived after the end.
        self.inbox.close();
        while let Ok(input) = self.inbox.try_recv() {
            let finished = || {
                Err(Error::Conflict(format!(
                    "run {} has finished",
                    self.state.run_id
                )))
            };
            match input {
                Input::Approval { reply, .. }
                | Input::Signal { reply, .. }
                | Input::Incident { reply, .. }
                | Input::Cancel { reply, .. } => {
                    let _ = reply.send(finished());
                }
                // An ended run is committed.
                Input::Create { reply } => {
                    let _ = reply.send(Ok(()));
                }
                Input::Message { .. } | Input::Interlock | Input::LocksChanged => {}
            }
        }
    }

    fn attempt_ended(
        &mut self,
        joined: std::result::Result<(tokio::task::Id, Outcome), tokio::task::JoinError>,
    ) -> Events {
        let (id, outcome) = match joined {
            Ok(done) => done,
            Err(e) => {
                let interlocked = self.running.get(&e.id()).is_some_and(|r| r.interlocked);
                let (kind, why) = match (e.is_cancelled(), interlocked) {
                    (true, true) => (
                        "interlock",
                        "aborted: the safety interlock was engaged while it ran",
                    ),
                    (true, false) => ("cancelled", "cancelled while running"),
                    (false, _) => ("internal", "the attempt's task panicked"),
                };
                (e.id(), executor::failed(kind, why.into()))
            }
        };
        let Some(r) = self.running.remove(&id) else {
            return Vec::new();
        };
        let jitter = rand::random::<f64>();
        self.step(|s| s.attempt_done(r.node, r.item, r.phase, r.attempt, outcome, jitter))
            .0
    }

    /// Decide now: `f` applies what happened, then the scheduler starts and
    /// finishes whatever follows. Returns the events, each tagged with no
    /// actor, and what `f` returned.
    fn step<R>(&mut self, f: impl FnOnce(&mut Scheduler<'_>) -> R) -> (Events, R) {
        self.now = now_millis();
        let mut s = Scheduler::new(&self.wf, &mut self.state, self.now);
        let result = f(&mut s);
        s.decide();
        let now = self.now;
        let events = s
            .into_events()
            .into_iter()
            .map(|e| Decided::new(e, now))
            .collect();
        (events, result)
    }

    fn fire_timers(&mut self) -> Events {
        let now = now_millis();
        let mut due = Vec::new();
        while let Some(&(at, timer)) = self.timers.first()
            && at <= now
        {
            self.timers.pop_first();
            due.push(timer);
        }
        self.step(|s| {
            for timer in due {
                match timer {
                    Timer::Retry { node, item, phase } => s.retry_due(node, item, phase),
                    Timer::Wait { node } => s.wait_timeout(node),
                    Timer::Deadline => {
                        if let Some(deadline) = s.deadline() {
                            s.deadline_passed(deadline)
                        }
                    }
                }
            }
        })
        .0
    }

    /// Abort every running attempt that can act on equipment; each ends as a
    /// failed attempt of kind `interlock`, which is never retried.
    fn abort_actuating(&mut self) {
        for r in self.running.values_mut() {
            if r.actuates && !r.interlocked {
                r.interlocked = true;
                r.abort.abort();
            }
        }
    }

    /// Commit, then act. An error means the store is gone (shutting down):
    /// the run stops here and resumes from its committed events next start.
    async fn commit_and_act(&mut self, events: Events) -> Result<()> {
        self.subscribe_waits(&events).await;
        self.commit(&events).await?;
        self.act(&events);
        Ok(())
    }

    /// Commit `events`, retrying until the store takes them, then answer the
    /// callers whose decisions they hold.
    async fn commit(&mut self, events: &Events) -> Result<()> {
        if !events.is_empty() {
            let mut backoff = Duration::from_millis(50);
            loop {
                // Built again only when a commit has to be retried.
                let transition = self.transition(events);
                let update = transition.run.clone();
                match self.store(transition).await {
                    Ok(at) => {
                        if let (Some(record), Some(update)) = (&mut self.record, &update) {
                            record.update(update, at);
                        }
                        break;
                    }
                    Err(baton_store::Error::Closed) => {
                        self.stop_all();
                        return Err(Error::ShuttingDown);
                    }
                    Err(baton_store::Error::Fenced(run)) => {
                        // Taken over: the new owner resumes from the last
                        // commit; nothing here may act or write again.
                        tracing::warn!(run = %run, epoch = self.fence.epoch, "run is owned by another node now; dropped here");
                        self.stop_all();
                        return Err(Error::Fenced(run));
                    }
                    Err(baton_store::Error::Conflict(why)) => {
                        // A run that could not be created (see `unborn`).
                        tracing::error!(run = %self.state.run_id, error = %why, "run dropped");
                        self.stop_all();
                        return Err(Error::Conflict(why));
                    }
                    Err(e) => {
                        // Nothing is acted on until the change is durable; keep trying.
                        tracing::error!(run = %self.state.run_id, error = %e, "could not commit; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
        if events
            .iter()
            .any(|d| matches!(d.event, Event::LocksRequested { .. }))
        {
            self.locks_dirty = true;
        }
        for reply in self.replies.drain(..) {
            let _ = reply.send(Ok(()));
        }
        Ok(())
    }

    fn stop_all(&mut self) {
        self.attempts.abort_all();
        self.watchers.clear();
        self.shared.forget(&self.state.run_id, None);
    }

    fn transition(&self, events: &[Decided]) -> Transition {
        let change = projection(&self.wf, &self.state, events);
        let ends = change
            .run
            .as_ref()
            .is_some_and(|run| run.status.is_terminal());
        Transition {
            fence: Some(self.fence.clone()),
            lazy: ends && self.unobserved_end(events),
            ..change
        }
    }

    /// Effects of committed events.
    fn act(&mut self, events: &[Decided]) {
        for Decided { event, .. } in events {
            match event {
                Event::AttemptStarted {
                    node,
                    item,
                    phase,
                    attempt,
                    ..
                } => {
                    if let Some(i) = self.wf.index(node) {
                        self.spawn_attempt(i, *item, *phase, *attempt);
                    }
                }
                Event::AttemptFailed {
                    node,
                    item,
                    phase,
                    retry_at: Some(at),
                    ..
                } => {
                    if let Some(i) = self.wf.index(node) {
                        let timer = Timer::Retry {
                            node: i,
                            item: *item,
                            phase: *phase,
                        };
                        self.timers.insert((*at, timer));
                    }
                }
                Event::NodeWaiting {
                    node,
                    until: Some(at),
                    ..
                } => {
                    if let Some(i) = self.wf.index(node) {
                        self.timers.insert((*at, Timer::Wait { node: i }));
                    }
                }
                Event::RunStopping {
                    ending: Ending::Cancelled,
                    reason,
                } => {
                    self.cancel_children(reason);
                    for r in self.running.values() {
                        if r.phase == Phase::Run {
                            // The JoinSet reports the abort as a cancelled attempt.
                            r.abort.abort();
                        }
                    }
                }
                Event::NodeSucceeded { node, .. }
                | Event::NodeFailed { node, .. }
                | Event::NodeSkipped { node, .. }
                | Event::NodeCancelled { node } => {
                    if let Some(i) = self.wf.index(node) {
                        self.watchers.remove(&i);
                    }
                }
                _ => {}
            }
        }
    }

    fn spawn_attempt(&mut self, i: usize, item: Option<u32>, phase: Phase, attempt: u32) {
        let node = &self.wf.nodes[i];
        let state = &self.state.nodes[i];
        let (task, input) = match phase {
            Phase::Run => (
                node.task.clone(),
                match (item, &state.items) {
                    (Some(k), Some(items)) => items.get(k as usize).cloned().unwrap_or(Value::Null),
                    _ => state.input.clone().unwrap_or(Value::Null),
                },
            ),
            Phase::Compensate => (
                node.compensate.clone(),
                state.compensation_input.clone().unwrap_or(Value::Null),
            ),
        };
        let Some(mut task) = task else {
            if phase == Phase::Run && node.def.kind == baton_workflow::NodeKind::Workflow {
                self.spawn_child(i, item, attempt, input);
            }
            return;
        };
        if let (Phase::Run, Some(config)) = (phase, &state.config) {
            // An operator's retry corrected it.
            task.config = config.to_string();
        }
        // `run/node`, and per foreach item or for the compensation its own key.
        let mut context = TaskContext::new(self.state.run_id.clone(), node.id.clone(), attempt);
        match (phase, item) {
            (Phase::Compensate, _) => context.idempotency_key.push_str("/compensate"),
            (Phase::Run, Some(k)) => context.idempotency_key.push_str(&format!("[{k}]")),
            (Phase::Run, None) => {}
        }
        let spec = AttemptSpec {
            task,
            context,
            input,
            limits: executor::limits(self.shared.runtime.default_limits(), &node.def),
            act_until: None,
        };
        let connectors = self.shared.runtime.connectors();
        let actuates = spec
            .task
            .grants
            .actuates(|c| connectors.mqtt_interlocked(c));
        let shared = self.shared.clone();
        // A pure attempt is polled here first (see `inline`), when it is
        // the run's only one: beside others (parallel branches, a foreach's
        // items) it is spawned, so that they share the cores.
        let inline = spec.task.pure && self.attempts.is_empty() && self.finished.is_none();
        // An attempt that can act starts only while this node surely owns
        // the run, for as long as the attempt may take.
        let guard = (!spec.task.pure).then(|| {
            (
                self.state.run_id.clone(),
                self.fence.clone(),
                spec.limits.timeout,
                self.holds.clone(),
            )
        });
        let work: inline::AttemptFuture = Box::pin(async move {
            let mut spec = spec;
            let mut _permit = None;
            if let Some((run, fence, timeout, holds)) = guard {
                match shared
                    .node
                    .guard(&shared.store, &run, &fence, timeout, &holds)
                    .await
                {
                    Ok(permit) => {
                        spec.act_until = permit.until;
                        _permit = Some(permit);
                    }
                    Err(e) => return executor::failed("fenced", e.to_string()),
                }
            }
            executor::execute(spec, &shared).await
        });
        let work = if inline {
            match inline::first_poll(work) {
                Ok(outcome) => {
                    self.finished = Some(inline::Finished {
                        node: i,
                        item,
                        phase,
                        attempt,
                        outcome,
                    });
                    return;
                }
                Err(waiting) => waiting,
            }
        } else {
            work
        };
        let abort = self.attempts.spawn(work);
        self.running.insert(
            abort.id(),
            Running {
                node: i,
                item,
                phase,
                attempt,
                abort,
                actuates,
                interlocked: false,
            },
        );
        // Engaged between the decision and now: this one must not act either.
        if actuates && self.shared.runtime.interlock_state().stored() {
            self.abort_actuating();
        }
    }

    /// Set the timer of the run's deadline, if its workflow has one.
    fn arm_deadline(&mut self) {
        if let Some(deadline) = self.wf.def.deadline {
            let at = self.state.started_at + deadline.as_millis() as i64;
            self.timers.insert((at, Timer::Deadline));
        }
    }

    /// Subscribe before a wait is committed, so that once it shows as
    /// waiting, a message published then releases it.
    async fn subscribe_waits(&mut self, events: &[Decided]) {
        for Decided { event, .. } in events {
            if let Event::NodeWaiting {
                node,
                reason: WaitReason::Mqtt,
                ..
            } = event
                && let Some(i) = self.wf.index(node)
                && !self.watchers.contains_key(&i)
            {
                self.watch(i).await;
            }
        }
    }

    async fn watch(&mut self, i: usize) {
        let Some(wait) = self.wf.nodes[i].def.mqtt.clone() else {
            return;
        };
        let Ok(filter) = wait.topic.parse::<TopicFilter>() else {
            return;
        };
        let Some(client) = self
            .shared
            .runtime
            .connectors()
            .mqtt(&wait.connection)
            .cloned()
        else {
            return;
        };
        let me = self.me.clone();
        let (ready_tx, ready_rx) = oneshot::channel();
        let handle = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut backoff = Duration::from_millis(200);
            loop {
                match client.clone().subscribe(filter.clone()).await {
                    Ok(mut rx) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                        backoff = Duration::from_millis(200);
                        while let Some(message) = rx.recv().await {
                            if !message.retain && filter.matches(&message.topic) {
                                let _ = me.send(Input::Message { node: i, message });
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                        tracing::warn!(topic = %filter, error = %e, "wait node cannot subscribe yet; retrying");
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        });
        // Wait for the first subscription (or its failure), not for a message.
        let _ = tokio::time::timeout(Duration::from_secs(5), ready_rx).await;
        self.watchers.insert(i, Watcher(handle));
    }
}

//! The fast path of a run: which events may wait for a later commit, and
//! going on from them without one (see the parent module).

use crate::Result;
use crate::compiled::CompiledWorkflow;
use crate::event::Event;
use baton_store::Phase;

use super::{Events, RunActor};

impl RunActor {
    /// Go on from `events`, which are decided and applied. They are kept
    /// uncommitted, and acted on at once, only if `commit` is false and each
    /// is one of a pure step's own: an attempt of a pure task starting or
    /// ending without a retry to wait for, a node starting, finishing or
    /// being skipped, the run stopping or compensating. Anything else is a
    /// commit point, and so is an idle actor: a wait, a timer, a step that
    /// holds a grant, the run's end, an operator's action or a message.
    /// The result of a step that holds a grant is committed as soon as the
    /// pure steps after it have started, so they overlap its commit.
    pub(super) async fn advance(&mut self, events: Events, commit: bool) -> Result<()> {
        let fast = self.shared.fast_path;
        let defer = fast.enabled
            && !commit
            && self.replies.is_empty()
            && self.pending.len() + events.len() <= fast.max_events
            && events.iter().all(|d| self.pure_event(&d.event));
        if !defer {
            let mut all = std::mem::take(&mut self.pending);
            let acted = all.len();
            all.extend(events);
            self.flush_at = None;
            self.subscribe_waits(&all[acted..]).await;
            self.commit(&all).await?;
            self.act(&all[acted..]);
            return Ok(());
        }
        if events.is_empty() {
            return Ok(());
        }
        let now = tokio::time::Instant::now();
        let effect_ended = events.iter().any(|d| self.effect_ended(&d.event));
        let due = if effect_ended {
            now
        } else {
            now + fast.max_delay
        };
        self.flush_at = Some(self.flush_at.map_or(due, |at| at.min(due)));
        self.act(&events);
        self.pending.extend(events);
        if self.attempts.is_empty() && self.finished.is_none() {
            // Nothing is left to wake the actor but the outside world.
            let all = std::mem::take(&mut self.pending);
            self.flush_at = None;
            self.commit(&all).await?;
        }
        Ok(())
    }

    /// Whether the commit of `events`, which ends the run, may wait a few
    /// milliseconds for another's (see `baton_store::Transition::lazy`):
    /// nothing in it ends an attempt of a step that holds a grant, the
    /// workflow takes no locks that others could be waiting for, and nobody
    /// waits for the end: no `?wait=` caller or parent run, no operator's
    /// action. A crash before the commit reruns only pure steps.
    pub(super) fn unobserved_end(&self, events: &[super::Decided]) -> bool {
        self.shared.fast_path.enabled
            && !self.wf.any_locks
            && self.replies.is_empty()
            && self.unborn.is_none()
            && !events.iter().any(|d| self.effect_ended(&d.event))
            && !self.shared.awaited(&self.state.run_id)
    }

    /// Whether `event` may wait for a later commit (see [`Self::advance`]).
    fn pure_event(&self, event: &Event) -> bool {
        pure_event(&self.wf, event)
    }

    /// Whether `event` ends an attempt of a step that holds a grant.
    fn effect_ended(&self, event: &Event) -> bool {
        match event {
            Event::AttemptSucceeded { node, phase, .. }
            | Event::AttemptFailed { node, phase, .. } => {
                task(&self.wf, node, *phase).is_some_and(|t| !t.pure)
            }
            _ => false,
        }
    }
}

/// The task of `node` in `phase`, if it has one.
fn task<'a>(
    wf: &'a CompiledWorkflow,
    node: &str,
    phase: Phase,
) -> Option<&'a crate::compiled::Task> {
    let node = &wf.nodes[wf.index(node)?];
    match phase {
        Phase::Run => node.task.as_ref(),
        Phase::Compensate => node.compensate.as_ref(),
    }
}

/// Whether `event` may wait for a later commit (see [`RunActor::advance`]):
/// one of a pure step's own.
pub(crate) fn pure_event(wf: &CompiledWorkflow, event: &Event) -> bool {
    match event {
        Event::AttemptStarted { node, phase, .. } => task(wf, node, *phase).is_some_and(|t| t.pure),
        Event::AttemptFailed { retry_at, .. } => retry_at.is_none(),
        Event::NodeStarted { .. }
        | Event::AttemptSucceeded { .. }
        | Event::NodeSucceeded { .. }
        | Event::NodeFailed { .. }
        | Event::NodeSkipped { .. }
        | Event::NodeCancelled { .. }
        | Event::RunStopping { .. }
        | Event::CompensationStarted { .. }
        | Event::CompensationSucceeded { .. }
        | Event::CompensationFailed { .. } => true,
        Event::RunStarted { .. }
        | Event::IncidentOpened { .. }
        | Event::IncidentResolved { .. }
        | Event::LocksRequested { .. }
        | Event::LocksAcquired { .. }
        | Event::NodeWaiting { .. }
        | Event::NodeApproved { .. }
        | Event::NodeRejected { .. }
        | Event::NodeTimedOut { .. }
        | Event::RunSucceeded { .. }
        | Event::RunFailed { .. }
        | Event::RunCancelled { .. } => false,
    }
}

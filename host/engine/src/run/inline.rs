//! Pure attempts polled first in the run's own task. A pure task that needs
//! nothing from outside its sandbox usually finishes in its first poll:
//! then it never becomes a task of its own, and a step costs no spawn and
//! no wake-up of another thread, which on a chain of small transforms is
//! most of the engine's cost per step. An attempt that has to wait (for a
//! slot, or at an epoch tick of a long computation) is spawned from where
//! it stopped, and runs on as any other.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use baton_store::Phase;

use super::{Events, RunActor};
use crate::executor;
use crate::scheduler::Outcome;

/// An attempt's future, to poll here or to spawn.
pub(super) type AttemptFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// Which attempt finished in its first poll, and how.
pub(super) struct Finished {
    pub node: usize,
    pub item: Option<u32>,
    pub phase: Phase,
    pub attempt: u32,
    pub outcome: Outcome,
}

/// Poll `attempt` once. Its outcome if it finished (a panic is a failed
/// attempt, as in a spawned task), or the attempt, to spawn.
pub(super) fn first_poll(mut attempt: AttemptFuture) -> Result<Outcome, AttemptFuture> {
    // Whatever it registers with this waker it registers again when the
    // spawned task polls it next, which spawning guarantees.
    let mut cx = Context::from_waker(Waker::noop());
    match std::panic::catch_unwind(AssertUnwindSafe(|| attempt.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(outcome)) => Ok(outcome),
        Ok(Poll::Pending) => Err(attempt),
        Err(_) => Ok(executor::failed("internal", "the attempt panicked".into())),
    }
}

impl RunActor {
    /// The events that follow from the attempt that finished in its first
    /// poll. Each costs a unit of the task's cooperative budget, so that a
    /// long chain of them still lets the other tasks of this worker run.
    pub(super) async fn inline_ended(&mut self) -> Events {
        tokio::task::consume_budget().await;
        let Some(f) = self.finished.take() else {
            return Events::new();
        };
        let jitter = rand::random::<f64>();
        self.step(|s| s.attempt_done(f.node, f.item, f.phase, f.attempt, f.outcome, jitter))
            .0
    }
}

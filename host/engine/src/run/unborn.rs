//! A run whose creation waits for its first commit point.
//!
//! A caller that waits for a run's end (`?wait=`) is told nothing until
//! then, so nothing outside the process learns of the run before its first
//! commit point either. When nothing could refuse its creation (no
//! idempotency key, no unique key, no locks, not a child run), the run is
//! created in that commit, with everything decided before it. A chain of
//! pure steps then costs one commit in all: its creation, its steps and its
//! end together.
//!
//! Until then the run exists only in this actor. If the process stops
//! before, the run was never created, and its caller was never answered.

use baton_store::{Created, Millis, NewRun, RunRecord, Transition};

use super::{Events, RunActor};

impl RunActor {
    /// Run `run`, not yet created, from `events`: its `run_started` and the
    /// scheduler's first decisions, already applied to the state.
    pub(crate) async fn start_unborn(mut self, run: NewRun, mut events: Events) {
        self.unborn = Some(Box::new(run));
        self.arm_deadline();
        let first = events.split_off(1.min(events.len()));
        // `run_started` has nothing to act on: it waits as if acted on.
        self.pending = events;
        // Nothing to start would leave nothing to wake the actor.
        let commit = first.is_empty();
        if self.advance(first, commit).await.is_err() {
            return;
        }
        self.main_loop().await;
    }

    /// Write `transition`: with the run's creation if it is not created
    /// yet, and then it is. Returns the time the commit stored.
    pub(super) async fn store(&mut self, transition: Transition) -> baton_store::Result<Millis> {
        let Some(run) = &self.unborn else {
            return self.shared.store.commit_at(transition).await;
        };
        match self
            .shared
            .store
            .create_run_at((**run).clone(), transition)
            .await?
        {
            (Created::New(_), at) => {
                self.record = Some(RunRecord::created(run, at));
                self.unborn = None;
                Ok(at)
            }
            // Ruled out before the run went unborn: a refusal stops it.
            (refused, _) => Err(baton_store::Error::Conflict(format!(
                "run {} could not be created: {refused:?}",
                run.id
            ))),
        }
    }
}

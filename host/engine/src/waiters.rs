//! Callers waiting for a run to end (`?wait=`): each gets one signal when
//! the run's end is committed, rather than every caller reading every
//! committed event. The signal carries the run as its end stored it, when
//! the actor knows it, so that the caller need not read it back.

use std::collections::HashMap;
use std::sync::Mutex;

use baton_store::RunRecord;
use tokio::sync::oneshot;

/// What a waiter is told: the ended run as committed, or nothing when the
/// actor stopped without knowing it (the caller then reads the store).
pub(crate) type Ended = Option<Box<RunRecord>>;

type Waiting = HashMap<String, Vec<oneshot::Sender<Ended>>>;

#[derive(Default)]
pub(crate) struct Waiters {
    waiting: Mutex<Waiting>,
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A signal that fires once run `run_id` has ended (or its actor has
    /// stopped without ending it: the receiver then gets `None`, or sees
    /// the sender dropped).
    pub(crate) fn register(&self, run_id: &str) -> oneshot::Receiver<Ended> {
        let (tx, rx) = oneshot::channel();
        self.lock().entry(run_id.to_string()).or_default().push(tx);
        rx
    }

    /// Run `run_id` has stopped on this engine; wake whoever waits for it,
    /// handing each the run as committed if `ended` has it.
    pub(crate) fn wake(&self, run_id: &str, ended: Option<&RunRecord>) {
        let Some(waiting) = self.lock().remove(run_id) else {
            return;
        };
        for tx in waiting {
            let _ = tx.send(ended.map(|r| Box::new(r.clone())));
        }
    }

    /// Whether anyone waits for run `run_id` to end.
    pub(crate) fn awaited(&self, run_id: &str) -> bool {
        self.lock()
            .get(run_id)
            .is_some_and(|list| list.iter().any(|tx| !tx.is_closed()))
    }

    /// Drop the signals of callers that gave up on run `run_id`.
    pub(crate) fn prune(&self, run_id: &str) {
        let mut waiting = self.lock();
        if let Some(list) = waiting.get_mut(run_id) {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                waiting.remove(run_id);
            }
        }
    }

    /// How many callers are waiting, for tests.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_waiter_is_woken_once_and_given_up_waiters_are_dropped() {
        let waiters = Waiters::default();
        let a = waiters.register("r1");
        let b = waiters.register("r1");
        let gone = waiters.register("r2");
        drop(gone);
        waiters.prune("r2");
        assert_eq!(waiters.len(), 2);
        waiters.wake("r1", None);
        assert_eq!(a.await.ok(), Some(None));
        assert_eq!(b.await.ok(), Some(None));
        assert_eq!(waiters.len(), 0);
    }

    #[tokio::test]
    async fn an_ended_run_is_handed_to_each_waiter() {
        let waiters = Waiters::default();
        let a = waiters.register("r1");
        let b = waiters.register("r1");
        let other = waiters.register("r2");
        let run = baton_store::NewRun {
            id: "r1".into(),
            workflow: "w".into(),
            version: 1,
            input: serde_json::json!({"v": 1}),
            idempotency_key: None,
            trigger: "api".into(),
            audit: None,
            owner: None,
            key: None,
            unique_key: false,
            parent: None,
            depth: 0,
        };
        let record = RunRecord::created(&run, 7);
        waiters.wake("r1", Some(&record));
        assert_eq!(a.await.ok().flatten().map(|r| *r), Some(record.clone()));
        assert_eq!(b.await.ok().flatten().map(|r| *r), Some(record));
        // Another run's waiter is not woken.
        assert_eq!(waiters.len(), 1);
        drop(other);
    }

    #[test]
    fn a_run_is_awaited_while_a_caller_still_waits_for_it() {
        let waiters = Waiters::default();
        assert!(!waiters.awaited("r1"));
        let a = waiters.register("r1");
        assert!(waiters.awaited("r1"));
        assert!(!waiters.awaited("r2"), "only the run waited for");
        // A caller that gave up no longer counts, even before a prune.
        drop(a);
        assert!(!waiters.awaited("r1"));
    }
}

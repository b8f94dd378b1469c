//! Callers waiting for a run to end (`?wait=`): each gets one signal when
//! the run's end is committed, rather than every caller reading every
//! committed event.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

#[derive(Default)]
pub(crate) struct Waiters {
    waiting: Mutex<HashMap<String, Vec<oneshot::Sender<()>>>>,
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<oneshot::Sender<()>>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A signal that fires once run `run_id` has ended (or its actor has
    /// stopped without ending it: the receiver then sees the sender dropped).
    pub(crate) fn register(&self, run_id: &str) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.lock().entry(run_id.to_string()).or_default().push(tx);
        rx
    }

    /// Run `run_id` has stopped on this engine; wake whoever waits for it.
    pub(crate) fn wake(&self, run_id: &str) {
        if let Some(waiting) = self.lock().remove(run_id) {
            for tx in waiting {
                let _ = tx.send(());
            }
        }
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
        waiters.wake("r1");
        assert!(a.await.is_ok());
        assert!(b.await.is_ok());
        assert_eq!(waiters.len(), 0);
    }
}

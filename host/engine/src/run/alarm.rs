//! A timer the run's loop keeps from one turn to the next. A fresh `sleep`
//! made on every turn registers a new timer entry each time, and each
//! registration wakes the runtime's timer driver on another thread: on a
//! chain of pure steps that was a thread wake-up per step. A kept timer is
//! registered again only when its deadline moves.

use std::pin::Pin;

use tokio::time::{Instant, Sleep};

/// A deadline, set by a key (the time it stands for) that is compared
/// before the timer is touched.
pub(super) struct Alarm<K> {
    sleep: Pin<Box<Sleep>>,
    key: Option<K>,
}

impl<K: Copy + PartialEq> Alarm<K> {
    pub(super) fn new() -> Self {
        Self {
            // Not registered until it is first polled, and it is polled
            // only once set.
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            key: None,
        }
    }

    /// Ring at `deadline(key)`, or never for `None`; unchanged if `key` is.
    pub(super) fn set(&mut self, key: Option<K>, deadline: impl FnOnce(K) -> Instant) {
        if key != self.key {
            if let Some(k) = key {
                self.sleep.as_mut().reset(deadline(k));
            }
            self.key = key;
        }
    }

    /// Forget the key, so that the next [`Alarm::set`] computes the
    /// deadline again: after it rang for a time that, by the wall clock,
    /// had not quite come.
    pub(super) fn clear(&mut self) {
        self.key = None;
    }

    /// Resolves once the deadline has passed; never while unset.
    pub(super) async fn ring(&mut self) {
        match self.key {
            Some(_) => self.sleep.as_mut().await,
            None => std::future::pending().await,
        }
    }
}

//! The safety interlock as this process knows it.
//!
//! On one node the state is what was last set here. When several nodes share
//! a database, another node may engage it: this node then counts the state
//! as known only until a bounded time after it last read it from the store
//! ([`Interlock::confirm`]). Past that, the interlock counts as engaged: a
//! node that cannot confirm the state denies actuation (fail safe). An
//! actuation that finds the state unconfirmed waits a moment
//! ([`CONFIRM_WAIT`]) for a late read before it is denied.

/// Longest an actuation waits for the interlock state to be confirmed.
pub const CONFIRM_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The interlock state and how long it is known for.
#[derive(Debug)]
pub struct Interlock {
    engaged: AtomicBool,
    /// Milliseconds after `base` until which `engaged` is known to be
    /// current; `u64::MAX` when nothing else can change it.
    known_until: AtomicU64,
    base: Instant,
}

impl Default for Interlock {
    fn default() -> Self {
        Self {
            engaged: AtomicBool::new(false),
            known_until: AtomicU64::new(u64::MAX),
            base: Instant::now(),
        }
    }
}

impl Interlock {
    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether actuation is denied: the interlock is engaged, or its state is
    /// not confirmed.
    pub fn engaged(&self) -> bool {
        self.engaged.load(Ordering::SeqCst) || !self.confirmed()
    }

    /// Whether the state is known to be current.
    pub fn confirmed(&self) -> bool {
        self.millis(Instant::now()) < self.known_until.load(Ordering::SeqCst)
    }

    /// Whether it was engaged, as last set or read, whatever its confirmation.
    pub fn stored(&self) -> bool {
        self.engaged.load(Ordering::SeqCst)
    }

    /// Whether actuation may go ahead now: not engaged, and confirmed, or
    /// confirmed again within `wait` (a read of the stored state that is
    /// late, say on a loaded node). Engaged, or still unconfirmed after
    /// `wait`: denied.
    pub async fn allows(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if self.stored() {
                return false;
            }
            if self.confirmed() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Set the state here.
    pub fn set(&self, engaged: bool) {
        self.engaged.store(engaged, Ordering::SeqCst);
    }

    /// From now on the state must be confirmed: other processes can change it.
    pub fn require_confirmation(&self) {
        self.known_until.store(0, Ordering::SeqCst);
    }

    /// The state was read as `engaged` by a read sent at `sent`; it counts
    /// as known for `for_` after `sent`.
    pub fn confirm(&self, engaged: bool, sent: Instant, for_: Duration) {
        self.engaged.store(engaged, Ordering::SeqCst);
        let until = self.millis(sent + for_);
        if self.known_until.load(Ordering::SeqCst) != u64::MAX {
            self.known_until.store(until, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unconfirmed_state_counts_as_engaged() {
        let i = Interlock::default();
        assert!(!i.engaged(), "one node: known until set otherwise");
        i.require_confirmation();
        assert!(i.engaged(), "never confirmed");
        i.confirm(false, Instant::now(), Duration::from_millis(200));
        assert!(!i.engaged());
        std::thread::sleep(Duration::from_millis(260));
        assert!(i.engaged(), "the confirmation ran out");
        assert!(!i.stored());
        i.confirm(true, Instant::now(), Duration::from_secs(5));
        assert!(i.engaged() && i.confirmed());
    }

    #[tokio::test]
    async fn a_late_confirmation_is_waited_for_and_an_engaged_one_is_not() {
        let i = std::sync::Arc::new(Interlock::default());
        i.require_confirmation();
        assert!(
            !i.allows(Duration::from_millis(30)).await,
            "never confirmed"
        );
        let late = i.clone();
        let confirming = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            late.confirm(false, Instant::now(), Duration::from_secs(1));
        });
        assert!(
            i.allows(Duration::from_millis(500)).await,
            "confirmed within the wait"
        );
        confirming.await.unwrap();
        i.confirm(true, Instant::now(), Duration::from_secs(1));
        assert!(!i.allows(Duration::from_millis(500)).await);
    }
}

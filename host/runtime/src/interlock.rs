//! The safety interlock as this process knows it.
//!
//! On one node the state is what was last set here. When several nodes share
//! a database, another node may engage it: this node then counts the state
//! as known only until a bounded time after it last read it from the store
//! ([`Interlock::confirm`]). Past that, the interlock counts as engaged: a
//! node that cannot confirm the state denies actuation (fail safe).

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
        self.millis(Instant::now()) <= self.known_until.load(Ordering::SeqCst)
    }

    /// Whether it was engaged, as last set or read, whatever its confirmation.
    pub fn stored(&self) -> bool {
        self.engaged.load(Ordering::SeqCst)
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
}

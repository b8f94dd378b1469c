//! Read-through caches for what every request reads and almost nothing
//! changes: token lookups and the newest version of each workflow.
//!
//! This process's own changes (a revoke, an apply) clear the cache at once.
//! A change made by another process on the same database is seen within
//! [`TTL`]. A lookup that raced with a clear does not refill the cache with
//! what it read before the clear: each entry is kept only if no clear
//! happened while it was being read.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an entry is trusted without reading the database again.
pub const TTL: Duration = Duration::from_secs(2);

/// Most entries kept; past it the cache starts over.
const MAX_ENTRIES: usize = 10_000;

pub(crate) struct Cache<K, V> {
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    entries: HashMap<K, (V, Instant)>,
    /// Counts clears, so a read that started before one is not kept.
    generation: u64,
}

/// What a lookup needs to fill the cache once it has read the database.
pub(crate) struct Ticket(u64);

impl<K: Hash + Eq, V: Clone> Default for Cache<K, V> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                generation: 0,
            }),
        }
    }
}

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fresh entry for `key`, or a ticket to fill it with.
    pub(crate) fn get<Q>(&self, key: &Q) -> Result<V, Ticket>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = self.lock();
        match inner.entries.get(key) {
            Some((value, at)) if at.elapsed() < TTL => Ok(value.clone()),
            _ => Err(Ticket(inner.generation)),
        }
    }

    /// Keep `value`, read after `ticket` was issued, unless the cache was
    /// cleared since.
    pub(crate) fn fill(&self, ticket: Ticket, key: K, value: V) {
        let mut inner = self.lock();
        if inner.generation != ticket.0 {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(key, (value, Instant::now()));
    }

    /// Forget everything: something it may hold has changed.
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_started_before_a_clear_is_not_kept() {
        let cache: Cache<String, i64> = Cache::default();
        let Err(ticket) = cache.get("a") else {
            panic!("empty cache")
        };
        cache.clear();
        cache.fill(ticket, "a".into(), 1);
        assert!(cache.get("a").is_err(), "a stale read refilled the cache");
        let Err(ticket) = cache.get("a") else {
            panic!("still empty")
        };
        cache.fill(ticket, "a".into(), 2);
        assert_eq!(cache.get("a").ok(), Some(2));
        cache.clear();
        assert!(cache.get("a").is_err());
    }
}

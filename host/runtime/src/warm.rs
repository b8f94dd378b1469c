//! Instances of pure tasks made ready ahead of their attempts.
//!
//! An attempt of a task with no grants (no PLC, MQTT or HTTP entry, no
//! scratch directory) can only compute. Its store and instance do not
//! depend on the attempt's input, so they can be built before it: while one
//! step of a chain runs, the next one's instance is instantiated on another
//! core, and the store of the step that ended is dropped there too. Each
//! instance still serves exactly one attempt. It is taken out of the pool
//! before its `run` is called, and only ever run once, so no attempt sees
//! anything another left behind: what it finds is what instantiation made.
//!
//! The pool holds at most [`crate::RuntimeConfig::warm_instances`] instances
//! in all, and at most [`PER_KIND`] for one plugin with one set of limits.
//! Each holds a pooled instance slot. An instance is made only after an
//! attempt of its kind, so a plugin that is not in use holds none.

use std::sync::{Mutex, MutexGuard};

use wasmtime::Store;

use crate::Limits;
use crate::bindings::{Task, TaskPre};
use crate::runtime::Pipes;
use crate::state::TaskState;

/// Most ready instances of one plugin with one set of limits: enough for
/// a chain, where the next step's instance is made while one runs.
pub(crate) const PER_KIND: usize = 2;

/// A store with its instance, instantiated and never run.
pub(crate) struct Warm {
    pub(crate) store: Store<TaskState>,
    pub(crate) pipes: Pipes,
    pub(crate) task: Task,
}

struct Ready {
    digest: String,
    limits: Limits,
    warm: Warm,
}

/// The ready instances.
pub(crate) struct WarmPool {
    ready: Mutex<Vec<Ready>>,
    capacity: usize,
}

impl WarmPool {
    pub(crate) fn new(capacity: u32) -> Self {
        Self {
            ready: Mutex::new(Vec::new()),
            capacity: usize::try_from(capacity).unwrap_or(usize::MAX),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Ready>> {
        // Only pushes and removals happen under the lock.
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether instances are kept at all.
    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// A ready instance of plugin `digest` built for `limits`, taken out of
    /// the pool.
    pub(crate) fn take(&self, digest: &str, limits: &Limits) -> Option<Warm> {
        let mut ready = self.lock();
        let i = ready
            .iter()
            .position(|r| r.digest == digest && r.limits == *limits)?;
        Some(ready.swap_remove(i).warm)
    }

    /// Whether one more instance of this kind would be kept.
    pub(crate) fn wants(&self, digest: &str, limits: &Limits) -> bool {
        let ready = self.lock();
        ready.len() < self.capacity
            && ready
                .iter()
                .filter(|r| r.digest == digest && r.limits == *limits)
                .count()
                < PER_KIND
    }

    /// Keep `warm`, unless the pool filled up meanwhile (it is dropped then).
    pub(crate) fn put(&self, digest: String, limits: Limits, warm: Warm) {
        if !self.wants(&digest, &limits) {
            return;
        }
        self.lock().push(Ready {
            digest,
            limits,
            warm,
        });
    }

    /// Drop every ready instance, e.g. because what stores are built with
    /// (the redactor) changed.
    pub(crate) fn clear(&self) {
        let taken = std::mem::take(&mut *self.lock());
        drop(taken);
    }

    /// How many instances are ready now.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Instantiate `pre` in `store`, within `limits.timeout`.
pub(crate) async fn instantiate(
    pre: &TaskPre<TaskState>,
    mut store: Store<TaskState>,
    pipes: Pipes,
    limits: &Limits,
) -> Option<Warm> {
    let task = tokio::time::timeout(limits.timeout, pre.instantiate_async(&mut store))
        .await
        .ok()?
        .ok()?;
    Some(Warm { store, pipes, task })
}

//! Decisions about locks: asking for a run's or a node's locks, and going
//! on once the store grants them (or refuses them, with `on_conflict:
//! reject`).

use baton_workflow::expr::Scope;

use super::Scheduler;
use crate::compiled::{input_scope, lock_keys};
use crate::event::Event;
use crate::state::RunLocks;

impl Scheduler<'_> {
    /// Whether the run holds its own locks (or needs none); if not, they
    /// are asked for once, and no node starts until they are granted.
    pub(super) fn run_locked(&mut self) -> bool {
        if self.wf.locks.is_empty() || self.state.run_locks == RunLocks::Held {
            return true;
        }
        if self.state.run_locks == RunLocks::None {
            match lock_keys(&self.wf.locks, &input_scope(&self.state.input)) {
                Ok((locks, reject)) => self.emit(Event::LocksRequested {
                    node: None,
                    locks,
                    reject,
                }),
                Err(e) => {
                    self.fail_run(e);
                    self.stop();
                }
            }
        }
        false
    }

    /// Node `i` is ready: ask for its locks before it begins.
    pub(super) fn request_node_locks(&mut self, i: usize, scope: &Scope) {
        let node = self.id(i);
        match lock_keys(&self.wf.nodes[i].locks, scope) {
            Ok((locks, reject)) => self.emit(Event::LocksRequested {
                node: Some(node),
                locks,
                reject,
            }),
            Err(e) => self.fail_node(i, e),
        }
    }

    /// The store granted the locks of the run (`None`) or of node `i`.
    pub fn locks_granted(&mut self, node: Option<usize>) {
        if !self.state.waits_for_locks(node) {
            return;
        }
        let node = node.map(|i| self.id(i));
        self.emit(Event::LocksAcquired { node });
    }

    /// The store refused a `reject` request: a lock it names is taken.
    pub fn locks_refused(&mut self, node: Option<usize>) {
        if !self.state.waits_for_locks(node) {
            return;
        }
        let names = match node {
            Some(i) => &self.state.nodes[i].lock_names,
            None => &self.state.run_lock_names,
        };
        let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let why = format!(
            "lock {} is taken or has a queue, and `on_conflict: reject` refuses to wait",
            names.join(", ")
        );
        match node {
            Some(i) => self.fail_node(i, why),
            None => self.fail_run(format!("the run could not start: {why}")),
        }
    }
}

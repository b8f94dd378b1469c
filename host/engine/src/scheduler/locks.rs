//! Decisions about locks: asking for a run's or a node's locks, and going
//! on once the store grants them (or refuses them, with `on_conflict:
//! reject`).

use baton_workflow::expr::Scope;
use serde_json::{Map, Value};

use super::Scheduler;
use crate::compiled::lock_keys;
use crate::event::{Event, WaitReason};
use crate::state::{NodeStatus, RunLocks};

impl Scheduler<'_> {
    /// Whether the run holds its own locks (or needs none); if not, they
    /// are asked for once, and no node starts until they are granted.
    pub(super) fn run_locked(&mut self) -> bool {
        if self.wf.locks.is_empty() || self.state.run_locks == RunLocks::Held {
            return true;
        }
        if self.state.run_locks == RunLocks::None {
            let scope = Scope {
                input: self.state.input.clone(),
                nodes: Value::Object(Map::new()),
                item: None,
            };
            match lock_keys(&self.wf.locks, &scope) {
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

    /// Which lock requests wait: `None` for the run's own, else the node.
    pub fn lock_waits(&self) -> Vec<Option<usize>> {
        let run = (self.state.run_locks == RunLocks::Requested).then_some(None);
        let nodes = self
            .state
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.status == NodeStatus::Waiting(WaitReason::Lock, None))
            .map(|(i, _)| Some(i));
        run.into_iter().chain(nodes).collect()
    }

    /// The store granted the locks of the run (`None`) or of node `i`.
    pub fn locks_granted(&mut self, node: Option<usize>) {
        if !self.lock_waits().contains(&node) {
            return;
        }
        let node = node.map(|i| self.id(i));
        self.emit(Event::LocksAcquired { node });
    }

    /// The store refused a `reject` request: the locks are taken.
    pub fn locks_refused(&mut self, node: Option<usize>) {
        if !self.lock_waits().contains(&node) {
            return;
        }
        let why = "its locks are taken, and it has `on_conflict: reject`".to_string();
        match node {
            Some(i) => self.fail_node(i, why),
            None => self.fail_run(format!("the run could not start: {why}")),
        }
    }
}

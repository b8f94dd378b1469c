//! A run's lock requests: after one is committed, and whenever the store
//! may have granted it, the actor reads which it holds and goes on.

use std::time::Duration;

use baton_store::Backend;

use super::{Events, RunActor};

/// How often a waiting request is read again when no grant was announced:
/// on PostgreSQL another node's commit may have granted it.
const POLL_POSTGRES: Duration = Duration::from_millis(500);
/// On SQLite every grant is announced; this only guards against a missed one.
const POLL_SQLITE: Duration = Duration::from_secs(5);

impl RunActor {
    /// When to read the run's lock requests, if any waits: at once after
    /// a request was committed or a grant announced, else at the next poll.
    pub(super) fn lock_poll(&self) -> Option<Duration> {
        if !self.wf.any_locks || self.state.lock_waits().next().is_none() {
            return None;
        }
        Some(match (self.locks_dirty, self.shared.store.backend()) {
            (true, _) => Duration::ZERO,
            (false, Backend::Postgres) => POLL_POSTGRES,
            (false, Backend::Sqlite) => POLL_SQLITE,
        })
    }

    /// Read the run's lock requests and decide on what was granted or
    /// refused.
    pub(super) async fn look_at_locks(&mut self) -> Events {
        self.locks_dirty = false;
        let held = match self.shared.store.run_locks(&self.state.run_id).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(run = %self.state.run_id, error = %e, "cannot read the run's locks; trying again");
                return Vec::new();
            }
        };
        let wf = self.wf.clone();
        let waits: Vec<Option<usize>> = self.state.lock_waits().collect();
        self.step(|s| {
            for wait in waits {
                let name = wait.map_or("", |i| wf.nodes[i].id.as_str());
                match held.iter().find(|(node, _)| node == name) {
                    Some((_, true)) => s.locks_granted(wait),
                    Some((_, false)) => {}
                    // Committed, yet not in the table: refused.
                    None => s.locks_refused(wait),
                }
            }
        })
        .0
    }
}

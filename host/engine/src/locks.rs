//! Equipment locks as the engine sees them: grants announced by the store
//! reach the runs that wait here, and `GET /locks` shows who holds what and
//! who waits.

use std::collections::BTreeMap;

use baton_store::{LockRecord, Millis};
use serde::Serialize;

use crate::Result;
use crate::engine::Engine;
use crate::run::Input;

/// One lock: its holders and its queue, in arrival order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockView {
    /// The lock's name.
    pub key: String,
    /// Holders it allows at once (as the oldest request asked).
    pub limit: u32,
    /// Who holds it.
    pub holders: Vec<LockHolder>,
    /// Who waits for it, oldest first.
    pub queue: Vec<LockHolder>,
}

/// A run, or one of its nodes, that holds or waits for a lock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockHolder {
    /// The run.
    pub run_id: String,
    /// Its workflow.
    pub workflow: String,
    /// The node, or none when the run itself takes the lock.
    pub node: Option<String>,
    /// Since when it holds (or waits).
    pub since: Millis,
}

impl Engine {
    /// Forward the store's lock grants to the runs here that wait.
    pub(crate) fn spawn_lock_grants(&self) -> tokio::task::JoinHandle<()> {
        let mut grants = self.store().subscribe_lock_grants();
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                match grants.recv().await {
                    Ok(run) => {
                        if let Some(inbox) = engine.inbox_of(&run) {
                            let _ = inbox.send(Input::LocksChanged);
                        }
                    }
                    // Missed some: every waiting run looks again.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        engine.wake_lock_waiters();
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }

    /// Every lock, with its holders and queue.
    pub async fn locks(&self) -> Result<Vec<LockView>> {
        let records = self.store().locks().await?;
        Ok(group(records))
    }
}

fn group(records: Vec<LockRecord>) -> Vec<LockView> {
    let mut by_key: BTreeMap<String, LockView> = BTreeMap::new();
    for r in records {
        let view = by_key.entry(r.key.clone()).or_insert_with(|| LockView {
            key: r.key.clone(),
            limit: r.limit,
            holders: Vec::new(),
            queue: Vec::new(),
        });
        let who = LockHolder {
            run_id: r.run_id,
            workflow: r.workflow,
            node: (!r.node_id.is_empty()).then_some(r.node_id),
            since: r.acquired_at.unwrap_or(r.requested_at),
        };
        if r.held {
            view.holders.push(who);
        } else {
            view.queue.push(who);
        }
    }
    by_key.into_values().collect()
}

//! One safety interlock for every node on the database.
//!
//! The state is the `interlock` flag in the store. On one node (SQLite) it is
//! read at start-up and changed only here. On PostgreSQL every node reads it
//! every [`POLL`], and counts what it read as known for [`STALENESS`] after
//! the read was sent; past that, the runtime denies actuation until a read
//! succeeds (fail safe). Engaging through any node therefore denies actuation
//! on every node within [`STALENESS`] of the write, and the engaging call
//! returns only after that.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::Result;
use crate::engine::Engine;

/// How often each node reads the stored interlock state.
pub const POLL: Duration = Duration::from_millis(100);
/// How long a read of the interlock state counts as current.
pub const STALENESS: Duration = Duration::from_millis(250);

/// The flag that holds the interlock state.
pub(crate) const FLAG: &str = "interlock";

fn engaged(flag: Option<&Value>) -> bool {
    flag.and_then(|v| v.get("engaged")).and_then(Value::as_bool) == Some(true)
}

impl Engine {
    /// Read the stored state at start-up; on PostgreSQL, from then on only a
    /// confirmed state allows actuation.
    pub(crate) async fn load_interlock(&self) -> Result<()> {
        let state = self.shared.runtime.interlock_state();
        if self.shared.node.clustered {
            state.require_confirmation();
        }
        let sent = Instant::now();
        let flag = self.shared.store.flag(FLAG).await?;
        let on = engaged(flag.as_ref());
        state.confirm(on, sent.into_std(), STALENESS);
        if on {
            tracing::warn!(
                "the safety interlock is engaged: PLC writes are denied and no run starts"
            );
        }
        Ok(())
    }

    /// Follow the stored state (PostgreSQL): engaged through another node,
    /// the runtime denies actuation here too and running attempts that can
    /// actuate are aborted.
    pub(crate) fn spawn_interlock_watch(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            let state = engine.shared.runtime.interlock_state().clone();
            let mut unconfirmed = false;
            loop {
                tokio::time::sleep(POLL).await;
                let _change = engine.shared.interlock_change.lock().await;
                let sent = Instant::now();
                let read = tokio::time::timeout(STALENESS, engine.shared.store.flag(FLAG)).await;
                let flag = match read {
                    Ok(Ok(flag)) => flag,
                    Ok(Err(e)) => {
                        if !unconfirmed {
                            tracing::error!(error = %e, "cannot read the safety interlock; actuation is denied until it can");
                            unconfirmed = true;
                        }
                        continue;
                    }
                    Err(_) => {
                        if !unconfirmed {
                            tracing::error!(
                                "reading the safety interlock timed out; actuation is denied until it can be read"
                            );
                            unconfirmed = true;
                        }
                        continue;
                    }
                };
                if unconfirmed {
                    tracing::info!("the safety interlock state is confirmed again");
                    unconfirmed = false;
                }
                let on = engaged(flag.as_ref());
                let was = state.stored();
                state.confirm(on, sent.into_std(), STALENESS);
                if on && !was {
                    tracing::warn!("the safety interlock was engaged on another node");
                    engine.interlock_runs();
                } else if !on && was {
                    tracing::warn!("the safety interlock was released on another node");
                }
            }
        })
    }

    /// Engage or release the safety interlock. While engaged, every PLC
    /// write and every interlocked MQTT publish from any task is denied (the
    /// task sees `denied`, which the built-in plugins report as a fatal
    /// error, so the node fails), attempts already running that can actuate
    /// are aborted, and no new run starts. The state is stored, restored at
    /// start-up, and on PostgreSQL holds for every node: engaging returns
    /// only once every node denies actuation.
    pub async fn set_interlock(&self, on: bool, actor: &str) -> Result<()> {
        {
            let _change = self.shared.interlock_change.lock().await;
            if on {
                // Deny first, then store: a failed write must not leave the
                // plant actuating while the operator believes it stopped.
                self.shared.runtime.set_interlock(true);
                self.interlock_runs();
            }
            self.shared
                .store
                .set_flag(FLAG, &serde_json::json!({"engaged": on}), actor)
                .await?;
            if !on {
                self.shared.runtime.set_interlock(false);
            }
        }
        if on && self.shared.node.clustered {
            // Every other node has read the new state by now, or counts its
            // last read as stale and denies actuation anyway.
            tokio::time::sleep(STALENESS + POLL).await;
        }
        Ok(())
    }

    /// Whether actuation is denied: the safety interlock is engaged, or
    /// (with several nodes) its state could not be confirmed.
    pub fn interlock(&self) -> bool {
        self.shared.runtime.interlock()
    }

    /// Whether this node knows the interlock's state to be current.
    pub fn interlock_confirmed(&self) -> bool {
        self.shared.runtime.interlock_state().confirmed()
    }
}

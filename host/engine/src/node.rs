//! This engine as a node of its database: its id, its heartbeat, its lease,
//! and taking over the runs of nodes that went silent.
//!
//! A run belongs to one node at a time, as a [`Fence`] (owner and epoch).
//! The store refuses a commit whose fence is stale, so a node that lost a run
//! cannot write to it; see `baton_store::Fence`.
//!
//! The lease: once a heartbeat is written, no other node may take this
//! node's runs until the database's clock has moved `lease` past it. Counting
//! from when the heartbeat was sent, on this node's monotonic clock, is
//! therefore safe. An attempt that can act on the world starts only if the
//! lease left covers its timeout; otherwise the run is held for it in the
//! database first (`Store::hold_run`), which also proves the node still owns
//! it. On SQLite one process alone uses the database (see `baton serve`), so
//! its lease never runs out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_store::{Backend, Fence, Registered, Store};
use tokio::time::Instant;

use crate::{ClusterConfig, Error, Result};

/// A margin for the heartbeat in flight and for clocks that run at slightly
/// different rates: this, or a fifth of the lease if that is less.
const MARGIN: Duration = Duration::from_millis(500);

/// How this node stands, for `/readyz` and the cluster view.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeStatus {
    /// The node's id.
    pub id: String,
    /// Whether other nodes share the database (PostgreSQL).
    pub clustered: bool,
    /// Whether its last heartbeat was written within the lease.
    pub healthy: bool,
    /// How much of its lease is left, in milliseconds; none on one node,
    /// whose lease never runs out.
    pub lease_left_ms: Option<u64>,
    /// Why it is not healthy, if it is not.
    pub problem: Option<String>,
}

pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) incarnation: String,
    pub(crate) clustered: bool,
    pub(crate) config: ClusterConfig,
    /// Until when no other node can take this node's runs; `None` before
    /// the first heartbeat is confirmed.
    valid_until: Mutex<Option<Instant>>,
    /// Another process registered under this id: this one must not act.
    lost: AtomicBool,
    problem: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The host's name, for the default node id.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "baton".into())
}

impl Node {
    /// Register this process as a node of `store`'s database. A live process
    /// with the same id is waited for until it has been silent for the
    /// lease; if it keeps heartbeating, this fails.
    pub(crate) async fn register(store: &Store, config: &ClusterConfig) -> Result<Self> {
        let id = config.node_id.clone().unwrap_or_else(host_name);
        let incarnation = uuid::Uuid::now_v7().to_string();
        let clustered = store.backend() == Backend::Postgres;
        // On SQLite a row that looks alive is this process's crashed
        // predecessor: nothing else may open the database.
        let lease = if clustered {
            config.lease
        } else {
            Duration::ZERO
        };
        let version = env!("CARGO_PKG_VERSION");
        let began = Instant::now();
        let mut warned = false;
        loop {
            let sent = Instant::now();
            match store
                .register_node(&id, &incarnation, config.address.as_deref(), version, lease)
                .await?
            {
                Registered::Yes => {
                    let node = Self {
                        id,
                        incarnation,
                        clustered,
                        config: config.clone(),
                        valid_until: Mutex::new(None),
                        lost: AtomicBool::new(false),
                        problem: Mutex::new(None),
                    };
                    node.confirmed(sent);
                    return Ok(node);
                }
                Registered::InUse { heartbeat_age_ms } => {
                    if began.elapsed() > config.lease * 2 + config.heartbeat {
                        return Err(Error::Conflict(format!(
                            "node id `{id}` is in use by another live process (its last \
                             heartbeat was {heartbeat_age_ms} ms ago); give each node its own \
                             [engine.cluster] node_id"
                        )));
                    }
                    if !warned {
                        tracing::warn!(
                            node = %id,
                            heartbeat_age_ms,
                            "this node id was heard from recently; waiting for that process to \
                             go silent before taking its runs"
                        );
                        warned = true;
                    }
                    tokio::time::sleep(config.heartbeat.min(Duration::from_millis(500))).await;
                }
            }
        }
    }

    /// A heartbeat sent at `sent` was written.
    pub(crate) fn confirmed(&self, sent: Instant) {
        let until = if self.clustered {
            sent + self.config.lease.saturating_sub(self.margin())
        } else {
            // Nothing else may use the database: the lease never ends.
            sent + Duration::from_secs(100 * 365 * 24 * 3600)
        };
        *lock(&self.valid_until) = Some(until);
        *lock(&self.problem) = None;
    }

    fn margin(&self) -> Duration {
        (self.config.lease / 5).min(MARGIN)
    }

    /// A heartbeat failed.
    pub(crate) fn failed(&self, why: String) {
        *lock(&self.problem) = Some(why);
    }

    /// Another process now heartbeats under this id.
    pub(crate) fn lose(&self) {
        self.lost.store(true, Ordering::SeqCst);
        *lock(&self.valid_until) = None;
        *lock(&self.problem) = Some(format!(
            "another process registered as node `{}`; this one no longer owns any run",
            self.id
        ));
    }

    /// Whether the id was taken by another process.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// How much of the lease is left.
    pub(crate) fn lease_left(&self) -> Duration {
        lock(&self.valid_until).map_or(Duration::ZERO, |until| {
            until.saturating_duration_since(Instant::now())
        })
    }

    /// Whether the lease holds: the last heartbeat was written in time.
    pub(crate) fn healthy(&self) -> bool {
        !self.is_lost() && self.lease_left() > Duration::ZERO
    }

    pub(crate) fn status(&self) -> NodeStatus {
        let left = self.lease_left();
        NodeStatus {
            id: self.id.clone(),
            clustered: self.clustered,
            healthy: self.healthy(),
            lease_left_ms: self
                .clustered
                .then(|| u64::try_from(left.as_millis()).unwrap_or(u64::MAX)),
            problem: lock(&self.problem).clone().or_else(|| {
                (!self.healthy()).then(|| {
                    format!(
                        "no heartbeat written for longer than the lease ({:?})",
                        self.config.lease
                    )
                })
            }),
        }
    }

    /// The fence of a run this node creates.
    pub(crate) fn new_fence(&self) -> Fence {
        Fence {
            owner: self.id.clone(),
            epoch: 1,
        }
    }

    /// Wait until this node may start an attempt of run `run_id` that can
    /// act on the world and may take `timeout`: its lease covers the
    /// attempt, or the run is held for it in the database. The permit says
    /// when the attempt must stop acting (never, on one node), and ends the
    /// hold, if one was taken, when dropped. Fails with [`Error::Fenced`]
    /// once another node owns the run; any other failure (the database
    /// unreachable) is retried, and the attempt waits.
    pub(crate) async fn guard(
        &self,
        store: &Store,
        run_id: &str,
        fence: &Fence,
        timeout: Duration,
        holds: &Arc<Holds>,
    ) -> Result<Permit> {
        if !self.clustered {
            return Ok(Permit::default());
        }
        let until = || Some(std::time::Instant::now() + timeout);
        let margin = self.margin();
        let mut backoff = Duration::from_millis(50);
        loop {
            if self.is_lost() {
                return Err(Error::Fenced(run_id.to_string()));
            }
            if self.lease_left() > timeout + margin {
                return Ok(Permit {
                    until: until(),
                    _hold: None,
                });
            }
            let mut count = holds.count.lock().await;
            let sent = Instant::now();
            match store.hold_run(run_id, fence, timeout + margin * 2).await {
                Ok(()) => {
                    *count += 1;
                    drop(count);
                    let hold = Release {
                        store: store.clone(),
                        run_id: run_id.to_string(),
                        fence: fence.clone(),
                        holds: holds.clone(),
                    };
                    // Held from no earlier than `sent`, by the database's clock.
                    if sent.elapsed() < margin {
                        return Ok(Permit {
                            until: until(),
                            _hold: Some(hold),
                        });
                    }
                }
                Err(baton_store::Error::Fenced(run)) => return Err(Error::Fenced(run)),
                Err(e) => {
                    drop(count);
                    tracing::warn!(run = %run_id, error = %e, "cannot hold the run for an attempt that acts; waiting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// The attempts of one run that hold it in the database, on this node: the
/// hold ends when the last of them does.
#[derive(Default)]
pub(crate) struct Holds {
    count: tokio::sync::Mutex<u32>,
}

/// What [`Node::guard`] allows.
#[derive(Default)]
pub(crate) struct Permit {
    /// When the attempt must stop acting.
    pub(crate) until: Option<std::time::Instant>,
    _hold: Option<Release>,
}

/// Ends an attempt's hold on its run when dropped, however the attempt ends.
struct Release {
    store: Store,
    run_id: String,
    fence: Fence,
    holds: Arc<Holds>,
}

impl Drop for Release {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // the hold runs out by itself
        };
        let (store, run_id, fence, holds) = (
            self.store.clone(),
            std::mem::take(&mut self.run_id),
            self.fence.clone(),
            self.holds.clone(),
        );
        runtime.spawn(async move {
            let mut count = holds.count.lock().await;
            *count = count.saturating_sub(1);
            if *count == 0
                && let Err(e) = store.release_run(&run_id, &fence).await
            {
                tracing::debug!(run = %run_id, error = %e, "could not end a hold; it runs out by itself");
            }
        });
    }
}

//! The node's heartbeat loop, and taking over the runs of silent nodes.

use std::time::Duration;

use baton_store::{Claimed, Fence};
use tokio::time::Instant;

use crate::Result;
use crate::engine::Engine;

impl Engine {
    /// Heartbeat every `heartbeat`; on PostgreSQL, after each heartbeat that
    /// was written, claim runs from silent nodes, up to the free task slots.
    pub(crate) fn spawn_heartbeat(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            let node = &engine.shared.node;
            let every = node.config.heartbeat.max(Duration::from_millis(10));
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if node.is_lost() {
                    return;
                }
                let sent = Instant::now();
                let free = i64::try_from(engine.free_slots()).unwrap_or(i64::MAX);
                let beat = tokio::time::timeout(
                    node.config.lease,
                    engine
                        .shared
                        .store
                        .heartbeat(&node.id, &node.incarnation, free),
                )
                .await;
                match beat {
                    Ok(Ok(true)) => node.confirmed(sent),
                    Ok(Ok(false)) => {
                        tracing::error!(
                            node = %node.id,
                            "another process registered with this node id; dropping every run here"
                        );
                        node.lose();
                        engine.drop_all_runs();
                        return;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(node = %node.id, error = %e, "heartbeat failed");
                        node.failed(format!("heartbeat failed: {e}"));
                        continue;
                    }
                    Err(_) => {
                        tracing::warn!(node = %node.id, "heartbeat timed out");
                        node.failed("heartbeat timed out".into());
                        continue;
                    }
                }
                if node.clustered && node.healthy() {
                    if let Err(e) = engine.take_over().await {
                        tracing::warn!(node = %node.id, error = %e, "taking over runs failed");
                    }
                    if let Err(e) = engine.refresh_triggers().await {
                        tracing::warn!(node = %node.id, error = %e, "cannot follow workflow versions");
                    }
                }
            }
        })
    }

    /// Claim runs of dead, stopped or unknown nodes, and unowned runs, and
    /// resume them here.
    async fn take_over(&self) -> Result<usize> {
        let node = &self.shared.node;
        let free = self.free_slots().min(node.config.claim_batch);
        if free == 0 {
            return Ok(0);
        }
        let claimed = self
            .shared
            .store
            .claim_runs(&node.id, node.config.lease, free as i64)
            .await?;
        let n = claimed.len();
        if n > 0 {
            tracing::info!(node = %node.id, runs = n, "took over runs");
        }
        self.resume_claimed(claimed).await;
        Ok(n)
    }

    /// Claim the runs this node starts with: on SQLite every unfinished run,
    /// on PostgreSQL those of silent nodes and those with no owner.
    pub(crate) async fn claim_at_start(&self) -> Result<()> {
        let node = &self.shared.node;
        let claimed = if node.clustered {
            self.shared
                .store
                .claim_runs(&node.id, node.config.lease, i64::MAX)
                .await?
        } else {
            self.shared.store.claim_all_runs(&node.id).await?
        };
        self.resume_claimed(claimed).await;
        Ok(())
    }

    /// Resume claimed runs from their committed events, each under its new
    /// fence.
    pub(crate) async fn resume_claimed(&self, claimed: Vec<Claimed>) {
        for (run_id, epoch) in claimed {
            let fence = Fence {
                owner: self.shared.node.id.clone(),
                epoch,
            };
            if let Err(e) = self.resume_one(&run_id, fence).await {
                tracing::error!(run = %run_id, error = %e, "cannot resume run; it stays as it is");
            }
        }
    }

    /// Give up this node's runs and mark it stopped, so that other nodes
    /// take them at once: a clean shutdown. Nothing more is committed here.
    pub async fn stop(&self) {
        self.halt();
        let node = &self.shared.node;
        match self
            .shared
            .store
            .stop_node(&node.id, &node.incarnation)
            .await
        {
            Ok(released) => {
                tracing::info!(node = %node.id, runs = released, "node stopped; its runs are released")
            }
            Err(e) => {
                tracing::warn!(node = %node.id, error = %e, "could not release this node's runs; others take them after the lease")
            }
        }
    }

    /// The `[engine.cluster]` settings this node runs with.
    pub fn cluster_config(&self) -> &crate::ClusterConfig {
        &self.shared.node.config
    }

    /// How this node stands: its lease and heartbeat.
    pub fn node_status(&self) -> crate::NodeStatus {
        self.shared.node.status()
    }
}

//! The `nodes` table and run ownership: which Baton process may commit a
//! run's transitions.
//!
//! Each process registers itself as a node and heartbeats. A run belongs to
//! one node at a time, as a [`Fence`]: the owner and an epoch that rises on
//! every takeover. The writer checks the fence inside the transaction of
//! every commit (see `writer`), so a node that lost a run gets
//! [`Error::Fenced`](crate::Error::Fenced) instead of writing.
//!
//! Times here are the database's clock, never a node's, so that nodes whose
//! clocks differ still agree on who is silent.

use std::time::Duration;

use crate::model::Millis;
use crate::store::{Pool, with_pool};
use crate::{Error, Result, Store};

/// Who may commit a run's transitions: its owner node and the epoch of that
/// ownership.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The owning node's id.
    pub owner: String,
    /// Raised on every takeover; a commit with an older one is refused.
    pub epoch: i64,
}

/// A node as stored, with what the database's clock says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// The node's id (`[cluster] node_id`).
    pub id: String,
    /// Where its API listens, if it serves one.
    pub address: Option<String>,
    /// Its Baton version.
    pub version: String,
    /// When it registered.
    pub started_at: Millis,
    /// Its last heartbeat.
    pub heartbeat_at: Millis,
    /// How long ago that was, by the database's clock.
    pub heartbeat_age_ms: i64,
    /// When it stopped cleanly, if it did.
    pub stopped_at: Option<Millis>,
    /// Free task slots at its last heartbeat.
    pub free_slots: i64,
    /// Unfinished runs it owns.
    pub runs: i64,
}

impl NodeRecord {
    /// Whether the node counts as alive: not stopped, and heard from within
    /// `lease`.
    pub fn alive(&self, lease: Duration) -> bool {
        self.stopped_at.is_none() && self.heartbeat_age_ms < millis(lease)
    }
}

/// What registering a node found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// The node is registered under this incarnation.
    Yes,
    /// A live process already heartbeats under this id, this long ago.
    InUse {
        /// How long ago its last heartbeat was.
        heartbeat_age_ms: i64,
    },
}

/// The database's clock, in milliseconds since the Unix epoch, as SQL.
fn now(pool: &Pool) -> &'static str {
    match pool {
        Pool::Sqlite(_) => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
        Pool::Postgres(_) => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A run taken over, with the fence its new owner commits under.
pub type Claimed = (String, i64);

impl Store {
    /// The database's clock, in milliseconds since the Unix epoch.
    pub async fn clock(&self) -> Result<Millis> {
        let sql = format!("SELECT {}", now(&self.pool));
        let (at,): (i64,) = with_pool!(&self.pool, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).fetch_one(p).await?
        });
        Ok(at)
    }

    /// Register node `id` for this process (`incarnation`), unless another
    /// live process (heard from within `lease`) already uses the id. A row
    /// left by a dead or stopped process of the same id is taken over, and
    /// the runs that process owned are left unowned, for claiming.
    pub async fn register_node(
        &self,
        id: &str,
        incarnation: &str,
        address: Option<&str>,
        version: &str,
        lease: Duration,
    ) -> Result<Registered> {
        let now = now(&self.pool);
        let sql = format!(
            "INSERT INTO nodes (id, incarnation, address, version, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, {now}, {now}) \
             ON CONFLICT (id) DO UPDATE SET incarnation = excluded.incarnation, \
             address = excluded.address, version = excluded.version, \
             started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, \
             stopped_at = NULL, free_slots = 0 \
             WHERE nodes.stopped_at IS NOT NULL OR nodes.heartbeat_at < {now} - $5 \
             OR nodes.incarnation = excluded.incarnation \
             RETURNING id"
        );
        let done: Option<(String,)> = with_pool!(&self.pool, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .bind(incarnation)
                .bind(address)
                .bind(version)
                .bind(millis(lease))
                .fetch_optional(p)
                .await?
        });
        if done.is_some() {
            // What the id's previous process owned is up for claiming now:
            // that process is gone (stopped, or silent for the lease).
            with_pool!(&self.pool, p => {
                sqlx::query(
                    "UPDATE runs SET owner = NULL WHERE owner = $1 AND status IN ('running', 'held')",
                )
                .bind(id)
                .execute(p)
                .await?;
            });
            return Ok(Registered::Yes);
        }
        let sql = format!("SELECT {now} - heartbeat_at FROM nodes WHERE id = $1");
        let age: Option<(i64,)> = with_pool!(&self.pool, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(p).await?
        });
        Ok(Registered::InUse {
            heartbeat_age_ms: age.map_or(0, |(a,)| a),
        })
    }

    /// Say node `id` is alive, with `free_slots` task slots free. Returns
    /// false when the row now belongs to another incarnation (or is gone):
    /// another process took the id, and this one must stop acting.
    pub async fn heartbeat(&self, id: &str, incarnation: &str, free_slots: i64) -> Result<bool> {
        let sql = format!(
            "UPDATE nodes SET heartbeat_at = {}, free_slots = $3 \
             WHERE id = $1 AND incarnation = $2 AND stopped_at IS NULL",
            now(&self.pool)
        );
        let done = with_pool!(&self.pool, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .bind(incarnation)
                .bind(free_slots)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Mark node `id` stopped and give up its unfinished runs, so that other
    /// nodes can claim them at once rather than after its lease.
    pub async fn stop_node(&self, id: &str, incarnation: &str) -> Result<u64> {
        let sql = format!(
            "UPDATE nodes SET stopped_at = {} WHERE id = $1 AND incarnation = $2",
            now(&self.pool)
        );
        with_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let stopped = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .bind(incarnation)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let released = if stopped == 1 {
                sqlx::query(
                    "UPDATE runs SET owner = NULL, lease_until = NULL \
                     WHERE owner = $1 AND status IN ('running', 'held')",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
            } else {
                0
            };
            tx.commit().await?;
            Ok(released)
        })
    }

    /// Every node, with the runs each owns, newest first.
    pub async fn nodes(&self) -> Result<Vec<NodeRecord>> {
        let sql = format!(
            "SELECT n.id, n.address, n.version, n.started_at, n.heartbeat_at, \
             {} - n.heartbeat_at, n.stopped_at, n.free_slots, \
             (SELECT COUNT(*) FROM runs r WHERE r.owner = n.id AND r.status IN ('running', 'held')) \
             FROM nodes n ORDER BY n.started_at DESC, n.id",
            now(&self.pool)
        );
        type Row = (
            String,
            Option<String>,
            String,
            i64,
            i64,
            i64,
            Option<i64>,
            i64,
            i64,
        );
        let rows: Vec<Row> = with_pool!(&self.pool, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).fetch_all(p).await?
        });
        Ok(rows
            .into_iter()
            .map(|r| NodeRecord {
                id: r.0,
                address: r.1,
                version: r.2,
                started_at: r.3,
                heartbeat_at: r.4,
                heartbeat_age_ms: r.5,
                stopped_at: r.6,
                free_slots: r.7,
                runs: r.8,
            })
            .collect())
    }

    /// Unfinished runs with no owner at all, e.g. from before cluster mode.
    pub async fn unowned_runs(&self) -> Result<i64> {
        let (n,): (i64,) = with_pool!(&self.pool, p => {
            sqlx::query_as("SELECT COUNT(*) FROM runs WHERE status IN ('running', 'held') AND owner IS NULL")
                .fetch_one(p)
                .await?
        });
        Ok(n)
    }

    /// Take every unfinished run for node `me`, whoever owned it: for a
    /// single node, which alone uses its database (SQLite).
    pub async fn claim_all_runs(&self, me: &str) -> Result<Vec<Claimed>> {
        with_pool!(&self.pool, p => {
            Ok(sqlx::query_as(
                "UPDATE runs SET owner = $1, epoch = epoch + 1, lease_until = NULL \
                 WHERE status IN ('running', 'held') RETURNING id, epoch",
            )
            .bind(me)
            .fetch_all(p)
            .await?)
        })
    }

    /// Take up to `limit` unfinished runs for node `me` from nodes that are
    /// dead (silent for `lease`), stopped or unknown, and runs with no owner,
    /// oldest first. A run whose own lease (an effect in flight) has not
    /// passed stays where it is. Rows another node is claiming or committing
    /// at this moment are skipped, not waited for. PostgreSQL only: on
    /// SQLite use [`Store::claim_all_runs`].
    pub async fn claim_runs(&self, me: &str, lease: Duration, limit: i64) -> Result<Vec<Claimed>> {
        let Pool::Postgres(p) = &self.pool else {
            return Err(Error::Conflict(
                "claiming runs from other nodes needs PostgreSQL".into(),
            ));
        };
        let now = now(&self.pool);
        let sql = format!(
            "UPDATE runs SET owner = $1, epoch = epoch + 1, lease_until = NULL WHERE id IN ( \
               SELECT r.id FROM runs r LEFT JOIN nodes n ON n.id = r.owner \
               WHERE r.status IN ('running', 'held') AND r.owner IS DISTINCT FROM $1 \
                 AND (r.owner IS NULL OR n.id IS NULL OR n.stopped_at IS NOT NULL \
                      OR n.heartbeat_at < {now} - $2) \
                 AND (r.lease_until IS NULL OR r.lease_until < {now}) \
               ORDER BY r.id LIMIT $3 FOR UPDATE OF r SKIP LOCKED) \
             RETURNING id, epoch"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(me)
            .bind(millis(lease))
            .bind(limit.max(0))
            .fetch_all(p)
            .await?)
    }

    /// Hold run `run_id` for its owner for `hold` more, by the database's
    /// clock, even past the owner's heartbeat: before an attempt that can act
    /// on the world and may outlast the node's lease. A longer hold already
    /// there is kept. Fails with [`Error::Fenced`] if `fence` no longer owns
    /// the run.
    pub async fn hold_run(&self, run_id: &str, fence: &Fence, hold: Duration) -> Result<()> {
        let greatest = match &self.pool {
            Pool::Sqlite(_) => "MAX",
            Pool::Postgres(_) => "GREATEST",
        };
        let sql = format!(
            "UPDATE runs SET lease_until = {greatest}(COALESCE(lease_until, 0), {} + $4) \
             WHERE id = $1 AND owner = $2 AND epoch = $3",
            now(&self.pool)
        );
        let done = with_pool!(&self.pool, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(run_id)
                .bind(&fence.owner)
                .bind(fence.epoch)
                .bind(millis(hold))
                .execute(p)
                .await?
                .rows_affected()
        });
        if done == 1 {
            Ok(())
        } else {
            Err(Error::Fenced(run_id.to_string()))
        }
    }

    /// End the hold on run `run_id`: no attempt of its owner acts any more.
    pub async fn release_run(&self, run_id: &str, fence: &Fence) -> Result<()> {
        with_pool!(&self.pool, p => {
            sqlx::query(
                "UPDATE runs SET lease_until = NULL WHERE id = $1 AND owner = $2 AND epoch = $3",
            )
            .bind(run_id)
            .bind(&fence.owner)
            .bind(fence.epoch)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Who owns run `run_id` now, if anyone.
    pub async fn run_owner(&self, run_id: &str) -> Result<Option<Fence>> {
        let row: Option<(Option<String>, i64)> = with_pool!(&self.pool, p => {
            sqlx::query_as("SELECT owner, epoch FROM runs WHERE id = $1")
                .bind(run_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.and_then(|(owner, epoch)| owner.map(|owner| Fence { owner, epoch })))
    }
}

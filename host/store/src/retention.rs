//! Retention: deleting finished runs, and old audit events, in small batches.
//!
//! Each call deletes one batch in one transaction and says how many rows of
//! each table went. A run goes only once it is finished (`succeeded`,
//! `failed` or `cancelled`, with a `finished_at`): its events and node
//! executions first, its row last, so a run whose deletion was interrupted
//! (by the batch bound or a crash) is still found, and finished, by the next
//! batch. A run that is running or held is never touched.
//!
//! On SQLite, one writer at a time: a batch waits for the group commit in
//! flight, and the commits asked for meanwhile wait for the batch, as for a
//! slow disk. Its transaction begins `IMMEDIATE`, so it never fails on a
//! lock taken after it started reading. On PostgreSQL, batches run beside
//! the commits; the rows they pick are locked with `SKIP LOCKED`, so several
//! nodes sweeping at once take different rows and never wait for each other.

use crate::store::Pool;
use crate::{Result, Store};

/// Rows one retention batch deleted, per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Deleted {
    /// Finished runs.
    pub runs: u64,
    /// Their node executions.
    pub node_executions: u64,
    /// Their events.
    pub events: u64,
    /// Audit events (events of no run).
    pub audit: u64,
}

impl Deleted {
    /// Every row deleted, whatever its table.
    pub fn rows(&self) -> u64 {
        self.runs + self.node_executions + self.events + self.audit
    }
}

impl std::ops::AddAssign for Deleted {
    fn add_assign(&mut self, other: Self) {
        self.runs += other.runs;
        self.node_executions += other.node_executions;
        self.events += other.events;
        self.audit += other.audit;
    }
}

/// Finished runs, oldest first. The partial index `runs_finished` (0008)
/// keeps this a short range scan however many runs there are; SQLite is
/// told to use it, or it would read every finished run by status and sort.
const FINISHED: &str = "SELECT id FROM runs INDEXED BY runs_finished \
     WHERE finished_at IS NOT NULL AND finished_at < $1 \
     AND status IN ('succeeded', 'failed', 'cancelled') ORDER BY finished_at, id LIMIT $2";
const FINISHED_PG: &str = "SELECT id FROM runs WHERE finished_at IS NOT NULL AND finished_at < $1 \
     AND status IN ('succeeded', 'failed', 'cancelled') ORDER BY finished_at, id LIMIT $2 \
     FOR UPDATE SKIP LOCKED";
const RUN_EVENTS: &str = "DELETE FROM events WHERE seq IN \
     (SELECT seq FROM events WHERE run_id = $1 ORDER BY seq LIMIT $2)";
const RUN_EXECUTIONS: &str = "DELETE FROM node_executions \
     WHERE (run_id, node_id, item, phase, attempt) IN \
     (SELECT run_id, node_id, item, phase, attempt FROM node_executions WHERE run_id = $1 LIMIT $2)";
/// The status is checked again: nothing but a finished run is ever deleted.
const RUN: &str = "DELETE FROM runs WHERE id = $1 AND finished_at < $2 \
     AND status IN ('succeeded', 'failed', 'cancelled')";
/// Only the oldest `$2` audit events are looked at, so a sweep that finds
/// nothing to delete reads `$2` rows, not the whole audit log. Sequence
/// numbers follow commit time; where several nodes' clocks disagree, an
/// event can wait behind a newer neighbour for as long as they disagree.
const AUDIT: &str = "DELETE FROM events WHERE seq IN (SELECT seq FROM \
     (SELECT seq, at FROM events WHERE run_id IS NULL ORDER BY seq LIMIT $2) oldest \
     WHERE at < $1)";
const AUDIT_PG: &str = "DELETE FROM events WHERE seq IN (SELECT seq FROM \
     (SELECT seq, at FROM events WHERE run_id IS NULL ORDER BY seq LIMIT $2 \
      FOR UPDATE SKIP LOCKED) oldest WHERE at < $1)";

/// One step of a run's deletion: delete up to `$budget` rows with `$sql`,
/// count them, and stop the batch once its budget is spent.
macro_rules! step {
    ($tx:ident, $sql:expr, $id:expr, $budget:ident, $count:expr, $deleted:ident) => {
        let n = sqlx::query($sql)
            .bind($id)
            .bind($budget)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        $count += n;
        $budget -= i64::try_from(n).unwrap_or($budget);
        if $budget <= 0 {
            // The run may have rows left: it stays for the next batch.
            return Ok($deleted);
        }
    };
}

/// One batch of finished runs, in transaction `$tx`: see
/// [`Store::delete_finished_runs`].
macro_rules! runs_batch {
    ($tx:ident, $finished:expr, $before:expr, $batch:expr) => {
        async {
            let mut deleted = Deleted::default();
            let ids: Vec<(String,)> = sqlx::query_as($finished)
                .bind($before)
                .bind($batch)
                .fetch_all(&mut *$tx)
                .await?;
            let mut budget: i64 = $batch;
            for (id,) in ids {
                step!($tx, RUN_EVENTS, &id, budget, deleted.events, deleted);
                step!(
                    $tx,
                    RUN_EXECUTIONS,
                    &id,
                    budget,
                    deleted.node_executions,
                    deleted
                );
                let n = sqlx::query(RUN)
                    .bind(&id)
                    .bind($before)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected();
                deleted.runs += n;
                budget -= i64::try_from(n).unwrap_or(budget);
                if budget <= 0 {
                    break;
                }
            }
            Ok::<Deleted, sqlx::Error>(deleted)
        }
    };
}

impl Store {
    /// Delete at most `batch` rows of runs that finished before `before` (ms
    /// since the epoch), oldest first, in one transaction: their events,
    /// their node executions and the runs themselves. Fewer than `batch` rows
    /// means no such run is left.
    pub async fn delete_finished_runs(&self, before: i64, batch: u32) -> Result<Deleted> {
        let batch = i64::from(batch.max(1));
        let deleted = match &self.pool {
            Pool::Sqlite(p) => {
                let _writer = self.gate.write().await;
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let deleted = runs_batch!(tx, FINISHED, before, batch).await?;
                tx.commit().await?;
                deleted
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                let deleted = runs_batch!(tx, FINISHED_PG, before, batch).await?;
                tx.commit().await?;
                deleted
            }
        };
        Ok(deleted)
    }

    /// Delete up to `batch` audit events (events of no run) older than
    /// `before` (ms since the epoch), oldest first, in one transaction.
    /// Only the oldest `batch` audit events are looked at, so fewer than
    /// `batch` means none of them is that old any more.
    pub async fn delete_audit(&self, before: i64, batch: u32) -> Result<Deleted> {
        let batch = i64::from(batch.max(1));
        let audit = match &self.pool {
            Pool::Sqlite(p) => {
                let _writer = self.gate.write().await;
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let n = sqlx::query(AUDIT)
                    .bind(before)
                    .bind(batch)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                n
            }
            Pool::Postgres(p) => sqlx::query(AUDIT_PG)
                .bind(before)
                .bind(batch)
                .execute(p)
                .await?
                .rows_affected(),
        };
        Ok(Deleted {
            audit,
            ..Deleted::default()
        })
    }
}

//! The `locks` table: equipment locks and concurrency limits that hold
//! across every node on the database.
//!
//! A request names a run's or a node's keys, each with its limit. It is
//! granted all at once or not at all, and waiting requests are granted in
//! arrival order: a request never holds one key while it waits for another,
//! so no set of runs can deadlock, and none is overtaken on a key it waits
//! for. Requests, releases and grants are written by the writer in the
//! transaction of the transition that caused them; on PostgreSQL an
//! advisory lock makes the nodes take turns at granting.

use std::collections::{HashMap, HashSet};

use crate::Result;
use crate::Store;
use crate::model::Millis;
use crate::store::with_pool;

/// A change to a run's locks, committed with its transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOp {
    /// Ask for `keys` (each with its limit) for the run (`node` empty) or
    /// one of its nodes. With `reject`, a request that cannot be granted at
    /// once is not queued: nothing is written.
    Request {
        /// The node, or empty for the run itself.
        node: String,
        /// Lock keys and their limits, sorted and without repeats.
        keys: Vec<(String, u32)>,
        /// Refuse rather than wait.
        reject: bool,
    },
    /// Give back what a node holds or waits for.
    Release {
        /// The node.
        node: String,
    },
}

/// One request for one key, as `GET /locks` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LockRecord {
    /// The lock's name.
    pub key: String,
    /// The run that holds it or waits for it.
    pub run_id: String,
    /// The run's workflow.
    pub workflow: String,
    /// The node, or empty when the run itself takes the lock.
    pub node_id: String,
    /// Holders the lock allows at once, as this request asked.
    pub limit: u32,
    /// Held, or waiting in line.
    pub held: bool,
    /// When it was asked for.
    pub requested_at: Millis,
    /// When it was granted.
    pub acquired_at: Option<Millis>,
}

/// A row, as granting needs it.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub id: i64,
    pub key: String,
    pub run: String,
    pub node: String,
    pub limit: i64,
    pub held: bool,
}

/// Which waiting rows (indexes into `rows`, in arrival order) can be
/// granted now: a request's rows all at once, oldest request first, and no
/// request ahead of an older one on a key they share.
pub(crate) fn grants(rows: &[Row]) -> Vec<usize> {
    let mut held: HashMap<&str, i64> = HashMap::new();
    for r in rows.iter().filter(|r| r.held) {
        *held.entry(&r.key).or_default() += 1;
    }
    let mut order: Vec<(&str, &str)> = Vec::new();
    let mut requests: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate().filter(|(_, r)| !r.held) {
        let id = (r.run.as_str(), r.node.as_str());
        let entry = requests.entry(id).or_default();
        if entry.is_empty() {
            order.push(id);
        }
        entry.push(i);
    }
    let mut blocked: HashSet<&str> = HashSet::new();
    let mut granted = Vec::new();
    for id in order {
        let rows_of = &requests[&id];
        let free = rows_of.iter().all(|&i| {
            let r = &rows[i];
            !blocked.contains(r.key.as_str())
                && held.get(r.key.as_str()).copied().unwrap_or(0) < r.limit
        });
        for &i in rows_of {
            let key = rows[i].key.as_str();
            if free {
                *held.entry(key).or_default() += 1;
                granted.push(i);
            } else {
                blocked.insert(key);
            }
        }
    }
    granted
}

/// Whether a new request of `run`/`node` for `keys` would be granted at
/// once, behind everything in `rows`.
pub(crate) fn would_grant(rows: &[Row], run: &str, node: &str, keys: &[(String, u32)]) -> bool {
    let mut all = rows.to_vec();
    let first = all.len();
    all.extend(keys.iter().map(|(key, limit)| Row {
        id: 0,
        key: key.clone(),
        run: run.to_string(),
        node: node.to_string(),
        limit: i64::from(*limit),
        held: false,
    }));
    let granted = grants(&all);
    (first..all.len()).all(|i| granted.contains(&i))
}

/// The first key of `keys` that another run holds or waits for.
pub(crate) fn first_taken<'k>(rows: &[Row], keys: &'k [(String, u32)]) -> Option<&'k str> {
    keys.iter()
        .map(|(k, _)| k.as_str())
        .find(|k| rows.iter().any(|r| r.key == *k))
}

/// Read every row, oldest first, on transaction `$tx`.
macro_rules! lock_rows {
    ($tx:expr) => {{
        let raw: Vec<(i64, String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT id, lock_key, run_id, node_id, lock_limit, held FROM locks ORDER BY id",
        )
        .fetch_all(&mut *$tx)
        .await?;
        raw.into_iter()
            .map(|(id, key, run, node, limit, held)| $crate::locks::Row {
                id,
                key,
                run,
                node,
                limit,
                held: held != 0,
            })
            .collect::<Vec<_>>()
    }};
}
pub(crate) use lock_rows;

/// On PostgreSQL, take the nodes' turn at the locks table for the rest of
/// transaction `$tx`, once.
macro_rules! lock_turn {
    ($tx:expr, $taken:expr, $postgres:expr) => {
        if $postgres && !$taken {
            sqlx::query("SELECT pg_advisory_xact_lock(7170)")
                .execute(&mut *$tx)
                .await?;
            $taken = true;
            let _ = $taken;
        }
    };
}
pub(crate) use lock_turn;

/// The first key the run's own `reject` request in `$transition` cannot
/// have at once, if any: then the run is not created. (A node's `reject`
/// request is refused by [`apply`], and fails only that node.)
macro_rules! refused {
    ($tx:expr, $turn:expr, $postgres:expr, $run:expr, $transition:expr) => {{
        let mut taken: Option<String> = None;
        for op in &$transition.locks {
            if let $crate::LockOp::Request {
                node,
                keys,
                reject: true,
            } = op
                && node.is_empty()
            {
                $crate::locks::lock_turn!($tx, $turn, $postgres);
                let rows = $crate::locks::lock_rows!($tx);
                if !$crate::locks::would_grant(&rows, $run, node, keys) {
                    taken = $crate::locks::first_taken(&rows, keys)
                        .map(str::to_string)
                        .or_else(|| keys.first().map(|k| k.0.clone()));
                    break;
                }
            }
        }
        taken
    }};
}
pub(crate) use refused;

/// Apply one [`LockOp`] of run `$run`; whether the table changed. A
/// `reject` request that cannot be granted at once writes nothing.
macro_rules! apply {
    ($tx:expr, $turn:expr, $postgres:expr, $run:expr, $op:expr, $at:expr) => {{
        $crate::locks::lock_turn!($tx, $turn, $postgres);
        match $op {
            $crate::LockOp::Release { node } => {
                sqlx::query("DELETE FROM locks WHERE run_id = $1 AND node_id = $2")
                    .bind($run)
                    .bind(node)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected()
                    > 0
            }
            $crate::LockOp::Request { node, keys, reject } => {
                let refused = *reject && {
                    let rows = $crate::locks::lock_rows!($tx);
                    !$crate::locks::would_grant(&rows, $run, node, keys)
                };
                if !refused {
                    for (key, limit) in keys {
                        sqlx::query(
                            "INSERT INTO locks (lock_key, run_id, node_id, lock_limit, requested_at) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                        )
                        .bind(key)
                        .bind($run)
                        .bind(node)
                        .bind(i64::from(*limit))
                        .bind($at)
                        .execute(&mut *$tx)
                        .await?;
                    }
                }
                !refused
            }
        }
    }};
}
pub(crate) use apply;

/// Grant what can be granted now; the runs that got a grant.
macro_rules! grant {
    ($tx:expr, $turn:expr, $postgres:expr, $at:expr) => {{
        $crate::locks::lock_turn!($tx, $turn, $postgres);
        let rows = $crate::locks::lock_rows!($tx);
        let mut runs: Vec<String> = Vec::new();
        for i in $crate::locks::grants(&rows) {
            sqlx::query("UPDATE locks SET held = 1, acquired_at = $1 WHERE id = $2")
                .bind($at)
                .bind(rows[i].id)
                .execute(&mut *$tx)
                .await?;
            if !runs.contains(&rows[i].run) {
                runs.push(rows[i].run.clone());
            }
        }
        runs
    }};
}
pub(crate) use grant;

impl Store {
    /// Every lock request, held and waiting, oldest first.
    pub async fn locks(&self) -> Result<Vec<LockRecord>> {
        type Raw = (String, String, String, String, i64, i64, i64, Option<i64>);
        let rows: Vec<Raw> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT l.lock_key, l.run_id, COALESCE(r.workflow, ''), l.node_id, l.lock_limit, \
                 l.held, l.requested_at, l.acquired_at \
                 FROM locks l LEFT JOIN runs r ON r.id = l.run_id ORDER BY l.id",
            )
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(key, run_id, workflow, node_id, limit, held, requested_at, acquired_at)| {
                    LockRecord {
                        key,
                        run_id,
                        workflow,
                        node_id,
                        limit: u32::try_from(limit).unwrap_or(u32::MAX),
                        held: held != 0,
                        requested_at,
                        acquired_at,
                    }
                },
            )
            .collect())
    }

    /// The nodes of run `run_id` (empty for the run itself) with a lock
    /// request, and whether each holds all it asked for.
    pub async fn run_locks(&self, run_id: &str) -> Result<Vec<(String, bool)>> {
        let rows: Vec<(String, i64)> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT node_id, MIN(held) FROM locks WHERE run_id = $1 GROUP BY node_id",
            )
            .bind(run_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(node, held)| (node, held != 0))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, run: &str, limit: i64, held: bool) -> Row {
        Row {
            id: 0,
            key: key.into(),
            run: run.into(),
            node: String::new(),
            limit,
            held,
        }
    }

    #[test]
    fn waiting_requests_are_granted_oldest_first_and_whole() {
        // a holds oven; b wants oven and line; c wants line only.
        let rows = vec![
            row("oven", "a", 1, true),
            row("line", "b", 1, false),
            row("oven", "b", 1, false),
            row("line", "c", 1, false),
        ];
        assert_eq!(
            grants(&rows),
            Vec::<usize>::new(),
            "c may not overtake b on `line`"
        );
        // a ends: b gets both at once; c still waits.
        let rows = rows[1..].to_vec();
        assert_eq!(grants(&rows), [0, 1]);
    }

    #[test]
    fn a_limit_admits_that_many_holders() {
        let rows = vec![
            row("line", "a", 2, true),
            row("line", "b", 2, false),
            row("line", "c", 2, false),
        ];
        assert_eq!(grants(&rows), [1]);
        assert!(
            !would_grant(&rows, "d", "", &[("line".into(), 3)]),
            "behind b and c"
        );
        assert!(would_grant(&rows, "d", "", &[("other".into(), 1)]));
        assert_eq!(
            first_taken(&rows, &[("x".into(), 1), ("line".into(), 1)]),
            Some("line")
        );
    }
}

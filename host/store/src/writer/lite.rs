//! The writer's transactions on an SQLite file, each in one trip to a
//! blocking thread. Through the pool, every statement of a transaction
//! (its `BEGIN`, each insert, its `COMMIT`) is a message to the
//! connection's thread and a wake-up each way; here the whole transaction
//! runs in one call on a connection of the writer's own, with prepared
//! statements whose text never changes with the batch's size.
//!
//! It takes the batches that touch no locks: no lock requests or releases,
//! and no ending run that may hold locks to give back. Those go through
//! the pool (see the parent module), where the locks' queries live.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::{Done, Outcome, Request, sql, stored_event};
use crate::model::{Created, Millis};
use crate::store::Synchronous;

/// A connection of Baton's own to the SQLite file at `path`, in WAL mode
/// and synced as `synchronous` says: the writer's, its checkpoint
/// thread's and the intake log's.
pub(crate) fn open_wal(path: &Path, synchronous: Synchronous) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.pragma_update(
        None,
        "synchronous",
        match synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        },
    )?;
    Ok(conn)
}

/// The writer's own connection to the database file at `path`.
pub(super) fn open(path: &Path, synchronous: Synchronous) -> rusqlite::Result<Connection> {
    let conn = open_wal(path, synchronous)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // The checkpoint thread does this work (see `checkpoint`).
    conn.pragma_update(None, "wal_autocheckpoint", super::BACKSTOP)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Whether `batch` is one this path writes: nothing in it touches locks.
pub(super) fn suits(batch: &[Request]) -> bool {
    batch.iter().all(|r| {
        let t = r.transition();
        t.locks.is_empty() && (t.lockless || t.run.as_ref().is_none_or(|u| !u.status.is_terminal()))
    })
}

/// The sequence number an event of request `request` was stored under;
/// a request's events come in the order of [`Request::stored_events`].
pub(super) struct Seq {
    request: usize,
    seq: i64,
}

/// What a batch written here gives back: per request, what happened, and
/// the sequence numbers of the events it stored.
pub(super) struct Written {
    pub outcomes: Vec<Outcome>,
    pub seqs: Vec<Seq>,
}

impl Written {
    /// The batch's result, with its events as stored if anyone listens:
    /// asked after the commit, as the pool's writer does, so that a
    /// stream subscribed while it was in flight still gets them.
    pub(super) fn done(self, batch: &[Request], at: Millis, listened: bool) -> Done {
        let mut events = Vec::new();
        if listened {
            let mut seqs = self.seqs.iter().peekable();
            for (k, request) in batch.iter().enumerate() {
                // A fenced commit or a run that was not created stored none.
                for (run_id, event) in request.stored_events() {
                    let Some(s) = seqs.next_if(|s| s.request == k) else {
                        break;
                    };
                    events.push(stored_event(s.seq, run_id, at, event));
                }
            }
        }
        Done {
            at,
            outcomes: self.outcomes,
            events,
            granted: Vec::new(),
        }
    }
}

/// Write `batch` in one transaction at time `at`.
pub(super) fn write(
    conn: &mut Connection,
    batch: &[Request],
    at: Millis,
) -> rusqlite::Result<Written> {
    // Immediate: the write lock is taken (waiting for it if another
    // connection writes) before anything is read, so the transaction never
    // has to upgrade a stale read snapshot.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut seqs = Vec::new();
    for (request_index, request) in batch.iter().enumerate() {
        let (run_id, transition) = match request {
            Request::Create {
                run,
                transition,
                created_at,
                ..
            } => {
                let inserted: Option<String> = tx
                    .prepare_cached(sql::CREATE_RUN)?
                    .query_row(
                        params![
                            run.id,
                            run.workflow,
                            run.version,
                            run.input.to_string(),
                            run.idempotency_key,
                            run.trigger,
                            created_at.unwrap_or(at),
                            run.owner,
                            i64::from(run.owner.is_some()),
                            run.key,
                            run.key.as_ref().filter(|_| run.unique_key),
                            run.parent.as_ref().map(|p| &p.0),
                            run.parent.as_ref().map(|p| &p.1),
                            run.depth,
                        ],
                        |r| r.get(0),
                    )
                    .optional()?;
                if inserted.is_none() {
                    outcomes.push(Outcome::Created(existing(&tx, run)?));
                    continue;
                }
                outcomes.push(Outcome::Created(Created::New(run.id.clone())));
                (Some(run.id.as_str()), transition)
            }
            Request::Commit { transition, .. } => {
                if let (Some(fence), Some(id)) = (&transition.fence, &transition.run_id) {
                    let owned = tx.prepare_cached(sql::FENCE)?.execute(params![
                        id,
                        fence.owner,
                        fence.epoch
                    ])? == 1;
                    if !owned {
                        outcomes.push(Outcome::Fenced(id.clone()));
                        continue;
                    }
                }
                outcomes.push(Outcome::Committed);
                (transition.run_id.as_deref(), transition)
            }
        };
        if let (Some(id), Some(update)) = (run_id, &transition.run) {
            let finished = update.status.is_terminal().then_some(at);
            tx.prepare_cached(sql::UPDATE_RUN)?.execute(params![
                update.status.as_str(),
                update.output.as_ref().map(Value::to_string),
                update.error,
                at,
                finished,
                id,
            ])?;
        }
        let mut insert = tx.prepare_cached(sql::INSERT_EVENT)?;
        for (owner, event) in request.stored_events() {
            insert.execute(params![
                owner,
                at,
                event.kind,
                event.node_id,
                event.actor,
                event.data.text(),
            ])?;
            seqs.push(Seq {
                request: request_index,
                seq: tx.last_insert_rowid(),
            });
        }
        let mut upsert = tx.prepare_cached(sql::UPSERT_EXECUTION)?;
        for x in &transition.executions {
            upsert.execute(params![
                x.run_id,
                x.node_id,
                x.item.map_or(-1, i64::from),
                x.phase.as_str(),
                i64::from(x.attempt),
                x.status,
                x.output.as_ref().map(Value::to_string),
                x.error,
                x.error_kind,
                x.started_at,
                x.finished_at,
                x.retry_at,
            ])?;
        }
    }
    tx.commit()?;
    Ok(Written { outcomes, seqs })
}

/// Why run `run` was not inserted: its idempotency key or its unique key
/// is taken. A clashing run id fails the request.
fn existing(
    tx: &rusqlite::Transaction<'_>,
    run: &crate::model::NewRun,
) -> rusqlite::Result<Created> {
    let by_key: Option<String> = tx
        .prepare_cached(sql::RUN_BY_IDEMPOTENCY_KEY)?
        .query_row(params![run.workflow, run.idempotency_key], |r| r.get(0))
        .optional()?;
    if let Some(id) = by_key {
        return Ok(Created::Existing(id));
    }
    if let (Some(key), true) = (&run.key, run.unique_key) {
        let holder: Option<String> = tx
            .prepare_cached(sql::RUN_BY_ACTIVE_KEY)?
            .query_row(params![run.workflow, key], |r| r.get(0))
            .optional()?;
        if let Some(id) = holder {
            return Ok(Created::KeyTaken(id));
        }
    }
    Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
        Some(sql::id_taken(&run.id)),
    ))
}

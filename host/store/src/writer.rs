//! The group-commit writer: one task owns every run-state write, and commits
//! all the transitions waiting at that moment in one database transaction.
//!
//! While a commit is in flight, new requests queue up; the next commit takes
//! them all. Under load, one sync to disk then serves hundreds of transitions
//! from many runs, so the store is not the bottleneck; with a single waiting
//! transition there is no added delay.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{RwLock, broadcast, mpsc, oneshot};

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgQueryResult;
use sqlx::sqlite::SqliteQueryResult;
use sqlx::{Postgres, Sqlite};

use crate::model::{
    Created, Execution, Millis, NewEvent, NewRun, StoredEvent, Transition, now_millis,
};
use crate::store::{Pool, WriterStats, with_pool};
use std::sync::atomic::Ordering;

/// What the writer is asked to do.
pub(crate) enum Request {
    Commit {
        transition: Transition,
        reply: oneshot::Sender<Result<Millis, Refused>>,
    },
    Create {
        run: Box<NewRun>,
        transition: Transition,
        /// The run's `created_at`, if not the commit's time: when it was
        /// accepted into the intake log (see `intake`).
        created_at: Option<Millis>,
        reply: oneshot::Sender<Result<(Created, Millis), Refused>>,
    },
}

impl Request {
    fn transition(&self) -> &Transition {
        match self {
            Request::Commit { transition, .. } | Request::Create { transition, .. } => transition,
        }
    }

    /// Whether this request may wait for another's commit: the creation of
    /// a run accepted through the intake log, which holds it meanwhile, and
    /// a change marked [`Transition::lazy`] while nobody is `listening` to
    /// the committed events.
    fn lazy(&self, listening: bool) -> bool {
        match self {
            Request::Create { created_at, .. } => created_at.is_some(),
            Request::Commit { transition, .. } => transition.lazy && !listening,
        }
    }

    /// The events this request stores once it is written, each with its
    /// run: the transition's, then a new run's audit record, which is
    /// outside the run.
    fn stored_events(&self) -> impl Iterator<Item = (Option<&str>, &NewEvent)> {
        let (run_id, audit) = match self {
            Request::Create { run, .. } => (Some(run.id.as_str()), run.audit.as_ref()),
            Request::Commit { transition, .. } => (transition.run_id.as_deref(), None),
        };
        let own = self.transition().events.iter().map(move |e| (run_id, e));
        own.chain(audit.map(|a| (None, a)))
    }
}

/// Why a request was not committed.
#[derive(Debug, Clone)]
pub(crate) enum Refused {
    /// The run's fence no longer matches: another node owns it.
    Fenced(String),
    /// The database failed; its message.
    Failed(String),
}

impl From<Refused> for crate::Error {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Fenced(run) => crate::Error::Fenced(run),
            Refused::Failed(message) => crate::Error::Commit(message),
        }
    }
}

/// What a request in a committed batch got.
enum Outcome {
    Committed,
    Created(Created),
    Fenced(String),
}

mod checkpoint;
mod lite;
mod sql;

pub(crate) use checkpoint::BACKSTOP;
pub(crate) use lite::open_wal;

/// Where the writer's own SQLite connection opens (see `lite`): the
/// database file, and how it syncs. None for PostgreSQL and in-memory
/// databases.
pub(crate) type LiteFile = Option<(Arc<std::path::Path>, crate::store::Synchronous)>;

pub(crate) fn spawn(
    file: LiteFile,
    pool: Pool,
    events: broadcast::Sender<Arc<StoredEvent>>,
    lock_grants: broadcast::Sender<String>,
    stats: Arc<WriterStats>,
    gate: Arc<RwLock<()>>,
    max_batch: usize,
) -> mpsc::Sender<Request> {
    let (tx, rx) = mpsc::channel(max_batch * 4);
    let outlets = Outlets {
        events,
        lock_grants,
    };
    tokio::spawn(run(file, pool, rx, outlets, stats, gate, max_batch));
    tx
}

/// Where committed changes are announced.
struct Outlets {
    events: broadcast::Sender<Arc<StoredEvent>>,
    lock_grants: broadcast::Sender<String>,
}

async fn run(
    file: LiteFile,
    pool: Pool,
    mut rx: mpsc::Receiver<Request>,
    outlets: Outlets,
    stats: Arc<WriterStats>,
    gate: Arc<RwLock<()>>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    let mut conns = Conns {
        file,
        pooled: None,
        lite: None,
        checkpointer: None,
    };
    let mut closing = Box::pin(with_pool!(&pool, p => p.close_event()));
    loop {
        let got = tokio::select! {
            got = rx.recv_many(&mut batch, max_batch) => got,
            // Give the connections up, so that closing the pool can end.
            () = &mut closing, if conns.pooled.is_some() || conns.lite.is_some() || conns.checkpointer.is_some() => {
                conns.pooled = None;
                conns.lite = None;
                conns.checkpointer = None;
                continue;
            }
        };
        if got == 0 {
            break;
        }
        let listening = outlets.events.receiver_count() > 0;
        if !lazy_wait(&mut rx, &mut batch, max_batch, listening).await {
            break;
        }
        // Write-held by `Store::hold_commits`, and on SQLite by a retention
        // batch: then nothing is committed until it is released.
        let _open = gate.read().await;
        let began = std::time::Instant::now();
        match conns.write(&pool, &mut batch, &outlets).await {
            Ok(done) => {
                stats.commit_times.observe(began.elapsed());
                stats
                    .transitions
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                finish(batch.drain(..), done, &outlets)
            }
            Err(e) if batch.len() > 1 => {
                // One bad request must not fail the others: write each alone.
                tracing::warn!(error = %e, size = batch.len(), "group commit failed; retrying one by one");
                for request in std::mem::take(&mut batch) {
                    let mut one = vec![request];
                    match conns.write(&pool, &mut one, &outlets).await {
                        Ok(done) => finish(one.into_iter(), done, &outlets),
                        Err(e) => fail(one.into_iter(), &e),
                    }
                }
            }
            Err(e) => fail(batch.drain(..), &e),
        }
        conns.checkpoint(rx.is_empty()).await;
    }
}

/// How long lazy requests (runs accepted through the intake log, and
/// changes marked [`Transition::lazy`]) wait for a commit that must happen
/// anyway, before the writer commits them alone.
pub(crate) const LAZY: std::time::Duration = std::time::Duration::from_millis(5);

/// With only lazy requests in `batch`, wait up to [`LAZY`] for a request
/// that needs its commit now: an accepted run is durable already, in the
/// intake log, and an unobserved run's end is a pure step's, which a crash
/// reruns. Under load, another commit follows within milliseconds, and
/// they cost none of their own. False if the channel closed.
async fn lazy_wait(
    rx: &mut mpsc::Receiver<Request>,
    batch: &mut Vec<Request>,
    max_batch: usize,
    listening: bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + LAZY;
    while batch.len() < max_batch && batch.iter().all(|r| r.lazy(listening)) {
        match tokio::time::timeout_at(deadline, rx.recv_many(batch, max_batch - batch.len())).await
        {
            Ok(0) => return !batch.is_empty(),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    true
}

/// The writer's connections: one from the pool, and on an SQLite file one
/// of its own for the batches that touch no locks (see `lite`), and the
/// thread that checkpoints the file's log (see `checkpoint`).
struct Conns {
    file: LiteFile,
    pooled: Option<Conn>,
    lite: Option<rusqlite::Connection>,
    /// Started at the first commit; a thread that could not start is not
    /// tried again, and SQLite's own checkpoint at [`BACKSTOP`] pages does
    /// its work.
    checkpointer: Option<checkpoint::Started>,
}

impl Conns {
    /// Write `batch` in one transaction, on whichever connection suits it;
    /// the batch is the same when this returns.
    async fn write(
        &mut self,
        pool: &Pool,
        batch: &mut Vec<Request>,
        outlets: &Outlets,
    ) -> Result<Done, String> {
        let Some((path, synchronous)) = self.file.as_ref().filter(|_| lite::suits(batch)) else {
            return write(pool, &mut self.pooled, batch, outlets)
                .await
                .map_err(|e| e.to_string());
        };
        let (path, synchronous) = (path.clone(), *synchronous);
        let requests = std::mem::take(batch);
        let conn = self.lite.take();
        let at = now_millis();
        let blocking = tokio::task::spawn_blocking(move || {
            let conn = match conn {
                Some(conn) => Ok(conn),
                None => lite::open(&path, synchronous)
                    .map_err(|e| format!("cannot open {}: {e}", path.display())),
            };
            let (conn, written) = match conn {
                Ok(mut conn) => {
                    let written = lite::write(&mut conn, &requests, at).map_err(|e| e.to_string());
                    (Some(conn), written)
                }
                Err(e) => (None, Err(e)),
            };
            (conn, requests, written)
        });
        match blocking.await {
            Ok((conn, requests, written)) => {
                *batch = requests;
                // A failed write gives its connection up, in case the
                // connection is what failed.
                self.lite = conn.filter(|_| written.is_ok());
                let listened = outlets.events.receiver_count() > 0;
                written.map(|w| w.done(batch, at, listened))
            }
            // The requests went with the panicked task: their callers see
            // their replies dropped, as when the writer stops.
            Err(e) => Err(format!("the SQLite writer panicked: {e}")),
        }
    }
}

/// The writer's own connection, kept from one batch to the next: a commit
/// does not wait for a pooled connection, and on SQLite the connection's
/// page cache and prepared statements stay warm, as no other connection
/// writes in between.
enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// The number SQLite gave the last row a statement inserted; PostgreSQL
/// returns sequence numbers with `RETURNING` instead.
trait LastRowid {
    fn last_rowid(&self) -> Option<i64>;
}

impl LastRowid for SqliteQueryResult {
    fn last_rowid(&self) -> Option<i64> {
        Some(self.last_insert_rowid())
    }
}

impl LastRowid for PgQueryResult {
    fn last_rowid(&self) -> Option<i64> {
        None
    }
}

/// Write `batch` on the writer's connection, taking one from the pool
/// first if it has none. A failed write gives its connection up, in case
/// the connection is what failed.
async fn write(
    pool: &Pool,
    conn: &mut Option<Conn>,
    batch: &[Request],
    outlets: &Outlets,
) -> Result<Done, sqlx::Error> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(match pool {
            Pool::Sqlite(p) => Conn::Sqlite(p.acquire().await?),
            Pool::Postgres(p) => Conn::Postgres(p.acquire().await?),
        }),
    };
    let written = write_on(c, batch, outlets).await;
    if written.is_err() {
        *conn = None;
    }
    written
}

/// What a successful batch produced, per request.
struct Done {
    /// The time the batch stored.
    at: Millis,
    outcomes: Vec<Outcome>,
    events: Vec<StoredEvent>,
    /// Runs whose waiting lock requests were granted.
    granted: Vec<String>,
}

fn finish(requests: impl Iterator<Item = Request>, done: Done, outlets: &Outlets) {
    // Publish before replying, so a caller that subscribes after its commit
    // returns cannot miss an event of that commit in a later read.
    for event in done.events {
        let _ = outlets.events.send(Arc::new(event));
    }
    for run in done.granted {
        let _ = outlets.lock_grants.send(run);
    }
    let at = done.at;
    for (request, outcome) in requests.zip(done.outcomes) {
        match (request, outcome) {
            (Request::Commit { reply, .. }, Outcome::Fenced(run)) => {
                let _ = reply.send(Err(Refused::Fenced(run)));
            }
            (Request::Commit { reply, .. }, _) => {
                let _ = reply.send(Ok(at));
            }
            (Request::Create { reply, .. }, Outcome::Created(created)) => {
                let _ = reply.send(Ok((created, at)));
            }
            (Request::Create { reply, .. }, _) => {
                let _ = reply.send(Err(Refused::Failed("run was not created".into())));
            }
        }
    }
}

fn fail(requests: impl Iterator<Item = Request>, error: &str) {
    tracing::error!(%error, "commit failed");
    for request in requests {
        match request {
            Request::Commit { reply, .. } => {
                let _ = reply.send(Err(Refused::Failed(error.to_string())));
            }
            Request::Create { reply, .. } => {
                let _ = reply.send(Err(Refused::Failed(error.to_string())));
            }
        }
    }
}

/// An event waiting for its sequence number.
struct Pending<'a> {
    run_id: Option<&'a str>,
    event: &'a NewEvent,
    data: std::borrow::Cow<'a, str>,
}

/// Rows per multi-row statement; well under SQLite's parameter limit.
const CHUNK: usize = 500;

/// Run the same code on whichever connection the writer has.
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            Conn::Sqlite($c) => $body,
            Conn::Postgres($c) => $body,
        }
    };
}

async fn write_on(c: &mut Conn, batch: &[Request], outlets: &Outlets) -> Result<Done, sqlx::Error> {
    let events = &outlets.events;
    let postgres = matches!(c, Conn::Postgres(_));
    // Whether this transaction has its turn at the locks table.
    let mut turn = false;
    let mut locks_changed = false;
    let at = now_millis();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut pending: Vec<Pending<'_>> = Vec::new();
    let mut executions: HashMap<ExecKey<'_>, &Execution> = HashMap::new();
    let mut order: Vec<ExecKey<'_>> = Vec::new();
    let mut changes: Vec<(Option<&str>, &Transition)> = Vec::new();
    let mut audits: Vec<&NewEvent> = Vec::new();

    with_conn!(c, c => {
        let mut tx = sqlx::Connection::begin(&mut **c).await?;
        // Batches that change locks take their turn first, before any row
        // lock, so that two nodes' batches cannot wait for each other.
        if batch.iter().any(|r| !r.transition().locks.is_empty()) {
            crate::locks::lock_turn!(tx, turn, postgres);
        }
        for request in batch {
            match request {
                Request::Create { run, transition, created_at, .. } => {
                    if let Some(taken) = crate::locks::refused!(tx, turn, postgres, &run.id, transition) {
                        outcomes.push(Outcome::Created(Created::Locked(taken)));
                        continue;
                    }
                    // No conflict target: a taken idempotency key and a taken
                    // unique run key both insert nothing, and neither aborts
                    // the other requests of this batch.
                    let inserted: Option<(String,)> = sqlx::query_as(sql::CREATE_RUN)
                    .bind(&run.id)
                    .bind(&run.workflow)
                    .bind(run.version)
                    .bind(run.input.to_string())
                    .bind(&run.idempotency_key)
                    .bind(&run.trigger)
                    .bind(created_at.unwrap_or(at))
                    .bind(&run.owner)
                    .bind(i64::from(run.owner.is_some()))
                    .bind(&run.key)
                    .bind(run.key.as_ref().filter(|_| run.unique_key))
                    .bind(run.parent.as_ref().map(|p| &p.0))
                    .bind(run.parent.as_ref().map(|p| &p.1))
                    .bind(run.depth)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if inserted.is_some() {
                        outcomes.push(Outcome::Created(Created::New(run.id.clone())));
                        changes.push((Some(run.id.as_str()), transition));
                        audits.extend(&run.audit);
                        continue;
                    }
                    let existing: Option<(String,)> = sqlx::query_as(sql::RUN_BY_IDEMPOTENCY_KEY)
                    .bind(&run.workflow)
                    .bind(&run.idempotency_key)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let holder: Option<(String,)> = match (&existing, &run.key) {
                        (None, Some(key)) if run.unique_key => {
                            sqlx::query_as(sql::RUN_BY_ACTIVE_KEY)
                                .bind(&run.workflow)
                                .bind(key)
                                .fetch_optional(&mut *tx)
                                .await?
                        }
                        _ => None,
                    };
                    let outcome = match (existing, holder) {
                        (Some((id,)), _) => Created::Existing(id),
                        (None, Some((id,))) => Created::KeyTaken(id),
                        // Only a clashing run id is left: that request
                        // fails (alone, when the batch is written again).
                        (None, None) => {
                            return Err(sqlx::Error::Protocol(sql::id_taken(&run.id)));
                        }
                    };
                    outcomes.push(Outcome::Created(outcome));
                }
                Request::Commit { transition, .. } => {
                    // The fence is checked first, in this transaction: on
                    // PostgreSQL the row lock it takes makes a takeover wait
                    // for this commit, so a run's events stay in commit order.
                    if let (Some(fence), Some(id)) = (&transition.fence, &transition.run_id) {
                        let owned = sqlx::query(sql::FENCE)
                        .bind(id)
                        .bind(&fence.owner)
                        .bind(fence.epoch)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                            == 1;
                        if !owned {
                            outcomes.push(Outcome::Fenced(id.clone()));
                            continue;
                        }
                    }
                    outcomes.push(Outcome::Committed);
                    changes.push((transition.run_id.as_deref(), transition));
                }
            }
        }
        for (run_id, transition) in changes {
            for event in &transition.events {
                pending.push(Pending { run_id, event, data: event.data.text() });
            }
            for execution in &transition.executions {
                let key = ExecKey::of(execution);
                if executions.insert(key, execution).is_none() {
                    order.push(key);
                }
            }
            if let (Some(id), Some(update)) = (run_id, &transition.run) {
                let finished = update.status.is_terminal().then_some(at);
                sqlx::query(sql::UPDATE_RUN)
                .bind(update.status.as_str())
                .bind(update.output.as_ref().map(Value::to_string))
                .bind(&update.error)
                .bind(at)
                .bind(finished)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if finished.is_some() && !transition.lockless {
                    // A run that holds or waits for nothing costs one lookup.
                    let has: Option<(i64,)> =
                        sqlx::query_as("SELECT id FROM locks WHERE run_id = $1 LIMIT 1")
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if has.is_some() {
                        crate::locks::lock_turn!(tx, turn, postgres);
                        sqlx::query("DELETE FROM locks WHERE run_id = $1")
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        locks_changed = true;
                    }
                }
            }
            if let Some(id) = run_id {
                for op in &transition.locks {
                    locks_changed |= crate::locks::apply!(tx, turn, postgres, id, op, at);
                }
            }
        }
        let granted = if locks_changed {
            crate::locks::grant!(tx, turn, postgres, at)
        } else {
            Vec::new()
        };

        for event in audits {
            pending.push(Pending { run_id: None, event, data: event.data.text() });
        }

        let mut seqs: Vec<i64> = Vec::with_capacity(pending.len());
        for chunk in pending.chunks(CHUNK) {
            let mut q = sqlx::QueryBuilder::new(sql::INSERT_EVENTS);
            q.push_values(chunk, |mut row, e| {
                row.push_bind(e.run_id)
                    .push_bind(at)
                    .push_bind(&e.event.kind)
                    .push_bind(&e.event.node_id)
                    .push_bind(&e.event.actor)
                    .push_bind(e.data.as_ref());
            });
            if postgres {
                q.push(" RETURNING seq");
                let mut got: Vec<(i64,)> = q.build_query_as().fetch_all(&mut *tx).await?;
                // Sequence numbers are drawn in row order; sort in case the
                // database returns them otherwise.
                got.sort_unstable();
                seqs.extend(got.into_iter().map(|(s,)| s));
            } else {
                // SQLite has one writer, so one statement's rows take
                // consecutive numbers up to the last: one row comes back
                // instead of one per event.
                let last = q
                    .build()
                    .execute(&mut *tx)
                    .await?
                    .last_rowid()
                    .ok_or_else(|| sqlx::Error::Protocol("no row id came back".into()))?;
                let first = last - chunk.len() as i64 + 1;
                seqs.extend(first..=last);
            }
        }

        let rows: Vec<&Execution> = order.iter().filter_map(|k| executions.get(k).copied()).collect();
        for chunk in rows.chunks(CHUNK) {
            let mut q = sqlx::QueryBuilder::new(sql::UPSERT_EXECUTIONS);
            q.push_values(chunk, |mut row, x| {
                row.push_bind(&x.run_id)
                    .push_bind(&x.node_id)
                    .push_bind(x.item.map_or(-1, i64::from))
                    .push_bind(x.phase.as_str())
                    .push_bind(i64::from(x.attempt))
                    .push_bind(&x.status)
                    .push_bind(x.output.as_ref().map(Value::to_string))
                    .push_bind(&x.error)
                    .push_bind(&x.error_kind)
                    .push_bind(x.started_at)
                    .push_bind(x.finished_at)
                    .push_bind(x.retry_at);
            });
            q.push(sql::UPSERT_EXECUTIONS_TAIL);
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;

        // Only a subscriber (an event stream) needs the events back; with
        // none, nothing is copied.
        let listened = events.receiver_count() > 0;
        let events = pending
            .iter()
            .zip(seqs)
            .filter(|_| listened)
            .map(|(e, seq)| stored_event(seq, e.run_id, at, e.event))
            .collect();
        Ok(Done {
            at,
            outcomes,
            events,
            granted,
        })
    })
}

/// `event` as committed, for the event stream.
fn stored_event(
    seq: i64,
    run_id: Option<&str>,
    at: crate::model::Millis,
    event: &NewEvent,
) -> StoredEvent {
    StoredEvent {
        seq,
        run_id: run_id.map(str::to_string),
        at,
        kind: event.kind.clone(),
        node_id: event.node_id.clone(),
        actor: event.actor.clone(),
        data: event.data.value(),
    }
}

/// The primary key of an execution row.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct ExecKey<'a> {
    run_id: &'a str,
    node_id: &'a str,
    item: Option<u32>,
    phase: crate::model::Phase,
    attempt: u32,
}

impl<'a> ExecKey<'a> {
    fn of(x: &'a Execution) -> Self {
        Self {
            run_id: &x.run_id,
            node_id: &x.node_id,
            item: x.item,
            phase: x.phase,
            attempt: x.attempt,
        }
    }
}

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

use crate::model::{Created, Execution, NewEvent, NewRun, StoredEvent, Transition, now_millis};
use crate::store::{Pool, WriterStats, with_pool};
use std::sync::atomic::Ordering;

/// What the writer is asked to do.
pub(crate) enum Request {
    Commit {
        transition: Transition,
        reply: oneshot::Sender<Result<(), Refused>>,
    },
    Create {
        run: Box<NewRun>,
        transition: Transition,
        reply: oneshot::Sender<Result<Created, Refused>>,
    },
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

pub(crate) fn spawn(
    pool: Pool,
    events: broadcast::Sender<Arc<StoredEvent>>,
    stats: Arc<WriterStats>,
    gate: Arc<RwLock<()>>,
    max_batch: usize,
) -> mpsc::Sender<Request> {
    let (tx, rx) = mpsc::channel(max_batch * 4);
    tokio::spawn(run(pool, rx, events, stats, gate, max_batch));
    tx
}

async fn run(
    pool: Pool,
    mut rx: mpsc::Receiver<Request>,
    events: broadcast::Sender<Arc<StoredEvent>>,
    stats: Arc<WriterStats>,
    gate: Arc<RwLock<()>>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        // Write-held by `Store::hold_commits`, and on SQLite by a retention
        // batch: then nothing is committed until it is released.
        let _open = gate.read().await;
        match write(&pool, &batch, &events).await {
            Ok(done) => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats
                    .transitions
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                finish(batch.drain(..), done, &events)
            }
            Err(e) if batch.len() > 1 => {
                // One bad request must not fail the others: write each alone.
                tracing::warn!(error = %e, size = batch.len(), "group commit failed; retrying one by one");
                for request in batch.drain(..) {
                    let one = [request];
                    match write(&pool, &one, &events).await {
                        Ok(done) => finish(one.into_iter(), done, &events),
                        Err(e) => fail(one.into_iter(), &e.to_string()),
                    }
                }
            }
            Err(e) => fail(batch.drain(..), &e.to_string()),
        }
    }
}

/// What a successful batch produced, per request.
struct Done {
    outcomes: Vec<Outcome>,
    events: Vec<StoredEvent>,
}

fn finish(
    requests: impl Iterator<Item = Request>,
    done: Done,
    events: &broadcast::Sender<Arc<StoredEvent>>,
) {
    // Publish before replying, so a caller that subscribes after its commit
    // returns cannot miss an event of that commit in a later read.
    for event in done.events {
        let _ = events.send(Arc::new(event));
    }
    for (request, outcome) in requests.zip(done.outcomes) {
        match (request, outcome) {
            (Request::Commit { reply, .. }, Outcome::Fenced(run)) => {
                let _ = reply.send(Err(Refused::Fenced(run)));
            }
            (Request::Commit { reply, .. }, _) => {
                let _ = reply.send(Ok(()));
            }
            (Request::Create { reply, .. }, Outcome::Created(created)) => {
                let _ = reply.send(Ok(created));
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

async fn write(
    pool: &Pool,
    batch: &[Request],
    events: &broadcast::Sender<Arc<StoredEvent>>,
) -> Result<Done, sqlx::Error> {
    let at = now_millis();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut pending: Vec<Pending<'_>> = Vec::new();
    let mut executions: HashMap<ExecKey<'_>, &Execution> = HashMap::new();
    let mut order: Vec<ExecKey<'_>> = Vec::new();
    let mut changes: Vec<(Option<&str>, &Transition)> = Vec::new();
    let mut audits: Vec<&NewEvent> = Vec::new();

    with_pool!(pool, p => {
        let mut tx = p.begin().await?;
        for request in batch {
            match request {
                Request::Create { run, transition, .. } => {
                    let inserted: Option<(String,)> = sqlx::query_as(
                        "INSERT INTO runs (id, workflow, version, status, input, idempotency_key, \
                         trigger, created_at, updated_at, owner, epoch) \
                         VALUES ($1, $2, $3, 'running', $4, $5, $6, $7, $7, $8, $9) \
                         ON CONFLICT (workflow, idempotency_key) DO NOTHING RETURNING id",
                    )
                    .bind(&run.id)
                    .bind(&run.workflow)
                    .bind(run.version)
                    .bind(run.input.to_string())
                    .bind(&run.idempotency_key)
                    .bind(&run.trigger)
                    .bind(at)
                    .bind(&run.owner)
                    .bind(i64::from(run.owner.is_some()))
                    .fetch_optional(&mut *tx)
                    .await?;
                    if inserted.is_some() {
                        outcomes.push(Outcome::Created(Created::New(run.id.clone())));
                        changes.push((Some(run.id.as_str()), transition));
                        audits.extend(&run.audit);
                    } else {
                        let (id,): (String,) = sqlx::query_as(
                            "SELECT id FROM runs WHERE workflow = $1 AND idempotency_key = $2",
                        )
                        .bind(&run.workflow)
                        .bind(&run.idempotency_key)
                        .fetch_one(&mut *tx)
                        .await?;
                        outcomes.push(Outcome::Created(Created::Existing(id)));
                    }
                }
                Request::Commit { transition, .. } => {
                    // The fence is checked first, in this transaction: on
                    // PostgreSQL the row lock it takes makes a takeover wait
                    // for this commit, so a run's events stay in commit order.
                    if let (Some(fence), Some(id)) = (&transition.fence, &transition.run_id) {
                        let owned = sqlx::query(
                            "UPDATE runs SET epoch = epoch WHERE id = $1 AND owner = $2 AND epoch = $3",
                        )
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
                sqlx::query(
                    "UPDATE runs SET status = $1, output = $2, error = $3, updated_at = $4, \
                     finished_at = $5 WHERE id = $6",
                )
                .bind(update.status.as_str())
                .bind(update.output.as_ref().map(Value::to_string))
                .bind(&update.error)
                .bind(at)
                .bind(finished)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
        }

        for event in audits {
            pending.push(Pending { run_id: None, event, data: event.data.text() });
        }

        let mut seqs: Vec<i64> = Vec::with_capacity(pending.len());
        for chunk in pending.chunks(CHUNK) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO events (run_id, at, kind, node_id, actor, data) ",
            );
            q.push_values(chunk, |mut row, e| {
                row.push_bind(e.run_id)
                    .push_bind(at)
                    .push_bind(&e.event.kind)
                    .push_bind(&e.event.node_id)
                    .push_bind(&e.event.actor)
                    .push_bind(e.data.as_ref());
            });
            q.push(" RETURNING seq");
            let mut got: Vec<(i64,)> = q.build_query_as().fetch_all(&mut *tx).await?;
            // Sequence numbers are drawn in row order; sort in case the
            // database returns them otherwise.
            got.sort_unstable();
            seqs.extend(got.into_iter().map(|(s,)| s));
        }

        let rows: Vec<&Execution> = order.iter().filter_map(|k| executions.get(k).copied()).collect();
        for chunk in rows.chunks(CHUNK) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO node_executions (run_id, node_id, item, phase, attempt, status, output, \
                 error, error_kind, started_at, finished_at, retry_at) ",
            );
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
            q.push(
                " ON CONFLICT (run_id, node_id, item, phase, attempt) DO UPDATE SET \
                 status = excluded.status, output = excluded.output, error = excluded.error, \
                 error_kind = excluded.error_kind, started_at = excluded.started_at, \
                 finished_at = excluded.finished_at, retry_at = excluded.retry_at",
            );
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
            .map(|(e, seq)| StoredEvent {
                seq,
                run_id: e.run_id.map(str::to_string),
                at,
                kind: e.event.kind.clone(),
                node_id: e.event.node_id.clone(),
                actor: e.event.actor.clone(),
                data: e.event.data.value(),
            })
            .collect();
        Ok(Done { outcomes, events })
    })
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

//! The writer's statements, shared by its two paths: the pool's (sqlx, both
//! backends) and the SQLite file's own connection (rusqlite, see `lite`).
//! Parameters are `$N`, numbered in the order they first appear, which
//! PostgreSQL, sqlx's SQLite and SQLite's own positional binding all read
//! the same way.

/// Insert a new run; nothing if its id, idempotency key or unique key is
/// taken (no conflict target, so that none of them aborts the batch).
pub(super) const CREATE_RUN: &str = "INSERT INTO runs (id, workflow, version, status, input, \
     idempotency_key, trigger, created_at, updated_at, owner, epoch, run_key, active_key, \
     parent_run, parent_node, depth) \
     VALUES ($1, $2, $3, 'running', $4, $5, $6, $7, $7, $8, $9, $10, $11, $12, $13, $14) \
     ON CONFLICT DO NOTHING RETURNING id";

/// The run that already has a workflow's idempotency key.
pub(super) const RUN_BY_IDEMPOTENCY_KEY: &str =
    "SELECT id FROM runs WHERE workflow = $1 AND idempotency_key = $2";

/// The active run that holds a workflow's unique key.
pub(super) const RUN_BY_ACTIVE_KEY: &str =
    "SELECT id FROM runs WHERE workflow = $1 AND active_key = $2";

/// Touches the run only if this writer still owns it: one row, or fenced.
pub(super) const FENCE: &str =
    "UPDATE runs SET epoch = epoch WHERE id = $1 AND owner = $2 AND epoch = $3";

/// A run's new status; an end (`finished_at` set) gives its unique key up.
pub(super) const UPDATE_RUN: &str = "UPDATE runs SET status = $1, output = $2, error = $3, \
     updated_at = $4, finished_at = $5, \
     active_key = CASE WHEN $5 IS NULL THEN active_key ELSE NULL END WHERE id = $6";

macro_rules! events_insert {
    () => {
        "INSERT INTO events (run_id, at, kind, node_id, actor, data) "
    };
}

macro_rules! executions_insert {
    () => {
        "INSERT INTO node_executions (run_id, node_id, item, phase, attempt, status, output, \
         error, error_kind, started_at, finished_at, retry_at) "
    };
}

macro_rules! executions_conflict {
    () => {
        " ON CONFLICT (run_id, node_id, item, phase, attempt) DO UPDATE SET \
         status = excluded.status, output = excluded.output, error = excluded.error, \
         error_kind = excluded.error_kind, started_at = excluded.started_at, \
         finished_at = excluded.finished_at, retry_at = excluded.retry_at"
    };
}

/// The head of a multi-row events insert; its `VALUES` follow.
pub(super) const INSERT_EVENTS: &str = events_insert!();

/// One event.
pub(super) const INSERT_EVENT: &str = concat!(events_insert!(), "VALUES ($1, $2, $3, $4, $5, $6)");

/// The head of a multi-row execution upsert; its `VALUES` and then
/// [`UPSERT_EXECUTIONS_TAIL`] follow.
pub(super) const UPSERT_EXECUTIONS: &str = executions_insert!();

/// What an execution upsert does with a row that exists.
pub(super) const UPSERT_EXECUTIONS_TAIL: &str = executions_conflict!();

/// One execution row, inserted or updated.
pub(super) const UPSERT_EXECUTION: &str = concat!(
    executions_insert!(),
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    executions_conflict!()
);

/// Why a new run whose id, idempotency key and unique key were all checked
/// was still not inserted.
pub(super) fn id_taken(run_id: &str) -> String {
    format!("a run with id {run_id} exists already")
}

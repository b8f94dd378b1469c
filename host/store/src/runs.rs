//! The `runs` and `node_executions` tables, and committing transitions.

use serde_json::Value;
use tokio::sync::oneshot;

use crate::error::corrupt;
use crate::model::{
    Created, Execution, Millis, NewRun, Phase, RunFilter, RunRecord, RunStatus, Transition,
};
use crate::store::with_pool;
use crate::writer::Request;
use crate::{Error, Result, Store};

type RunRow = (
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT id, workflow, version, status, input, output, error, idempotency_key, \
             trigger, created_at, updated_at, finished_at, run_key, parent_run, parent_node, depth FROM runs ",
            $rest
        )
    };
}

fn json(what: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

fn run_record(row: RunRow) -> Result<RunRecord> {
    let (
        id,
        workflow,
        version,
        status,
        input,
        output,
        error,
        key,
        trigger,
        created,
        updated,
        finished,
        run_key,
        parent_run,
        parent_node,
        depth,
    ) = row;
    Ok(RunRecord {
        status: RunStatus::parse(&status)
            .ok_or_else(|| corrupt("run status", format!("`{status}` in run {id}")))?,
        input: json("run input", &input)?,
        output: output
            .as_deref()
            .map(|o| json("run output", o))
            .transpose()?,
        id,
        workflow,
        version,
        error,
        idempotency_key: key,
        key: run_key,
        parent: parent_run.zip(parent_node),
        depth,
        trigger,
        created_at: created,
        updated_at: updated,
        finished_at: finished,
    })
}

type ExecRow = (
    String,
    String,
    i64,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

impl Store {
    /// Create a run and commit its first transition, in one group commit.
    /// With an idempotency key that the workflow already has a run for,
    /// nothing is written and that run's id is returned.
    pub async fn create_run(&self, run: NewRun, transition: Transition) -> Result<Created> {
        Ok(self.create_run_at(run, transition).await?.0)
    }

    /// [`Store::create_run`], and the time the commit stored: the run's
    /// `created_at` and `updated_at` if it was created, and its events' `at`.
    pub async fn create_run_at(
        &self,
        run: NewRun,
        transition: Transition,
    ) -> Result<(Created, Millis)> {
        let rx = self.queue_create(run, transition, None).await?;
        rx.await.map_err(|_| Error::Closed)?.map_err(Error::from)
    }

    /// Hand the creation of `run` to the writer, with its `created_at` if
    /// not the commit's time; the writer's answer comes on the receiver.
    /// [`Error::Closed`] if the writer has stopped.
    async fn queue_create(
        &self,
        run: NewRun,
        transition: Transition,
        created_at: Option<Millis>,
    ) -> Result<oneshot::Receiver<std::result::Result<(Created, Millis), crate::writer::Refused>>>
    {
        let (reply, rx) = oneshot::channel();
        self.writes
            .send(Request::Create {
                run: Box::new(run),
                transition,
                created_at,
                reply,
            })
            .await
            .map_err(|_| Error::Closed)?;
        Ok(rx)
    }

    /// [`Store::create_run_at`], answered sooner where it can be. On an
    /// SQLite file, a run that nothing could refuse (no idempotency key, no
    /// unique key, no locks, not a child run) and whose creation writes
    /// nothing but the run and its events is written to the intake log
    /// (see `intake`), and this returns once it is durable there, with the
    /// time it was accepted. The writer then creates it; reads of runs and
    /// events wait for that. Anything else is created by the writer before
    /// this returns, as [`Store::create_run_at`] does.
    pub async fn accept_run(
        &self,
        run: NewRun,
        transition: Transition,
    ) -> Result<(Created, Millis)> {
        let intake = match &self.intake {
            Some(intake) if crate::intake::record::fits(&run, &transition) => intake.clone(),
            _ => return self.create_run_at(run, transition).await,
        };
        let body = crate::intake::record::encode(&run, &transition)?;
        let id = run.id.clone();
        let at = intake.accept(id.clone(), body).await?;
        let Ok(rx) = self.queue_create(run, transition, Some(at)).await else {
            // The writer has stopped: the run is accepted all the same, and
            // the next start creates it from the intake log.
            tracing::warn!(run = %id, "accepted while the writer stops; the next start creates it");
            intake.stored(&id, false);
            return Ok((Created::New(id), at));
        };
        let created_id = id.clone();
        tokio::spawn(async move {
            let id = created_id;
            let created = match rx.await {
                Ok(Ok((Created::New(_), _))) => true,
                Ok(Ok((other, _))) => {
                    tracing::error!(run = %id, outcome = ?other, "an accepted run was not created; the next start creates it from the intake log");
                    false
                }
                Ok(Err(refused)) => {
                    tracing::error!(run = %id, error = %Error::from(refused), "an accepted run was not created; the next start creates it from the intake log");
                    false
                }
                Err(_) => false,
            };
            intake.stored(&id, created);
        });
        Ok((Created::New(id), at))
    }

    /// Create the runs that the intake log holds and the main database
    /// does not: accepted before the last stop, and not created by then.
    /// Their rows go once their runs are there.
    pub(crate) async fn create_accepted(&self, rows: Vec<crate::intake::Row>) -> Result<()> {
        let Some(intake) = &self.intake else {
            return Ok(());
        };
        let mut there = Vec::new();
        let mut waiting = Vec::new();
        for row in rows {
            if self.run_exists(&row.id).await? {
                there.push(row.id);
                continue;
            }
            let (run, transition) = match crate::intake::record::decode(&row.body) {
                Ok(decoded) => decoded,
                Err(e) => {
                    tracing::error!(run = %row.id, log = %intake.path.display(), error = %e, "an accepted run in the intake log cannot be read; its row is kept");
                    continue;
                }
            };
            let rx = self.queue_create(run, transition, Some(row.at)).await?;
            waiting.push((row.id, rx));
        }
        let recovered = waiting.len();
        for (id, rx) in waiting {
            if let Err(refused) = rx.await.map_err(|_| Error::Closed)? {
                // Created meanwhile by another store on the same file.
                if !self.run_exists(&id).await? {
                    return Err(refused.into());
                }
            }
            there.push(id);
        }
        if recovered > 0 {
            tracing::info!(
                runs = recovered,
                "created the runs accepted before the last stop"
            );
        }
        intake.forget(there);
        Ok(())
    }

    async fn run_exists(&self, id: &str) -> Result<bool> {
        let row: Option<(String,)> = with_pool!(&self.pool, p => {
            sqlx::query_as("SELECT id FROM runs WHERE id = $1").bind(id).fetch_optional(p).await?
        });
        Ok(row.is_some())
    }

    /// Wait until the writer has created run `id` (every run, with none),
    /// if it was accepted into the intake log and is not created yet.
    pub(crate) async fn settled(&self, id: Option<&str>) {
        if let Some(intake) = &self.intake {
            intake.settled(id).await;
        }
    }

    /// Commit a transition. Returns once it is durable.
    pub async fn commit(&self, transition: Transition) -> Result<()> {
        self.commit_at(transition).await.map(drop)
    }

    /// [`Store::commit`], and the time the commit stored: its events' `at`,
    /// and the run's `updated_at` (and `finished_at`) if its status changed.
    pub async fn commit_at(&self, transition: Transition) -> Result<Millis> {
        let (reply, rx) = oneshot::channel();
        self.writes
            .send(Request::Commit { transition, reply })
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?.map_err(Error::from)
    }

    /// The run with this id.
    pub async fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        self.settled(Some(id)).await;
        let row: Option<RunRow> = with_pool!(&self.pool, p => {
            sqlx::query_as(select!("WHERE id = $1")).bind(id).fetch_optional(p).await?
        });
        row.map(run_record).transpose()
    }

    /// Runs matching `filter`, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        self.settled(None).await;
        let rows: Vec<RunRow> = with_pool!(&self.pool, p => {
            let mut q = sqlx::QueryBuilder::new(select!("WHERE 1 = 1"));
            if let Some(w) = &filter.workflow {
                q.push(" AND workflow = ").push_bind(w);
            }
            if let Some(s) = filter.status {
                q.push(" AND status = ").push_bind(s.as_str());
            }
            if let Some(k) = &filter.key {
                q.push(" AND run_key = ").push_bind(k);
            }
            if let Some(b) = &filter.before {
                q.push(" AND id < ").push_bind(b);
            }
            if let Some(t) = filter.created_after {
                q.push(" AND created_at >= ").push_bind(t);
            }
            if let Some(t) = filter.created_before {
                q.push(" AND created_at < ").push_bind(t);
            }
            q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(filter.limit.max(1)));
            q.build_query_as().fetch_all(p).await?
        });
        rows.into_iter().map(run_record).collect()
    }

    /// The runs that run `run_id` started as sub-workflows, oldest first.
    pub async fn child_runs(&self, run_id: &str) -> Result<Vec<RunRecord>> {
        let rows: Vec<RunRow> = with_pool!(&self.pool, p => {
            sqlx::query_as(select!("WHERE parent_run = $1 ORDER BY id"))
                .bind(run_id)
                .fetch_all(p)
                .await?
        });
        rows.into_iter().map(run_record).collect()
    }

    /// Runs that have not finished, oldest first: what to resume at start-up.
    pub async fn unfinished_runs(&self) -> Result<Vec<RunRecord>> {
        let rows: Vec<RunRow> = with_pool!(&self.pool, p => {
            sqlx::query_as(select!("WHERE status IN ('running', 'held') ORDER BY id")).fetch_all(p).await?
        });
        rows.into_iter().map(run_record).collect()
    }

    /// How many runs are in each status.
    pub async fn count_runs(&self) -> Result<Vec<(RunStatus, i64)>> {
        self.settled(None).await;
        let rows: Vec<(String, i64)> = with_pool!(&self.pool, p => {
            sqlx::query_as("SELECT status, COUNT(*) FROM runs GROUP BY status")
                .fetch_all(p)
                .await?
        });
        rows.into_iter()
            .map(|(s, n)| {
                RunStatus::parse(&s)
                    .map(|s| (s, n))
                    .ok_or_else(|| corrupt("run status", s))
            })
            .collect()
    }

    /// Every execution of a run: attempts of nodes, foreach items and
    /// compensations, in start order.
    pub async fn executions(&self, run_id: &str) -> Result<Vec<Execution>> {
        self.settled(Some(run_id)).await;
        let rows: Vec<ExecRow> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT run_id, node_id, item, phase, attempt, status, output, error, error_kind, \
                 started_at, finished_at, retry_at FROM node_executions WHERE run_id = $1 \
                 ORDER BY started_at, node_id, item, attempt",
            )
            .bind(run_id)
            .fetch_all(p)
            .await?
        });
        rows.into_iter()
            .map(|r| {
                let (
                    run_id,
                    node_id,
                    item,
                    phase,
                    attempt,
                    status,
                    output,
                    error,
                    kind,
                    started,
                    finished,
                    retry,
                ) = r;
                Ok(Execution {
                    run_id,
                    node_id,
                    item: u32::try_from(item).ok(),
                    phase: match phase.as_str() {
                        "compensate" => Phase::Compensate,
                        _ => Phase::Run,
                    },
                    attempt: u32::try_from(attempt).map_err(|e| corrupt("attempt", e))?,
                    status,
                    output: output
                        .as_deref()
                        .map(|o| json("execution output", o))
                        .transpose()?,
                    error,
                    error_kind: kind,
                    started_at: started,
                    finished_at: finished,
                    retry_at: retry,
                })
            })
            .collect()
    }
}

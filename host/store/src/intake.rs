//! The intake log: runs accepted before the writer has created them.
//!
//! An accepted run (`202 Accepted`) must survive a crash. Through the
//! writer alone, its answer waits for the group commit in flight and then
//! for its own, and at half of saturation that writer is busy most of the
//! time. On an SQLite file, a run that nothing could refuse (see
//! [`record::fits`]) is instead written to a small database of its own,
//! next to the main one (`PATH-intake`), by a thread of its own that
//! commits every run waiting at that moment in one transaction, synced as
//! the main database is. Its answer waits for that commit only. The run is
//! then handed to the writer, which creates it as it would have.
//!
//! - **Reads stay in step.** Until the writer has created a run, reads of
//!   runs and events wait for it (see [`Intake::settled`]): a client that
//!   got `202` and asks for the run finds it.
//! - **Nothing is lost.** A row leaves the intake log after the run it
//!   holds is in the main database. At start, every row whose run is not
//!   there is created from the row (see `Store::open`), with the time it
//!   was accepted, and the engine then resumes it as any other.
//! - **Tests see what a slow disk shows.** `Store::hold_commits` holds
//!   this log's commits too.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use tokio::sync::{RwLock, oneshot, watch};

use crate::model::{Millis, now_millis};
use crate::store::{Synchronous, WriterStats};
use crate::{Error, Result};

pub(crate) mod record;

/// Runs taken into one intake commit, at most.
const MAX_BATCH: usize = 1024;

/// How long rows of created runs wait for an accept's commit to be
/// deleted in, before they are deleted in a commit of their own.
const IDLE: Duration = Duration::from_millis(500);

/// The file of the intake log for the database file `main`.
pub(crate) fn path_for(main: &Path) -> PathBuf {
    let mut name = main.as_os_str().to_owned();
    name.push("-intake");
    PathBuf::from(name)
}

/// A row of the intake log: a run's id, when it was accepted, and its
/// creation as [`record::encode`] gave it.
pub(crate) struct Row {
    pub id: String,
    pub at: Millis,
    pub body: String,
}

/// What the intake thread is asked to do.
enum Job {
    /// Keep this run, and answer once it is synced.
    Accept {
        id: String,
        body: String,
        reply: oneshot::Sender<std::result::Result<Millis, String>>,
    },
    /// This run is in the main database: its row may go.
    Created(String),
    /// End the thread (see [`Intake::stop`]).
    Stop,
}

/// The intake log of an SQLite file store.
pub(crate) struct Intake {
    /// Its file (`PATH-intake`), for messages.
    pub(crate) path: PathBuf,
    jobs: Sender<Job>,
    /// The lock on `PATH-intake.lock`: one store at a time uses the log.
    held: Mutex<Option<File>>,
    /// Set by [`Intake::stop`]: nothing more is accepted.
    stopped: AtomicBool,
    /// Accepted runs that the writer has not created yet.
    unstored: Mutex<HashSet<String>>,
    /// Bumped whenever a run leaves `unstored`.
    changed: watch::Sender<u64>,
    /// Read-held by the intake thread for each commit; write-held by
    /// `Store::hold_commits`.
    pub(crate) gate: Arc<RwLock<()>>,
}

impl Intake {
    /// Open the intake log of the database file `main`, and read the rows
    /// left in it: the runs accepted and perhaps not created before the
    /// last stop. None if another store, in this process or another, uses
    /// it: a store that reads a database served elsewhere neither creates
    /// that server's accepted runs nor waits for them.
    pub(crate) fn open(
        main: &Path,
        synchronous: Synchronous,
        stats: Arc<WriterStats>,
    ) -> Result<Option<(Arc<Self>, Vec<Row>)>> {
        let path = path_for(main);
        let failed = |reason: String| Error::Intake {
            path: path.display().to_string(),
            reason,
        };
        let mut lock = path.as_os_str().to_owned();
        lock.push(".lock");
        let (held, ours) = crate::exclusive::try_lock_file(Path::new(&lock))
            .map_err(|e| failed(format!("its lock file: {e}")))?;
        if !ours {
            return Ok(None);
        }
        let conn = connect(&path, synchronous).map_err(|e| failed(e.to_string()))?;
        let left = read(&conn).map_err(|e| failed(e.to_string()))?;
        let (tx, rx) = channel();
        let gate = Arc::new(RwLock::new(()));
        let thread_gate = gate.clone();
        std::thread::Builder::new()
            .name("baton-intake".into())
            .spawn(move || run(conn, rx, thread_gate, stats))
            .map_err(|e| failed(format!("its thread cannot start: {e}")))?;
        let (changed, _) = watch::channel(0);
        let intake = Arc::new(Self {
            path,
            jobs: tx,
            held: Mutex::new(Some(held)),
            stopped: AtomicBool::new(false),
            unstored: Mutex::default(),
            changed,
            gate,
        });
        Ok(Some((intake, left)))
    }

    /// Take nothing more, and let another store take the log over, as a
    /// crash would: its rows stay for whoever opens it next.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = self.send(Job::Stop);
        drop(lock(&self.held).take());
    }

    /// Keep the run `id`, encoded as `body`; returns once the row is
    /// durable, with the time it was accepted. From then until
    /// [`Intake::stored`], reads wait for the run.
    pub(crate) async fn accept(&self, id: String, body: String) -> Result<Millis> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        let (reply, rx) = oneshot::channel();
        self.send(Job::Accept {
            id: id.clone(),
            body,
            reply,
        })?;
        let at = rx
            .await
            .map_err(|_| Error::Closed)?
            .map_err(Error::Commit)?;
        lock(&self.unstored).insert(id);
        Ok(at)
    }

    /// The writer has tried to create run `id`; `created` if it did, and
    /// then its row may go. Reads waiting for it go on either way: a run
    /// that could not be created stays in the log, for the next start.
    pub(crate) fn stored(&self, id: &str, created: bool) {
        if created {
            // A closed log is a stopping store: the row is dropped at the
            // next start, once its run is found created.
            let _ = self.send(Job::Created(id.to_string()));
        }
        lock(&self.unstored).remove(id);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Wait until the writer has created run `id`, if it was accepted and
    /// not yet created; with no id, every run accepted so far.
    pub(crate) async fn settled(&self, id: Option<&str>) {
        let mut changes = self.changed.subscribe();
        let waiting: Vec<String> = {
            let unstored = lock(&self.unstored);
            match id {
                Some(id) if unstored.contains(id) => vec![id.to_string()],
                Some(_) => return,
                None => unstored.iter().cloned().collect(),
            }
        };
        if waiting.is_empty() {
            return;
        }
        while changes.changed().await.is_ok() {
            let unstored = lock(&self.unstored);
            if waiting.iter().all(|id| !unstored.contains(id)) {
                return;
            }
        }
    }

    /// Let the rows of `ids` go: the runs they hold are in the main
    /// database.
    pub(crate) fn forget(&self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            let _ = self.send(Job::Created(id));
        }
    }

    fn send(&self, job: Job) -> Result<()> {
        self.jobs.send(job).map_err(|_| Error::Closed)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn connect(path: &Path, synchronous: Synchronous) -> rusqlite::Result<Connection> {
    let conn = crate::writer::open_wal(path, synchronous)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS accepted (\
             id TEXT PRIMARY KEY NOT NULL, \
             at INTEGER NOT NULL, \
             body TEXT NOT NULL\
         ) WITHOUT ROWID",
    )?;
    Ok(conn)
}

fn read(conn: &Connection) -> rusqlite::Result<Vec<Row>> {
    let mut statement = conn.prepare("SELECT id, at, body FROM accepted ORDER BY id")?;
    let rows = statement.query_map([], |r| {
        Ok(Row {
            id: r.get(0)?,
            at: r.get(1)?,
            body: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// The intake thread: every accept waiting at that moment, and the rows of
/// runs created since the last commit, in one transaction.
fn run(mut conn: Connection, jobs: Receiver<Job>, gate: Arc<RwLock<()>>, stats: Arc<WriterStats>) {
    let mut accepts = Vec::new();
    let mut created: Vec<String> = Vec::new();
    loop {
        let first = if created.is_empty() {
            jobs.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            jobs.recv_timeout(IDLE)
        };
        let idle = match first {
            Ok(job) => {
                if !take(job, &mut accepts, &mut created) {
                    break;
                }
                false
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut stop = false;
        while accepts.len() < MAX_BATCH && !stop {
            match jobs.try_recv() {
                Ok(job) => stop = !take(job, &mut accepts, &mut created),
                Err(_) => break,
            }
        }
        if stop {
            break;
        }
        // Created runs' rows alone wait for an accept, or for a pause.
        if accepts.is_empty() && !idle && created.len() < MAX_BATCH {
            continue;
        }
        let _open = gate.blocking_read();
        let began = Instant::now();
        let at = now_millis();
        match write(&mut conn, &accepts, &created, at) {
            Ok(()) => {
                stats.intake_times.observe(began.elapsed());
                stats
                    .accepted
                    .fetch_add(accepts.len() as u64, Ordering::Relaxed);
                created.clear();
                for (_, _, reply) in accepts.drain(..) {
                    let _ = reply.send(Ok(at));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "the intake log could not commit");
                for (_, _, reply) in accepts.drain(..) {
                    let _ = reply.send(Err(format!("the intake log could not commit: {e}")));
                }
                // Kept for the next commit; if none succeeds, the next start
                // finds these runs created and drops their rows.
                if created.len() > MAX_BATCH {
                    created.clear();
                }
            }
        }
    }
}

/// A run to keep: its id, its body, and who waits for the commit.
type Accept = (
    String,
    String,
    oneshot::Sender<std::result::Result<Millis, String>>,
);

/// File `job`; false for [`Job::Stop`].
fn take(job: Job, accepts: &mut Vec<Accept>, created: &mut Vec<String>) -> bool {
    match job {
        Job::Accept { id, body, reply } => accepts.push((id, body, reply)),
        Job::Created(id) => created.push(id),
        Job::Stop => return false,
    }
    true
}

fn write(
    conn: &mut Connection,
    accepts: &[Accept],
    created: &[String],
    at: Millis,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut insert =
            tx.prepare_cached("INSERT INTO accepted (id, at, body) VALUES (?1, ?2, ?3)")?;
        for (id, body, _) in accepts {
            insert.execute(params![id, at, body])?;
        }
        let mut delete = tx.prepare_cached("DELETE FROM accepted WHERE id = ?1")?;
        for id in created {
            delete.execute(params![id])?;
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The intake log of the database file `main`, held by this test, and
    /// the rows left in it.
    fn open(main: &Path) -> (Arc<Intake>, Vec<Row>) {
        Intake::open(main, Synchronous::Full, Arc::default())
            .unwrap()
            .expect("no other store holds the log")
    }

    #[tokio::test]
    async fn an_accepted_row_is_there_after_a_reopen_until_its_run_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("baton.db");
        let (intake, left) = open(&main);
        assert!(left.is_empty());
        let at = intake
            .accept("r-1".into(), "{\"x\":1}".into())
            .await
            .unwrap();
        intake.accept("r-2".into(), "{}".into()).await.unwrap();
        assert!(at > 0);
        // Read on a connection of its own, as a restart would.
        let rows = read(&Connection::open(path_for(&main)).unwrap()).unwrap();
        let ids: Vec<_> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["r-1", "r-2"]);
        assert_eq!((rows[0].at, rows[0].body.as_str()), (at, "{\"x\":1}"));

        // r-1 is created: its row goes with the next commit.
        intake.stored("r-1", true);
        intake.accept("r-3".into(), "{}".into()).await.unwrap();
        let rows = read(&Connection::open(path_for(&main)).unwrap()).unwrap();
        let ids: Vec<_> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["r-2", "r-3"]);
        // Held: a second store does without it.
        assert!(
            Intake::open(&main, Synchronous::Full, Arc::default())
                .unwrap()
                .is_none()
        );
        intake.stop();
        assert!(matches!(
            intake.accept("r-4".into(), "{}".into()).await,
            Err(Error::Closed)
        ));

        let (_again, left) = open(&main);
        let ids: Vec<_> = left.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["r-2", "r-3"]);
    }

    #[tokio::test]
    async fn a_read_waits_for_an_accepted_run_until_it_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (intake, _) = open(&dir.path().join("b.db"));
        intake.accept("r-1".into(), "{}".into()).await.unwrap();
        // Another run's read does not wait.
        intake.settled(Some("r-9")).await;
        let one = tokio::spawn({
            let intake = intake.clone();
            async move { intake.settled(Some("r-1")).await }
        });
        let all = tokio::spawn({
            let intake = intake.clone();
            async move { intake.settled(None).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!one.is_finished() && !all.is_finished());
        intake.stored("r-1", false);
        tokio::time::timeout(Duration::from_secs(5), one)
            .await
            .unwrap()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), all)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn a_damaged_log_is_refused_naming_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("d.db");
        std::fs::write(path_for(&main), vec![7u8; 8192]).unwrap();
        let Err(e) = Intake::open(&main, Synchronous::Full, Arc::default()) else {
            panic!("a file that is not a database was opened as the intake log");
        };
        let text = e.to_string();
        assert!(matches!(e, Error::Intake { .. }), "{text}");
        assert!(
            text.contains(&path_for(&main).display().to_string()) && text.contains("accepted runs"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn created_rows_leave_after_a_pause_with_no_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("c.db");
        let (intake, _) = open(&main);
        intake.accept("r-1".into(), "{}".into()).await.unwrap();
        intake.stored("r-1", true);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let rows = read(&Connection::open(path_for(&main)).unwrap()).unwrap();
            if rows.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "a created run's row stayed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

//! Checkpoints of an SQLite file's write-ahead log, off the commit path.
//!
//! SQLite's own checkpoint runs inside the commit that grows the log past
//! 1,000 pages: that commit copies the log's pages into the database file
//! and syncs it before it returns, and every transition waiting for the
//! next group commit waits with it. Under a steady load that is many times
//! a second, each for milliseconds, and it is the tail of the accept
//! latency.
//!
//! Here the work is split in two:
//! - **A pass**, on a thread and a connection of its own, after the
//!   writer's commits and at most every [`INTERVAL`]: it copies what the log
//!   holds into the database file and syncs it. A passive checkpoint takes
//!   no lock the writer needs, so commits go on meanwhile.
//! - **The end of a pass**, on the writer's connection, once the log holds
//!   [`RESTART_AT`] pages or more: it copies only the pages committed during
//!   the pass, so that the writer's next commit starts the log again from
//!   its beginning, as SQLite's own checkpoint lets it. The log stays small,
//!   and its file is overwritten rather than grown. The writer ends a pass
//!   when no request waits for it, or after [`DEFER`] commits.
//!
//! The writer's connection keeps SQLite's own checkpoint at [`BACKSTOP`]
//! pages, in case the thread falls behind or cannot open the file: the log
//! stays bounded either way.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use rusqlite::Connection;

use crate::store::Synchronous;

/// The shortest time between two passes. Short passes keep each sync of
/// the database file small: a sync of many pages delays the log's own sync
/// of a commit that runs at the same time.
pub(crate) const INTERVAL: Duration = Duration::from_millis(5);

/// Pages in the log from which the writer ends a pass, to start the log
/// again: SQLite's own default checkpoint size.
pub(crate) const RESTART_AT: i64 = 1_000;

/// The pause after a pass that failed (the file could not be opened, or
/// the checkpoint failed), before the next one.
pub(crate) const RETRY: Duration = Duration::from_secs(1);

/// Commits after which the writer ends a pass even with requests waiting.
pub(crate) const DEFER: u32 = 64;

/// Pages of log after which the writer's connection checkpoints inline, as
/// SQLite does at 1,000 by default; reached only if the checkpoint thread
/// falls behind.
pub(crate) const BACKSTOP: u32 = 16_000;

/// The checkpoint thread, or why it could not start.
pub(super) type Started = Result<Checkpointer, std::io::Error>;

/// The handle of the checkpoint thread; dropping it ends the thread once
/// its current pass is done.
pub(super) struct Checkpointer {
    wake: SyncSender<()>,
    /// Set by a pass that leaves the log at [`RESTART_AT`] pages or more.
    restart: Arc<AtomicBool>,
    /// Commits since `restart` was set.
    deferred: u32,
    /// Whether the thread is gone (it panicked).
    stopped: bool,
}

impl Checkpointer {
    /// Start the thread for the database file at `path`.
    pub(super) fn spawn(path: Arc<Path>, synchronous: Synchronous) -> Started {
        let (wake, woken) = sync_channel(1);
        let restart = Arc::new(AtomicBool::new(false));
        let flag = restart.clone();
        let started = std::thread::Builder::new()
            .name("baton-checkpoint".into())
            .spawn(move || passes(&path, synchronous, &woken, &flag));
        if let Err(e) = &started {
            tracing::warn!(error = %e, "cannot start the checkpoint thread; commits checkpoint inline");
        }
        started.map(|_| Self {
            wake,
            restart,
            deferred: 0,
            stopped: false,
        })
    }

    /// Tell the thread that the log has grown. Never waits: a wake-up
    /// already pending covers this one.
    fn nudge(&mut self) {
        if self.stopped {
            return;
        }
        if let Err(TrySendError::Disconnected(())) = self.wake.try_send(()) {
            // Said once: from now on the backstop checkpoints.
            tracing::warn!("the checkpoint thread has stopped; commits checkpoint inline");
            self.stopped = true;
        }
    }

    /// Whether the writer ends a pass now; `idle` when no request waits.
    fn ends_pass(&mut self, idle: bool) -> bool {
        if !self.restart.load(Ordering::Acquire) {
            return false;
        }
        self.deferred += 1;
        if !idle && self.deferred < DEFER {
            return false;
        }
        self.deferred = 0;
        self.restart.store(false, Ordering::Release);
        true
    }
}

impl super::Conns {
    /// After a commit: have the log checkpointed soon, starting the thread
    /// that does it if there is none yet, and end the thread's last pass if
    /// it asked for that and `idle` (no request waits) or it waited long.
    pub(super) async fn checkpoint(&mut self, idle: bool) {
        let Some((path, synchronous)) = self.file.clone() else {
            return;
        };
        let started = self
            .checkpointer
            .get_or_insert_with(|| Checkpointer::spawn(path.clone(), synchronous));
        let Ok(checkpointer) = started.as_mut() else {
            return;
        };
        checkpointer.nudge();
        if !checkpointer.ends_pass(idle) {
            return;
        }
        let Some(conn) = self.lite.take() else {
            return;
        };
        match tokio::task::spawn_blocking(move || (checkpoint(&conn), conn)).await {
            Ok((done, conn)) => {
                if let Err(e) = done {
                    tracing::warn!(error = %e, path = %path.display(), "WAL checkpoint failed");
                }
                self.lite = Some(conn);
            }
            Err(e) => tracing::error!(error = %e, "the WAL checkpoint panicked"),
        }
    }
}

fn passes(path: &Path, synchronous: Synchronous, woken: &Receiver<()>, restart: &AtomicBool) {
    let mut conn: Option<Connection> = None;
    let mut failing = false;
    while woken.recv().is_ok() {
        let c = match conn.take() {
            Some(c) => Ok(c),
            None => super::lite::open(path, synchronous),
        };
        match c.and_then(|c| checkpoint(&c).map(|log| (c, log))) {
            Ok((c, log)) => {
                if log >= RESTART_AT {
                    restart.store(true, Ordering::Release);
                }
                if failing {
                    tracing::info!(path = %path.display(), "WAL checkpoints work again");
                    failing = false;
                }
                conn = Some(c);
            }
            // Opened again after a pause; the backstop bounds the log
            // meanwhile. Said once, not at every pass.
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, path = %path.display(), "WAL checkpoint failed; retrying every second");
                    failing = true;
                }
                std::thread::sleep(RETRY);
            }
        }
        std::thread::sleep(INTERVAL);
    }
}

/// Copy what the log holds into the database file, as far as no reader
/// still needs it, without waiting for anyone; the pages in the log.
fn checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
}

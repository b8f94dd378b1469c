//! Opening a database: the backends, their settings and migrations.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::{broadcast, mpsc};

use crate::cache::Cache;
use crate::model::StoredEvent;
use crate::writer::{self, Request};
use crate::{Error, Result};

/// Which database a store uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (WAL), the embedded default.
    Sqlite,
    /// A PostgreSQL server, for several nodes.
    Postgres,
}

/// When SQLite syncs to disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Sync the WAL at every commit: a commit survives a power cut.
    #[default]
    Full,
    /// Sync at checkpoints only: a commit survives a process crash, but the
    /// last ones may be lost in a power cut. Faster on slow disks.
    Normal,
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections for reads (and, on PostgreSQL, writes).
    pub max_connections: u32,
    /// SQLite durability.
    pub synchronous: Synchronous,
    /// Most transitions written in one group commit.
    pub max_batch: usize,
    /// Refuse to open an SQLite database that another process holds, and
    /// hold it while this store is open: for a process that runs the
    /// database's runs (`baton serve`), never for a reader.
    pub exclusive: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            synchronous: Synchronous::Full,
            max_batch: 1024,
            exclusive: false,
        }
    }
}

/// How long PostgreSQL lets a session sit idle inside a transaction before
/// it ends the session. A node frozen mid-commit (paused, swapped out, its
/// VM stopped) would otherwise keep its transaction's row locks, and the
/// runs it locks could not be taken over by the other nodes until it woke;
/// this bounds that wait. The writer's transactions never wait on the
/// client for more than milliseconds.
const IDLE_IN_TRANSACTION: &str = "5s";

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run the same code against whichever pool the store has. The SQL is shared:
/// both backends accept `$1`-style parameters.
macro_rules! with_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Counters of the group-commit writer.
#[derive(Debug)]
pub struct WriterStats {
    /// Transitions and run creations committed.
    pub transitions: std::sync::atomic::AtomicU64,
    /// How long each database transaction that committed them took, to its
    /// sync to disk ([`crate::COMMIT_BUCKETS`]).
    pub commit_times: crate::Histogram,
    /// Runs accepted through the intake log (see `intake`), on an SQLite
    /// file.
    pub accepted: std::sync::atomic::AtomicU64,
    /// How long each of the intake log's commits took, to its sync to disk.
    pub intake_times: crate::Histogram,
}

impl Default for WriterStats {
    fn default() -> Self {
        Self {
            transitions: Default::default(),
            commit_times: crate::Histogram::new(crate::COMMIT_BUCKETS),
            accepted: Default::default(),
            intake_times: crate::Histogram::new(crate::COMMIT_BUCKETS),
        }
    }
}

impl WriterStats {
    /// Database transactions committed: group commits.
    pub fn commits(&self) -> u64 {
        self.commit_times.count()
    }
}

/// The durable state of one Baton installation.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    pub(crate) stats: Arc<WriterStats>,
    pub(crate) writes: mpsc::Sender<Request>,
    pub(crate) events: broadcast::Sender<Arc<StoredEvent>>,
    /// Runs whose waiting lock requests this process's writer granted.
    pub(crate) lock_grants: broadcast::Sender<String>,
    pub(crate) caches: Arc<Caches>,
    /// Read-held by the writer for each commit; write-held by
    /// `hold_commits`, and on SQLite by a retention batch (see `retention`),
    /// so that nothing else writes meanwhile.
    pub(crate) gate: Arc<tokio::sync::RwLock<()>>,
    /// On an SQLite file, the runs accepted before the writer creates them
    /// (see `intake`).
    pub(crate) intake: Option<Arc<crate::intake::Intake>>,
    backend: Backend,
    _exclusive: Option<Arc<crate::exclusive::Exclusive>>,
}

/// Commits held back by [`Store::hold_commits`] until this is dropped.
#[doc(hidden)]
pub struct CommitsHeld {
    _writer: tokio::sync::OwnedRwLockWriteGuard<()>,
    _intake: Option<tokio::sync::OwnedRwLockWriteGuard<()>>,
}

/// What the store keeps in memory between reads (see `cache`).
#[derive(Default)]
pub(crate) struct Caches {
    /// Unrevoked tokens by hash.
    pub(crate) tokens: Cache<String, crate::TokenRecord>,
    /// The newest version of each workflow, by name.
    pub(crate) latest: Cache<String, i64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Store {
    /// Open (creating if needed) the database at `url` and apply migrations.
    ///
    /// `sqlite://path/to/baton.db` (or `sqlite::memory:` for tests) and
    /// `postgres://user@host/db` are accepted.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Self> {
        let bad = |reason: String| Error::Url {
            url: url.to_string(),
            reason,
        };
        let exclusive = if options.exclusive {
            crate::exclusive::acquire(url)?.map(Arc::new)
        } else {
            None
        };
        let mut file = None;
        let pool = if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)
                .map_err(|e| bad(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(match options.synchronous {
                    Synchronous::Full => SqliteSynchronous::Full,
                    Synchronous::Normal => SqliteSynchronous::Normal,
                })
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(false);
            // The writer's own connection opens the same file (an
            // in-memory database is one per connection: none there).
            if !url.contains(":memory:") && !url.contains("mode=memory") {
                file = Some((Arc::from(connect.get_filename()), options.synchronous));
            }
            // A connection to a local file cannot go stale as a network one
            // can: it is not pinged before every use.
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections.max(2))
                .test_before_acquire(false)
                .connect_with(connect)
                .await?;
            sqlx::migrate!("migrations/sqlite").run(&pool).await?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let connect = PgConnectOptions::from_str(url)
                .map_err(|e| bad(e.to_string()))?
                .options([("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION)]);
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections.max(2))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(connect)
                .await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            Pool::Postgres(pool)
        } else {
            return Err(bad(
                "use sqlite://PATH or postgres://USER@HOST/DATABASE".into()
            ));
        };
        let backend = match pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        };
        let (events, _) = broadcast::channel(8192);
        let (lock_grants, _) = broadcast::channel(1024);
        let stats = Arc::new(WriterStats::default());
        let gate = Arc::new(tokio::sync::RwLock::new(()));
        let writes = writer::spawn(
            file.clone(),
            pool.clone(),
            events.clone(),
            lock_grants.clone(),
            stats.clone(),
            gate.clone(),
            options.max_batch.max(1),
        );
        let (intake, left) = match &file {
            Some((path, synchronous)) => {
                let shown = crate::intake::path_for(path).display().to_string();
                let (path, synchronous) = (path.clone(), *synchronous);
                let stats = stats.clone();
                let (intake, left) = tokio::task::spawn_blocking(move || {
                    crate::intake::Intake::open(&path, synchronous, stats)
                })
                .await
                .map_err(|e| Error::Intake {
                    path: shown,
                    reason: format!("opening it failed: {e}"),
                })??
                .unzip();
                (intake, left.unwrap_or_default())
            }
            None => (None, Vec::new()),
        };
        let store = Self {
            pool,
            stats,
            writes,
            events,
            lock_grants,
            caches: Arc::default(),
            gate,
            intake,
            backend,
            _exclusive: exclusive,
        };
        store.create_accepted(left).await?;
        Ok(store)
    }

    /// How well group commit is batching.
    pub fn writer_stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Every event committed from now on, in commit order. A receiver that
    /// falls behind loses the oldest events (and is told so); it can read
    /// them back with [`Store::events`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }

    /// The ids of runs whose waiting lock requests were granted by this
    /// process's commits, as they commit. Grants made by another node's
    /// commits are seen only by reading [`Store::run_locks`].
    pub fn subscribe_lock_grants(&self) -> broadcast::Receiver<String> {
        self.lock_grants.subscribe()
    }

    /// Hold every commit back until the returned guard is dropped, once the
    /// commit in progress (if any) has finished. Commits asked for meanwhile
    /// wait, as they would for a slow disk. For tests that check what is
    /// visible before a commit.
    #[doc(hidden)]
    pub async fn hold_commits(&self) -> CommitsHeld {
        let writer = self.gate.clone().write_owned().await;
        let intake = match &self.intake {
            Some(intake) => Some(intake.gate.clone().write_owned().await),
            None => None,
        };
        CommitsHeld {
            _writer: writer,
            _intake: intake,
        }
    }

    /// Stop as a crash would, for `Engine::halt`: the intake log takes no
    /// more runs, and another store on the same file may take it over,
    /// with the rows it holds.
    #[doc(hidden)]
    pub fn halt(&self) {
        if let Some(intake) = &self.intake {
            intake.stop();
        }
    }

    /// Hold the writer's commits back, but not the intake log's: runs are
    /// accepted and not created, as when the writer is slow. For tests of
    /// the intake log.
    #[doc(hidden)]
    pub async fn hold_writer(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.gate.clone().write_owned().await
    }

    /// Close the connections once pending writes are done.
    pub async fn close(&self) {
        with_pool!(&self.pool, p => p.close().await)
    }
}

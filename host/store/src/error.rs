/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database URL could not be used.
    #[error("invalid database URL `{url}`: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Another process already serves runs from this SQLite database.
    #[error(
        "the database is in use by another Baton process ({holder}; lock file {path}); \
         one process alone may use an SQLite database: stop the other one, or use \
         PostgreSQL for several nodes"
    )]
    Locked {
        /// The lock file.
        path: String,
        /// Who holds it, as far as the lock file says.
        holder: String,
    },
    /// The intake log beside an SQLite database (`PATH-intake`) could not
    /// be opened or read; it may hold accepted runs, so the store does not
    /// open without it.
    #[error(
        "the intake log {path} (accepted runs not yet in the database) cannot be used: {reason}"
    )]
    Intake {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The database refused or failed an operation.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("could not migrate the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A write would contradict what is stored, e.g. the same plugin name and
    /// version with different bytes.
    #[error("{0}")]
    Conflict(String),
    /// A stored value could not be decoded; the database was changed outside Baton.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The writer task has stopped, so nothing more can be committed.
    #[error("the store is shut down")]
    Closed,
    /// The run is owned by another node now (a takeover raised its epoch),
    /// so this node may not write to it; carries the run's id.
    #[error("run {0} is owned by another node now")]
    Fenced(String),
    /// A batched write failed; carries the database's message.
    #[error("commit failed: {0}")]
    Commit(String),
}

/// Store results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("{what}: {e}"))
}

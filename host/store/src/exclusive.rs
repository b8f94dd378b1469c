//! One process per SQLite database: a lock on a file next to it.
//!
//! SQLite lets several processes open one file, and Baton would then resume
//! the same runs twice. A process that serves runs from an SQLite database
//! (`StoreOptions::exclusive`) holds an exclusive lock on `PATH.lock` for as
//! long as its store is open; a second one is refused with a message naming
//! the process that holds it.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub(crate) struct Exclusive {
    _file: File,
}

/// The file that `url`'s database is locked through, if it is a file.
pub(crate) fn lock_path(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    Some(PathBuf::from(format!("{path}.lock")))
}

/// Open (creating it if needed) the lock file at `path` and try to lock
/// it exclusively, without waiting: the file, and whether this call holds
/// the lock now. Another open file holding it, in this process or
/// another, leaves it unheld.
pub(crate) fn try_lock_file(path: &Path) -> std::io::Result<(File, bool)> {
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok((file, true)),
        Err(std::fs::TryLockError::WouldBlock) => Ok((file, false)),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Lock the database at `url` for this process.
pub(crate) fn acquire(url: &str) -> Result<Option<Exclusive>> {
    let Some(path) = lock_path(url) else {
        return Ok(None);
    };
    let failed = |e: std::io::Error| Error::Locked {
        path: path.display().to_string(),
        holder: format!("the lock file cannot be used: {e}"),
    };
    if let Some(dir) = Path::new(&path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let (mut file, held) = try_lock_file(&path).map_err(failed)?;
    if !held {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        return Err(Error::Locked {
            path: path.display().to_string(),
            holder: if holder.is_empty() {
                "another process holds it".into()
            } else {
                format!("process {holder} holds it")
            },
        });
    }
    // Say who holds it, for the message a second process gets.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(Some(Exclusive { _file: file }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_paths_follow_the_database_file() {
        assert_eq!(
            lock_path("sqlite:///var/lib/baton/baton.db"),
            Some(PathBuf::from("/var/lib/baton/baton.db.lock"))
        );
        assert_eq!(
            lock_path("sqlite://data/baton.db?mode=rwc"),
            Some(PathBuf::from("data/baton.db.lock"))
        );
        assert_eq!(lock_path("sqlite::memory:"), None);
        assert_eq!(lock_path("postgres://u@h/db"), None);
    }

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("baton.db").display());
        let first = acquire(&url).unwrap();
        assert!(first.is_some());
        let second = acquire(&url).unwrap_err().to_string();
        assert!(
            second.contains(&format!("process {}", std::process::id())),
            "{second}"
        );
        drop(first);
        assert!(acquire(&url).unwrap().is_some(), "released when dropped");
    }
}

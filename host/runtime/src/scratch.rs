//! The scratch directory's size quota.
//!
//! WASI file writes go straight to the host's file system, so the quota is
//! enforced by watching: while the attempt runs, the directory is measured
//! every [`WATCH_INTERVAL`] and once more when the guest returns. An attempt
//! whose directory grew past the quota fails with
//! [`Failure::ScratchLimit`](crate::Failure::ScratchLimit). Between two looks
//! a guest can overshoot by what it writes in one interval, never more.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a running attempt's scratch directory is measured.
pub(crate) const WATCH_INTERVAL: Duration = Duration::from_millis(20);

/// What every file and directory costs besides its bytes, so that a guest
/// cannot exhaust inodes (or the watcher) with empty files.
const ENTRY_BYTES: u64 = 4096;

/// The space `dir` uses, counting each entry as [`ENTRY_BYTES`] plus its
/// length; the walk stops as soon as it is past `stop`. Entries that vanish
/// while it looks are ignored; symbolic links are not followed.
pub(crate) fn usage(dir: &Path, stop: u64) -> u64 {
    let mut used = 0u64;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            used = used.saturating_add(ENTRY_BYTES).saturating_add(meta.len());
            if used > stop {
                return used;
            }
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    used
}

/// Resolves, with the space used, once `dir` uses more than `quota`.
pub(crate) async fn exceeded(dir: PathBuf, quota: u64) -> u64 {
    loop {
        tokio::time::sleep(WATCH_INTERVAL).await;
        let at = dir.clone();
        let used = tokio::task::spawn_blocking(move || usage(&at, quota))
            .await
            .unwrap_or(0);
        if used > quota {
            return used;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_bytes_and_entries_and_stops_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), vec![0u8; 1000]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), vec![0u8; 500]).unwrap();
        let used = usage(dir.path(), u64::MAX);
        // Three entries, 1,500 bytes, and a directory's own length.
        assert!(used >= 3 * ENTRY_BYTES + 1500, "{used}");
        assert!(used < 3 * ENTRY_BYTES + 1500 + 65536, "{used}");
        assert!(usage(dir.path(), 100) > 100);
    }
}

//! The disk's own speed, as the baseline the benchmarks print beside their
//! commits: no durable commit can be faster than one synced write.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Median of 200 timed rounds of a 4 KiB write and an `fdatasync` of a
/// file in `dir`: what one commit to this disk costs at least.
pub fn fsync_median(dir: &Path) -> std::io::Result<Duration> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path)?;
    let block = [0u8; 4096];
    let mut times = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        times.push(t.elapsed());
    }
    let _ = std::fs::remove_file(&path);
    times.sort();
    Ok(times[times.len() / 2])
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_synced_write_takes_time_and_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("baton-fsync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let median = super::fsync_median(&dir).unwrap();
        assert!(median > std::time::Duration::ZERO);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "the probe file is removed"
        );
        std::fs::remove_dir(&dir).unwrap();
        assert!(
            super::fsync_median(&dir).is_err(),
            "a missing directory is an error"
        );
    }
}

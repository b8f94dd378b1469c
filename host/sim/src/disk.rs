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

/// Latencies of synced writes: their median, 99th percentile and maximum,
/// and how many were timed.
#[derive(Debug, Clone, Copy)]
pub struct SyncTimes {
    /// The median.
    pub p50: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The slowest.
    pub max: Duration,
    /// Writes timed.
    pub count: usize,
}

/// Bytes of one write of [`sync_tail`]: about what a group commit of a few
/// runs adds to SQLite's write-ahead log.
pub const LOG_WRITE: usize = 40 * 1024;

/// Time back-to-back writes of [`LOG_WRITE`] bytes to a file in `dir`, each
/// synced with `fdatasync`, for `duration`, going round one 6 MiB region as
/// a write-ahead log does. With `beside`, a second file in `dir` meanwhile
/// has 30 scattered 4 KiB pages written and synced every 5 ms, as a
/// checkpoint copies a log's pages into the database file: a durable commit
/// waits for the disk at least this long, with its file's own pages written
/// back beside it. Both files are removed.
pub fn sync_tail(dir: &Path, duration: Duration, beside: bool) -> std::io::Result<SyncTimes> {
    use std::os::unix::fs::FileExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    const REGION: u64 = 6 << 20;
    let log_path = dir.join("sync-probe.log");
    let db_path = dir.join("sync-probe.db");
    let log = std::fs::File::create(&log_path)?;
    log.write_all_at(&vec![0u8; REGION as usize], 0)?;
    log.sync_all()?;
    let stop = Arc::new(AtomicBool::new(false));
    const PAGES: u64 = 16 * 1024;
    let background = if beside {
        // Written and synced whole before the timing starts.
        let db = std::fs::File::create(&db_path)?;
        db.write_all_at(&vec![0u8; (PAGES * 4096) as usize], 0)?;
        db.sync_all()?;
        let stop = stop.clone();
        Some(std::thread::spawn(move || -> std::io::Result<()> {
            let page = [1u8; 4096];
            // A fixed sequence of scattered pages (an LCG): no dependency.
            let mut next: u64 = 0x2545_f491_4f6c_dd1d;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..30 {
                    next = next
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    db.write_all_at(&page, ((next >> 33) % PAGES) * 4096)?;
                }
                db.sync_data()?;
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        }))
    } else {
        None
    };
    let block = vec![2u8; LOG_WRITE];
    let mut times = Vec::new();
    let mut at = 0;
    let end = Instant::now() + duration;
    let mut timed = Ok(());
    while timed.is_ok() && Instant::now() < end {
        let t = Instant::now();
        timed = log.write_all_at(&block, at).and_then(|()| log.sync_data());
        times.push(t.elapsed());
        at = (at + LOG_WRITE as u64) % (REGION - LOG_WRITE as u64);
    }
    stop.store(true, Ordering::Relaxed);
    let besides = background.map(|b| b.join());
    let _ = std::fs::remove_file(&log_path);
    let _ = std::fs::remove_file(&db_path);
    timed?;
    match besides {
        Some(Ok(result)) => result?,
        Some(Err(_)) => return Err(std::io::Error::other("the probe's second writer panicked")),
        None => {}
    }
    times.sort();
    let Some(&max) = times.last() else {
        return Err(std::io::Error::other("no write finished in time"));
    };
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    Ok(SyncTimes {
        p50: at(0.5),
        p99: at(0.99),
        max,
        count: times.len(),
    })
}

/// What the block device under a directory has done since it started,
/// from `/proc/diskstats`: compare two readings to see how much a
/// benchmark wrote, and how many cache flushes (each `fsync`'s barrier) it
/// asked of the disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceCounters {
    /// Write requests completed.
    pub writes: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Cache flushes completed (0 on kernels before 5.5, which do not
    /// count them).
    pub flushes: u64,
}

impl DeviceCounters {
    /// What happened between `earlier` and this reading.
    pub fn since(self, earlier: DeviceCounters) -> DeviceCounters {
        DeviceCounters {
            writes: self.writes.saturating_sub(earlier.writes),
            bytes_written: self.bytes_written.saturating_sub(earlier.bytes_written),
            flushes: self.flushes.saturating_sub(earlier.flushes),
        }
    }
}

/// The counters of the block device that holds `dir`, or None where the
/// system has no `/proc/diskstats` or the device is not in it (a tmpfs, an
/// overlay).
pub fn device_counters(dir: &Path) -> Option<DeviceCounters> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(dir).ok()?.dev();
    parse_diskstats(
        &std::fs::read_to_string("/proc/diskstats").ok()?,
        u64::from(libc::major(dev)),
        u64::from(libc::minor(dev)),
    )
}

/// The line of device `major:minor` in the text of `/proc/diskstats`.
fn parse_diskstats(stats: &str, major: u64, minor: u64) -> Option<DeviceCounters> {
    stats.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if number(0)? != major || number(1)? != minor {
            return None;
        }
        Some(DeviceCounters {
            writes: number(7)?,
            // Sectors of 512 bytes, whatever the device's own size.
            bytes_written: number(9)? * 512,
            flushes: number(18).unwrap_or(0),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_sync_tail_is_ordered_and_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("baton-sync-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for beside in [false, true] {
            let t = super::sync_tail(&dir, std::time::Duration::from_millis(200), beside).unwrap();
            assert!(t.count > 0, "{t:?}");
            assert!(t.p50 > std::time::Duration::ZERO, "{t:?}");
            assert!(t.p50 <= t.p99 && t.p99 <= t.max, "{t:?}");
            assert_eq!(
                std::fs::read_dir(&dir).unwrap().count(),
                0,
                "the probe's files are removed"
            );
        }
        std::fs::remove_dir(&dir).unwrap();
        assert!(
            super::sync_tail(&dir, std::time::Duration::from_millis(10), true).is_err(),
            "a missing directory is an error"
        );
    }

    /// Two lines as Linux 6.x writes them: a whole disk and a partition.
    const STATS: &str = "\
 254       0 vda 255236 11841 17059802 163232 7619226 108003 277107680 1137315 1 344148 1449051 14941 144 25962256 4433 2687882 144070
 254       1 vda1 1000 0 2000 30 40 0 800 10 0 50 60 0 0 0 0 0 0
";

    #[test]
    fn a_device_is_read_by_its_number() {
        let disk = parse_diskstats(STATS, 254, 0).expect("vda is listed");
        assert_eq!(disk.writes, 7_619_226);
        assert_eq!(disk.bytes_written, 277_107_680 * 512);
        assert_eq!(disk.flushes, 2_687_882);
        let part = parse_diskstats(STATS, 254, 1).expect("vda1 is listed");
        assert_eq!(
            (part.writes, part.bytes_written, part.flushes),
            (40, 800 * 512, 0)
        );
        assert!(parse_diskstats(STATS, 8, 0).is_none());
    }

    #[test]
    fn counters_since_an_earlier_reading_are_the_difference() {
        let earlier = DeviceCounters {
            writes: 10,
            bytes_written: 4096,
            flushes: 3,
        };
        let later = DeviceCounters {
            writes: 15,
            bytes_written: 12288,
            flushes: 5,
        };
        let d = later.since(earlier);
        assert_eq!((d.writes, d.bytes_written, d.flushes), (5, 8192, 2));
    }
}

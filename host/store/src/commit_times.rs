//! How long the writer's group commits take: the time from a batch's start
//! to its sync to disk, in buckets that double from 64 µs to 4.2 s, so
//! that a slow disk shows in `/metrics` before it shows in the runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets: the first holds commits of up to 64 µs, each next one commits
/// of up to twice as long, and the last everything longer.
const BUCKETS: usize = 18;

/// Smallest bucket's bound, as a power of two in microseconds (64 µs).
const FIRST: u32 = 6;

/// A histogram of commit times.
#[derive(Debug, Default)]
pub struct CommitTimes {
    counts: [AtomicU64; BUCKETS],
    sum_micros: AtomicU64,
}

impl CommitTimes {
    /// Count one commit that took `d`.
    pub fn observe(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        // The power of two at or above `micros`: 64 µs and less is bucket 0.
        let log = 64 - micros.saturating_sub(1).leading_zeros();
        let bucket = (log.saturating_sub(FIRST) as usize).min(BUCKETS - 1);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Each bucket's upper bound in seconds (`None` for the last, which has
    /// none) with the count of commits at or under it, and the sum of all
    /// commit times in seconds.
    pub fn snapshot(&self) -> (Vec<(Option<f64>, u64)>, f64) {
        let mut total = 0;
        let buckets = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                total += c.load(Ordering::Relaxed);
                let bound = (i + 1 < BUCKETS).then(|| (1u64 << (FIRST as usize + i)) as f64 / 1e6);
                (bound, total)
            })
            .collect();
        (
            buckets,
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_fall_in_the_bucket_of_their_duration() {
        let t = CommitTimes::default();
        for micros in [1, 64, 65, 128, 129, 1000, 10_000_000] {
            t.observe(Duration::from_micros(micros));
        }
        let (buckets, sum) = t.snapshot();
        let at = |bound: f64| {
            buckets
                .iter()
                .find(|(b, _)| *b == Some(bound))
                .map(|(_, n)| *n)
        };
        // 1 and 64 µs; then 65 and 128; then 129; 1000 is under 1,024 µs.
        assert_eq!(at(0.000064), Some(2));
        assert_eq!(at(0.000128), Some(4));
        assert_eq!(at(0.000256), Some(5));
        assert_eq!(at(0.000512), Some(5));
        assert_eq!(at(0.001024), Some(6));
        // Ten seconds is past the last bound, 4.19 s: only +Inf counts it.
        assert_eq!(buckets[BUCKETS - 2], (Some(4.194304), 6));
        assert_eq!(buckets[BUCKETS - 1], (None, 7));
        assert!((sum - 10.001387).abs() < 1e-9, "{sum}");
    }
}

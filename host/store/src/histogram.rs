//! A fixed-bucket histogram of durations for `/metrics`: plain atomics, so
//! recording costs next to nothing. The store times its group commits with
//! one, and the engine its task attempts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the group-commit buckets, in seconds: doubling from
/// 64 µs to 4.19 s, so that a slow disk shows in `/metrics` before it shows
/// in the runs.
pub const COMMIT_BUCKETS: &[f64] = &[
    0.000064, 0.000128, 0.000256, 0.000512, 0.001024, 0.002048, 0.004096, 0.008192, 0.016384,
    0.032768, 0.065536, 0.131072, 0.262144, 0.524288, 1.048576, 2.097152, 4.194304,
];

/// Counts of durations at or under each of its bounds, and above the last.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, and one more for what is above them all.
    counts: Box<[AtomicU64]>,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// An empty histogram with these upper bounds, in seconds, ascending.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Record one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let bucket = self.bounds.partition_point(|b| *b < secs);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Each bucket's upper bound in seconds (`None` for the last, `+Inf`)
    /// with the count of observations at or under it, and the sum of them
    /// all in seconds.
    pub fn snapshot(&self) -> (Vec<(Option<f64>, u64)>, f64) {
        let mut total = 0;
        let buckets = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                total += c.load(Ordering::Relaxed);
                (self.bounds.get(i).copied(), total)
            })
            .collect();
        (
            buckets,
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }

    /// How many observations it holds.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_fall_in_the_bucket_of_their_duration() {
        let t = Histogram::new(COMMIT_BUCKETS);
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
        let last = COMMIT_BUCKETS.len();
        assert_eq!(buckets[last - 1], (Some(4.194304), 6));
        assert_eq!(buckets[last], (None, 7));
        assert_eq!(t.count(), 7);
        assert!((sum - 10.001387).abs() < 1e-9, "{sum}");
    }
}

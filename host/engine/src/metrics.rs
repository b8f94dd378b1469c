//! Engine measurements for `/metrics`: attempt latency, slot queueing,
//! plugin compile times and rows deleted by retention. Plain atomics, so recording costs next to nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicI64;

pub use baton_store::Histogram;

/// Upper bounds of the attempt-latency buckets, in seconds.
pub const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Everything the engine measures.
#[derive(Debug)]
pub struct EngineMetrics {
    /// Wall time of successful attempts.
    pub succeeded: Histogram,
    /// Wall time of failed attempts.
    pub failed: Histogram,
    /// Attempts waiting for a task slot right now.
    pub waiting_for_slot: AtomicI64,
    /// Attempts running right now.
    pub running: AtomicI64,
    /// Seconds each plugin (`name@version`) took to compile when loaded;
    /// 0 when it came from the artifact cache.
    pub compile_seconds: Mutex<BTreeMap<String, f64>>,
    /// The retention sweep: its settings and the rows it deleted.
    pub retention: crate::retention::RetentionMetrics,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        Self {
            succeeded: Histogram::new(BUCKETS),
            failed: Histogram::new(BUCKETS),
            waiting_for_slot: AtomicI64::default(),
            running: AtomicI64::default(),
            compile_seconds: Mutex::default(),
            retention: crate::retention::RetentionMetrics::default(),
        }
    }
}

impl EngineMetrics {
    /// Note how long a plugin took to load.
    pub(crate) fn record_load(&self, plugin: &baton_runtime::Plugin) {
        let key = format!("{}@{}", plugin.info.name, plugin.info.version);
        let secs = plugin.compile_time.map_or(0.0, |d| d.as_secs_f64());
        self.compile_seconds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, secs);
    }
}

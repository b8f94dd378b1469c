//! Runtime configuration and per-attempt limits.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Bounds on one task attempt. Every bound has a default and can be
/// overridden per workflow node; hitting one fails the attempt with a
/// specific [`Failure`](crate::Failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Total linear memory (and table space) the instance may use, in bytes.
    pub memory: u64,
    /// CPU time the guest may spend executing, measured in epoch ticks.
    #[serde(with = "humantime_serde")]
    pub cpu: Duration,
    /// Wall-clock time for the whole attempt, host calls included.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Largest output, in bytes of JSON.
    pub output: usize,
    /// Most log lines kept for the attempt; later ones are counted and
    /// dropped, and one last line says how many.
    pub log_lines: usize,
    /// Most bytes of log text kept for the attempt, denials included.
    pub log_bytes: usize,
    /// Most denials recorded for the attempt; later ones are counted, and one
    /// last record says how many.
    pub denials: usize,
    /// Largest scratch directory, in bytes (files and directories together);
    /// a task that writes past it fails.
    pub scratch_bytes: u64,
    /// Most outgoing HTTP requests in flight at once, from the call until
    /// the response body is dropped; one past it is refused with
    /// `HTTP-request-denied`.
    pub http_requests: usize,
    /// Largest HTTP response body, in bytes; the body stream fails once it
    /// passes this.
    pub http_response_bytes: u64,
    /// Longest wait for an HTTP connection: TCP, TLS and the HTTP handshake
    /// together (and the DNS lookup before them); a guest may ask for less,
    /// never more.
    #[serde(with = "humantime_serde")]
    pub http_connect_timeout: Duration,
    /// Longest wait for the response head once connected, and between two
    /// chunks of the body; a guest may ask for less, never more.
    #[serde(with = "humantime_serde")]
    pub http_first_byte_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: 128 << 20,
            cpu: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            output: 1 << 20,
            log_lines: 1000,
            log_bytes: 256 << 10,
            denials: 100,
            scratch_bytes: 64 << 20,
            http_requests: 8,
            http_response_bytes: 16 << 20,
            http_connect_timeout: Duration::from_secs(5),
            http_first_byte_timeout: Duration::from_secs(30),
        }
    }
}

/// How the runtime itself is set up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Where compiled artifacts are cached; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Largest component accepted, in bytes.
    pub max_component_size: usize,
    /// Most task instances alive at once (pooling allocator slots).
    pub max_instances: u32,
    /// Largest memory limit any node may ask for, in bytes; the size of one
    /// pooling allocator slot.
    pub max_memory: u64,
    /// Parent directory of per-attempt scratch directories.
    pub scratch_dir: Option<PathBuf>,
    /// Most core module instances one component may create. With the two
    /// caps below, it keeps one component from taking every pooled slot.
    pub max_core_instances_per_component: u32,
    /// Most linear memories one component may contain.
    pub max_memories_per_component: u32,
    /// Most tables one component may contain.
    pub max_tables_per_component: u32,
    /// Bytes of each pooled linear memory and table kept mapped when an
    /// instance ends. On Linux 6.7 and later only the pages the guest wrote
    /// are reset, by copy, so the next instance in that slot takes no page
    /// faults on them; on older kernels the first `keep_resident` bytes are
    /// reset with `memset` every time, and a smaller value is cheaper. `0`
    /// returns every page to the kernel.
    pub keep_resident: u64,
    /// Limits applied when a node does not override them.
    pub defaults: Limits,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_component_size: 64 << 20,
            max_instances: 200,
            max_memory: 1 << 30,
            scratch_dir: None,
            max_core_instances_per_component: 16,
            max_memories_per_component: 2,
            max_tables_per_component: 16,
            keep_resident: 2 << 20,
            defaults: Limits::default(),
        }
    }
}

/// How often the engine's epoch advances; the granularity of CPU limits and
/// of yielding between guests.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_human_durations_and_keep_defaults() {
        let limits: Limits =
            serde_json::from_str(r#"{"cpu": "250ms", "memory": 1048576}"#).unwrap();
        assert_eq!(limits.cpu, Duration::from_millis(250));
        assert_eq!(limits.memory, 1 << 20);
        assert_eq!(limits.timeout, Limits::default().timeout);
        let limits: Limits =
            serde_json::from_str(r#"{"http_requests": 2, "http_first_byte_timeout": "1s"}"#)
                .unwrap();
        assert_eq!(limits.http_requests, 2);
        assert_eq!(limits.http_first_byte_timeout, Duration::from_secs(1));
        assert_eq!(limits.http_connect_timeout, Duration::from_secs(5));
        assert!(serde_json::from_str::<Limits>(r#"{"cpus": "1s"}"#).is_err());
    }
}

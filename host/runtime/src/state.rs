//! The data each attempt's store holds, and its resource limiter.

use std::sync::{Arc, Mutex, MutexGuard};

use baton_connectors::Connectors;
use baton_grant::Grants;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::Limits;
use crate::attempt::{LogLevel, LogLine};
use crate::http::HttpHooks;

/// Longest log line or denial message kept, in bytes.
const MAX_LINE: usize = 4096;

/// Everything one attempt's guest can reach through the host.
pub(crate) struct TaskState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) http_hooks: HttpHooks,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) grants: Arc<Grants>,
    pub(crate) connectors: Connectors,
    pub(crate) interlock: Arc<crate::Interlock>,
    /// See [`crate::TaskRequest::act_until`].
    pub(crate) act_until: Option<std::time::Instant>,
    pub(crate) errors: Arc<crate::counters::ConnectorErrors>,
    pub(crate) journal: Journal,
    /// Epoch ticks the guest has run for; compared against the CPU budget.
    pub(crate) ticks: u64,
}

impl WasiView for TaskState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for TaskState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

/// Log lines and denials of one attempt, each kept up to a count and a byte
/// budget, so that a guest looping on a call cannot make the host keep (or
/// log) without bound. Shared with HTTP requests, which finish outside the
/// store.
#[derive(Clone)]
pub(crate) struct Journal {
    inner: Arc<Mutex<JournalInner>>,
    redact: Option<Redactor>,
}

/// Rewrites a log line or denial before it is kept or traced, e.g. to take
/// out secret values; set with [`crate::Runtime::set_redactor`].
pub type Redactor = Arc<dyn Fn(&mut String) + Send + Sync>;

#[derive(Default)]
pub(crate) struct JournalInner {
    pub(crate) lines: Vec<LogLine>,
    /// Log lines dropped over `max_lines` or `max_bytes`.
    pub(crate) dropped: usize,
    pub(crate) denials: Vec<String>,
    /// Denials past `max_denials`, counted but not kept.
    suppressed_denials: usize,
    bytes: usize,
    max_lines: usize,
    max_bytes: usize,
    max_denials: usize,
}

impl Journal {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            inner: Arc::new(Mutex::new(JournalInner {
                max_lines: limits.log_lines,
                max_bytes: limits.log_bytes,
                max_denials: limits.denials,
                ..JournalInner::default()
            })),
            redact: None,
        }
    }

    /// The same journal, rewriting each line with `redact` first.
    pub(crate) fn redacting(mut self, redact: Option<Redactor>) -> Self {
        self.redact = redact;
        self
    }

    /// Redacted before truncated, so that a cut cannot leave part of a value.
    fn clean(&self, text: &mut String) {
        if let Some(redact) = &self.redact {
            redact(text);
        }
        truncate(text);
    }

    fn lock(&self) -> MutexGuard<'_, JournalInner> {
        // Only appends happen under the lock; a poisoned journal is still readable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn log(&self, level: LogLevel, mut message: String) {
        self.clean(&mut message);
        self.lock().push(level, message);
    }

    /// Record a refused capability call; it is also logged as a warning on the attempt.
    pub(crate) fn deny(&self, mut reason: String) {
        self.clean(&mut reason);
        let mut inner = self.lock();
        if inner.denials.len() >= inner.max_denials {
            inner.suppressed_denials += 1;
            return;
        }
        tracing::warn!(%reason, "capability denied");
        // Denials are few and matter: the line limits do not apply to them,
        // only their own count and the byte budget.
        inner.bytes += reason.len();
        inner.denials.push(reason.clone());
        inner.lines.push(LogLine {
            level: LogLevel::Warn,
            message: format!("denied: {reason}"),
        });
    }

    /// Everything recorded, with one last record for each kind that was
    /// suppressed, saying how many and which limit.
    pub(crate) fn take(&self) -> JournalInner {
        let mut taken = std::mem::take(&mut *self.lock());
        if taken.dropped > 0 {
            taken.lines.push(LogLine {
                level: LogLevel::Warn,
                message: format!(
                    "{} more log lines suppressed (limits: {} lines, {} bytes per attempt)",
                    taken.dropped, taken.max_lines, taken.max_bytes
                ),
            });
        }
        if taken.suppressed_denials > 0 {
            let note = format!(
                "{} more denials suppressed (limit: {} per attempt)",
                taken.suppressed_denials, taken.max_denials
            );
            tracing::warn!(
                suppressed = taken.suppressed_denials,
                "capability denials suppressed"
            );
            taken.denials.push(note.clone());
            taken.lines.push(LogLine {
                level: LogLevel::Warn,
                message: note,
            });
        }
        taken
    }
}

impl JournalInner {
    fn push(&mut self, level: LogLevel, message: String) {
        if self.lines.len() < self.max_lines && self.bytes + message.len() <= self.max_bytes {
            self.bytes += message.len();
            self.lines.push(LogLine { level, message });
        } else {
            self.dropped += 1;
        }
    }
}

fn truncate(s: &mut String) {
    if s.len() > MAX_LINE {
        let mut end = MAX_LINE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("… (truncated)");
    }
}

/// Bounds memory and table growth of one instance, across all its memories.
pub(crate) struct Limiter {
    pub(crate) memory_limit: u64,
    memory_used: u64,
    /// Set when a growth past the limit was refused, for a precise failure message.
    pub(crate) exceeded: Option<u64>,
}

/// Table elements are pointer-sized; cap tables well above what real guests use.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// What one table element costs the host, counted against the memory limit.
const TABLE_ELEMENT_BYTES: u64 = 8;

impl Limiter {
    pub(crate) fn new(memory_limit: u64) -> Self {
        Self {
            memory_limit,
            memory_used: 0,
            exceeded: None,
        }
    }
}

/// Marker error for a memory growth past the limit; it turns into a trap.
#[derive(Debug)]
pub(crate) struct MemoryLimitExceeded;

impl std::fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("memory limit exceeded")
    }
}

impl std::error::Error for MemoryLimitExceeded {}

/// Marker error for running out of CPU budget; it turns into a trap.
#[derive(Debug)]
pub(crate) struct CpuLimitExceeded;

impl std::fmt::Display for CpuLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CPU time limit exceeded")
    }
}

impl std::error::Error for CpuLimitExceeded {}

impl Limiter {
    /// Count `bytes` more against the limit, or refuse the growth.
    fn grow(&mut self, bytes: u64) -> wasmtime::Result<bool> {
        let total = self.memory_used.saturating_add(bytes);
        if total > self.memory_limit {
            self.exceeded = Some(total);
            // Trap rather than fail the growth: most guests abort on
            // allocation failure anyway, and a trap says precisely why.
            return Err(wasmtime::Error::new(MemoryLimitExceeded));
        }
        self.memory_used = total;
        Ok(true)
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(desired.saturating_sub(current) as u64)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        // Table elements are host memory too: they count against the same limit.
        self.grow((desired.saturating_sub(current) as u64).saturating_mul(TABLE_ELEMENT_BYTES))
    }
}

/// Whether `until` has passed.
pub(crate) fn past(until: Option<std::time::Instant>) -> bool {
    until.is_some_and(|t| std::time::Instant::now() > t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_denials_are_redacted_before_they_are_cut_or_kept() {
        let redact: Redactor = Arc::new(|t: &mut String| *t = t.replace("hunter2", "[secret pw]"));
        let journal = Journal::new(&Limits::default()).redacting(Some(redact));
        // The value straddles the cut: redacting first leaves none of it.
        let long = format!("{}hunter2", "x".repeat(MAX_LINE - 3));
        journal.log(LogLevel::Info, long);
        journal.deny("plc device `hunter2`: not granted".into());
        let taken = journal.take();
        let all: Vec<&str> = taken.lines.iter().map(|l| l.message.as_str()).collect();
        assert!(all.iter().all(|l| !l.contains("hunt")), "{all:?}");
        assert_eq!(taken.denials, ["plc device `[secret pw]`: not granted"]);
    }
}

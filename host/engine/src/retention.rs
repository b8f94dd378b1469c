//! Retention (`[retention]` in `baton.toml`): a background sweep that deletes
//! finished runs, with their node executions and events, once they are older
//! than `runs`, and audit events older than `audit`.
//!
//! Nothing is deleted unless asked for: both ages are off by default, since
//! a plant keeps its batch records and its audit trail for as long as its
//! own rules say, which Baton cannot know.
//!
//! Every `interval`, the sweep deletes in batches of at most `batch` rows,
//! each in a transaction of its own, until nothing old is left; after each
//! full batch it rests as long as the batch took, so it never takes more
//! than half of the store's time however much is due. Every node on a
//! PostgreSQL database sweeps; they take different rows (see
//! [`baton_store::Store::delete_finished_runs`]), so that is harmless.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use baton_store::{Deleted, now_millis};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::Engine;
use crate::engine::lock;

/// The shortest age `runs` or `audit` may have: a shorter one is far more
/// likely a slip (`90s` for `90d`) than a wish, and would delete records
/// an operator is still looking at.
pub const MIN_AGE: Duration = Duration::from_secs(3600);
/// The longest age `runs` or `audit` may have (100 years); to keep
/// forever, leave the key out or write `"off"`.
pub const MAX_AGE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// The largest `batch`: a larger transaction would hold the store too long.
pub const MAX_BATCH: u32 = 10_000;
/// The shortest `interval`.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// The longest `interval`.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// `[retention]`: how long finished runs and audit events are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Delete a finished run (succeeded, failed or cancelled), with its node
    /// executions and events, once it finished this long ago. `None` (the
    /// default, or `"off"`) keeps runs forever. Running and held runs are
    /// never deleted.
    #[serde(with = "age")]
    pub runs: Option<Duration>,
    /// Delete an audit event (one that belongs to no run) once it is this
    /// old. `None` (the default, or `"off"`) keeps the audit log forever.
    #[serde(with = "age")]
    pub audit: Option<Duration>,
    /// Most rows deleted in one transaction.
    pub batch: u32,
    /// How long the sweep waits between sweeps.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            runs: None,
            audit: None,
            batch: 500,
            interval: Duration::from_secs(60),
        }
    }
}

/// A `[retention]` value out of bounds; says which key, and what it may be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("retention.{key} {problem}")]
pub struct InvalidRetention {
    /// The key, e.g. `runs`.
    pub key: &'static str,
    /// What is wrong, and what would do.
    pub problem: String,
}

impl RetentionConfig {
    /// Whether anything is ever deleted.
    pub fn enabled(&self) -> bool {
        self.runs.is_some() || self.audit.is_some()
    }

    /// Check every key against its bounds ([`MIN_AGE`], [`MAX_BATCH`], ...),
    /// as `baton serve` does before it starts.
    pub fn validate(&self) -> Result<(), InvalidRetention> {
        let bad = |key, problem: String| Err(InvalidRetention { key, problem });
        let show = |d: Duration| humantime_serde::re::humantime::format_duration(d).to_string();
        for (key, age) in [("runs", self.runs), ("audit", self.audit)] {
            match age {
                Some(d) if d < MIN_AGE => {
                    return bad(
                        key,
                        format!(
                            "is {}: it must be at least {} (e.g. \"90d\"), or \"off\" to keep forever",
                            show(d),
                            show(MIN_AGE)
                        ),
                    );
                }
                Some(d) if d > MAX_AGE => {
                    return bad(
                        key,
                        format!(
                            "is {}: it must be at most 100 years, or \"off\" to keep forever",
                            show(d)
                        ),
                    );
                }
                _ => {}
            }
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return bad(
                "batch",
                format!(
                    "is {}: it must be between 1 and {MAX_BATCH} rows",
                    self.batch
                ),
            );
        }
        if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&self.interval) {
            return bad(
                "interval",
                format!(
                    "is {}: it must be between {} and {}",
                    show(self.interval),
                    show(MIN_INTERVAL),
                    show(MAX_INTERVAL)
                ),
            );
        }
        Ok(())
    }
}

/// An age: a humantime duration such as `"90d"`, or `"off"` for none.
mod age {
    use std::time::Duration;

    use humantime_serde::re::humantime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(age: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match age {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_str("off"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        match text.trim() {
            "off" => Ok(None),
            t => humantime::parse_duration(t).map(Some).map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{t}` is not an age such as \"90d\" or \"off\": {e}"
                ))
            }),
        }
    }
}

/// What the sweep has done since this process started; what `/metrics` and
/// `GET /status` report.
#[derive(Debug, Default)]
pub struct RetentionMetrics {
    config: Mutex<Option<RetentionConfig>>,
    runs: AtomicU64,
    node_executions: AtomicU64,
    events: AtomicU64,
    audit: AtomicU64,
    sweeps: AtomicU64,
    last_sweep_at: AtomicI64,
    last_error: Mutex<Option<String>>,
}

impl RetentionMetrics {
    /// Rows deleted so far, per table.
    pub fn deleted(&self) -> Deleted {
        Deleted {
            runs: self.runs.load(Ordering::Relaxed),
            node_executions: self.node_executions.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            audit: self.audit.load(Ordering::Relaxed),
        }
    }

    fn add(&self, d: &Deleted) {
        self.runs.fetch_add(d.runs, Ordering::Relaxed);
        self.node_executions
            .fetch_add(d.node_executions, Ordering::Relaxed);
        self.events.fetch_add(d.events, Ordering::Relaxed);
        self.audit.fetch_add(d.audit, Ordering::Relaxed);
    }

    /// Sweeps finished so far.
    pub fn sweeps(&self) -> u64 {
        self.sweeps.load(Ordering::Relaxed)
    }
}

/// The retention settings this node sweeps with, and what it deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionStatus {
    /// Whether this node sweeps: an age is set and the sweep was started.
    pub enabled: bool,
    /// `runs` in milliseconds; `None` keeps runs forever.
    pub runs_ms: Option<u64>,
    /// `audit` in milliseconds; `None` keeps the audit log forever.
    pub audit_ms: Option<u64>,
    /// Most rows per transaction.
    pub batch: u32,
    /// Between sweeps, in milliseconds.
    pub interval_ms: u64,
    /// Rows this node deleted since it started, per table: `audit` counts
    /// audit events, `events` the events of deleted runs.
    pub deleted: Deleted,
    /// Sweeps finished since it started.
    pub sweeps: u64,
    /// When the last sweep finished (ms since the epoch).
    pub last_sweep_at: Option<i64>,
    /// Why the last sweep failed, if it did; the next one tries again.
    pub last_error: Option<String>,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Engine {
    /// Start the retention sweep with `config`, if it deletes anything; it
    /// stops when the engine halts or stops. `config` is used as given;
    /// [`RetentionConfig::validate`] is what `baton.toml` is checked with.
    pub fn spawn_retention(&self, config: RetentionConfig) {
        let metrics = &self.metrics().retention;
        *lock(&metrics.config) = Some(config.clone());
        if !config.enabled() {
            return;
        }
        let engine = self.clone();
        let task = tokio::spawn(async move { engine.sweep_forever(config).await });
        lock(&self.shared.background).push(task.abort_handle());
        // Halted meanwhile: the handle may have missed the halt.
        if self.halted() {
            task.abort();
        }
    }

    /// The retention settings, and what the sweep has deleted here.
    pub fn retention(&self) -> RetentionStatus {
        let m = &self.metrics().retention;
        let config = lock(&m.config).clone();
        let at = m.last_sweep_at.load(Ordering::Relaxed);
        let shown = config.clone().unwrap_or_default();
        RetentionStatus {
            enabled: config.as_ref().is_some_and(RetentionConfig::enabled),
            runs_ms: shown.runs.map(millis),
            audit_ms: shown.audit.map(millis),
            batch: shown.batch,
            interval_ms: millis(shown.interval),
            deleted: m.deleted(),
            sweeps: m.sweeps(),
            last_sweep_at: (at > 0).then_some(at),
            last_error: lock(&m.last_error).clone(),
        }
    }

    fn halted(&self) -> bool {
        self.shared.halted.load(Ordering::SeqCst)
    }

    async fn sweep_forever(self, config: RetentionConfig) {
        let every = config.interval.max(Duration::from_millis(10));
        let mut tick = tokio::time::interval_at(Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.halted() {
                return;
            }
            self.sweep(&config).await;
        }
    }

    /// One sweep: runs, then the audit log, each until nothing old is left.
    async fn sweep(&self, config: &RetentionConfig) {
        let m = &self.metrics().retention;
        let batch = config.batch.max(1);
        let mut problem = None;
        for (what, age) in [(What::Runs, config.runs), (What::Audit, config.audit)] {
            let Some(age) = age else { continue };
            if let Err(e) = self.drain(what, age, batch).await {
                tracing::warn!(error = %e, "retention sweep failed; the next one tries again");
                problem = Some(e.to_string());
            }
        }
        *lock(&m.last_error) = problem;
        m.last_sweep_at.store(now_millis(), Ordering::Relaxed);
        m.sweeps.fetch_add(1, Ordering::Relaxed);
    }

    /// Delete batch after batch of what is older than `age`.
    async fn drain(&self, what: What, age: Duration, batch: u32) -> baton_store::Result<()> {
        let store = self.store();
        let m = &self.metrics().retention;
        let before = now_millis().saturating_sub(i64::try_from(millis(age)).unwrap_or(i64::MAX));
        let mut total = Deleted::default();
        loop {
            let started = Instant::now();
            let deleted = match what {
                What::Runs => store.delete_finished_runs(before, batch).await?,
                What::Audit => store.delete_audit(before, batch).await?,
            };
            m.add(&deleted);
            total += deleted;
            if deleted.rows() < u64::from(batch) || self.halted() {
                break;
            }
            tokio::time::sleep(started.elapsed()).await;
        }
        if total.rows() > 0 {
            tracing::info!(
                runs = total.runs,
                node_executions = total.node_executions,
                events = total.events,
                audit = total.audit,
                "retention deleted old records"
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum What {
    Runs,
    Audit,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<RetentionConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn ages_are_durations_or_off() {
        let c = parse(r#"{"runs": "90d", "audit": "off"}"#).unwrap();
        assert_eq!(c.runs, Some(Duration::from_secs(90 * 24 * 3600)));
        assert_eq!(c.audit, None);
        assert_eq!((c.batch, c.interval), (500, Duration::from_secs(60)));
        assert!(c.enabled());
        assert!(!RetentionConfig::default().enabled());
        let e = parse(r#"{"runs": "ninety days"}"#).unwrap_err();
        assert!(e.contains("not an age"), "{e}");
    }

    #[test]
    fn bounds_name_the_key() {
        let check = |c: RetentionConfig| c.validate().map_err(|e| e.to_string());
        assert_eq!(check(RetentionConfig::default()), Ok(()));
        let short = RetentionConfig {
            runs: Some(Duration::from_secs(90)),
            ..RetentionConfig::default()
        };
        let e = check(short).unwrap_err();
        assert!(e.starts_with("retention.runs is 1m 30s"), "{e}");
        let zero = RetentionConfig {
            audit: Some(Duration::ZERO),
            ..RetentionConfig::default()
        };
        assert!(check(zero).unwrap_err().starts_with("retention.audit"));
        let batch = RetentionConfig {
            batch: 0,
            ..RetentionConfig::default()
        };
        assert!(
            check(batch)
                .unwrap_err()
                .starts_with("retention.batch is 0")
        );
        let interval = RetentionConfig {
            interval: Duration::ZERO,
            ..RetentionConfig::default()
        };
        assert!(
            check(interval)
                .unwrap_err()
                .starts_with("retention.interval")
        );
    }
}

//! Running one attempt: load the plugin (once per digest), take a slot, run
//! it in the runtime, and turn the result into an [`Outcome`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use baton_runtime::{Attempt, Failure, Limits, Plugin, Runtime, TaskContext, TaskRequest};
use baton_store::Store;
use baton_workflow::Node;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::compiled::Task;
use crate::engine::Shared;
use crate::metrics::EngineMetrics;
use crate::scheduler::Outcome;

/// Loaded plugins by digest; each is compiled (or read from the artifact
/// cache) once, however many attempts ask for it at the same moment.
#[derive(Default)]
pub(crate) struct PluginCache {
    loaded: Mutex<HashMap<String, Arc<OnceCell<Arc<Plugin>>>>>,
}

impl PluginCache {
    pub(crate) async fn get(
        &self,
        digest: &str,
        store: &Store,
        runtime: &Runtime,
        metrics: &EngineMetrics,
    ) -> Result<Arc<Plugin>, String> {
        let cell = {
            let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
            loaded.entry(digest.to_string()).or_default().clone()
        };
        cell.get_or_try_init(|| async {
            let bytes = store
                .plugin_bytes(digest)
                .await
                .map_err(|e| format!("could not read plugin {digest}: {e}"))?
                .ok_or_else(|| format!("plugin {digest} is no longer stored"))?;
            let plugin = runtime
                .load(&bytes)
                .await
                .map_err(|e| format!("could not load plugin {digest}: {e}"))?;
            metrics.record_load(&plugin);
            Ok(Arc::new(plugin))
        })
        .await
        .cloned()
    }

    /// Keep an already loaded plugin, e.g. right after an upload.
    pub(crate) fn insert(&self, plugin: Arc<Plugin>) {
        let cell = OnceCell::new_with(Some(plugin.clone()));
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.insert(plugin.digest.clone(), Arc::new(cell));
    }
}

/// The limits for an attempt of `node`: the host's defaults with the node's
/// overrides and its timeout.
pub(crate) fn limits(defaults: Limits, node: &Node) -> Limits {
    let mut limits = defaults;
    if let Some(o) = &node.limits {
        limits.memory = o.memory.unwrap_or(limits.memory);
        limits.cpu = o.cpu.unwrap_or(limits.cpu);
        limits.output = o.output.unwrap_or(limits.output);
        limits.log_lines = o.log_lines.unwrap_or(limits.log_lines);
        limits.log_bytes = o.log_bytes.unwrap_or(limits.log_bytes);
        limits.denials = o.denials.unwrap_or(limits.denials);
        limits.scratch_bytes = o.scratch.unwrap_or(limits.scratch_bytes);
        limits.http_requests = o.http_requests.unwrap_or(limits.http_requests);
        limits.http_response_bytes = o.http_response_bytes.unwrap_or(limits.http_response_bytes);
        limits.http_connect_timeout = o
            .http_connect_timeout
            .unwrap_or(limits.http_connect_timeout);
        limits.http_first_byte_timeout = o
            .http_first_byte_timeout
            .unwrap_or(limits.http_first_byte_timeout);
    }
    if let Some(t) = node.timeout {
        limits.timeout = t;
    }
    limits
}

/// Everything one attempt needs.
pub(crate) struct AttemptSpec {
    pub task: Task,
    pub context: TaskContext,
    pub input: Value,
    pub limits: Limits,
    /// When the node's hold on the run ends, for an attempt that can act.
    pub act_until: Option<std::time::Instant>,
}

pub(crate) async fn execute(spec: AttemptSpec, shared: &Shared) -> Outcome {
    let (runtime, metrics) = (&shared.runtime, &shared.metrics);
    let plugin = match shared
        .plugins
        .get(&spec.task.digest, &shared.store, runtime, metrics)
        .await
    {
        Ok(p) => p,
        Err(e) => return failed("internal", e),
    };
    // The only place a secret's value enters: this attempt's request.
    let config = match shared.secrets.resolve(&spec.task.config) {
        Ok(config) => config.into_owned(),
        Err(e) => return failed("fatal", e),
    };
    metrics.waiting_for_slot.fetch_add(1, Ordering::Relaxed);
    let slot = shared.slots.acquire().await;
    metrics.waiting_for_slot.fetch_sub(1, Ordering::Relaxed);
    let Ok(_slot) = slot else {
        return failed("internal", "the engine is shutting down".into());
    };
    metrics.running.fetch_add(1, Ordering::Relaxed);
    let _running = Decrement(&metrics.running);
    let attempt = runtime
        .run(
            &plugin,
            TaskRequest {
                context: spec.context,
                config,
                input: spec.input.to_string(),
                grants: spec.task.grants,
                limits: spec.limits,
                act_until: spec.act_until,
            },
        )
        .await;
    match attempt.result {
        Ok(_) => metrics.succeeded.observe(attempt.duration),
        Err(_) => metrics.failed.observe(attempt.duration),
    }
    redacted(outcome(attempt), &shared.secrets)
}

/// Counts an attempt out of `running` however it ends, cancellation included.
struct Decrement<'a>(&'a AtomicI64);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) fn failed(kind: &str, message: String) -> Outcome {
    Outcome {
        result: Err((kind.to_string(), message)),
        duration_ms: 0,
        logs: Vec::new(),
        denials: Vec::new(),
    }
}

fn outcome(attempt: Attempt) -> Outcome {
    let result = match attempt.result {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            (
                "invalid_output".to_string(),
                format!("output is not JSON: {e}"),
            )
        }),
        Err(failure) => Err((kind(&failure).to_string(), failure.to_string())),
    };
    Outcome {
        result,
        duration_ms: attempt.duration.as_millis() as u64,
        logs: attempt.logs,
        denials: attempt.denials,
    }
}

/// The outcome with every secret value in its output, failure message, log
/// lines and denials replaced by `[secret NAME]`, before any of it is
/// recorded. The output too: it becomes events, the run view and downstream
/// inputs, so a plugin cannot pass a secret on by returning it.
fn redacted(mut outcome: Outcome, secrets: &crate::Secrets) -> Outcome {
    match &mut outcome.result {
        Ok(output) => secrets.redact_value(output),
        Err((_, message)) => secrets.redact_string(message),
    }
    for line in &mut outcome.logs {
        secrets.redact_string(&mut line.message);
    }
    for denial in &mut outcome.denials {
        secrets.redact_string(denial);
    }
    outcome
}

/// The failure kind a retry policy's `non_retryable` can name.
pub(crate) fn kind(failure: &Failure) -> &'static str {
    match failure {
        Failure::Retryable(_) => "retryable",
        Failure::Fatal(_) => "fatal",
        Failure::Trap(_) => "trap",
        Failure::CpuLimit(_) => "cpu",
        Failure::MemoryLimit { .. } => "memory",
        Failure::Timeout(_) => "timeout",
        Failure::OutputTooLarge { .. } => "output",
        Failure::ScratchLimit { .. } => "scratch",
        Failure::InvalidOutput(_) => "invalid_output",
        Failure::Internal(_) => "internal",
    }
}

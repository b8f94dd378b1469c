//! The [`Runtime`]: one wasmtime engine and linker, shared by every plugin.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use baton_connectors::Connectors;
use baton_grant::Grants;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    UpdateDeadline,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::artifact::ArtifactCache;
use crate::attempt::{Attempt, Failure, LogLevel, TaskContext, TaskRequest};
use crate::bindings::{self, TaskPre};
use crate::config::{EPOCH_TICK, Limits, RuntimeConfig};
use crate::http::HttpHooks;
use crate::plugin::{Plugin, PluginInfo};
use crate::state::{CpuLimitExceeded, Journal, Limiter, MemoryLimitExceeded, TaskState};
use crate::{Error, Result, inspect};

/// Captured stdout/stderr per attempt, in bytes; enough for a panic message and some prints.
const CAPTURE: usize = 16 * 1024;
/// How long `describe` may take at load time.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs task plugins. Cheap to clone; clones share the engine, the pooled
/// instance slots, the artifact cache and the connectors.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<TaskState>,
    cache: Option<ArtifactCache>,
    config: RuntimeConfig,
    connectors: Connectors,
    interlock: Arc<crate::Interlock>,
    errors: Arc<crate::counters::ConnectorErrors>,
    stop_ticker: Arc<AtomicBool>,
    redactor: std::sync::RwLock<Option<crate::Redactor>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Build the engine (pooling allocator, epoch interruption) and the linker
    /// with every interface a task may import.
    pub fn new(config: RuntimeConfig, connectors: Connectors) -> Result<Self> {
        let setup = |e: wasmtime::Error| Error::Setup(format!("{e:#}"));
        let mut pool = PoolingAllocationConfig::default();
        let slots = config.max_instances.max(1);
        let per = (
            config.max_core_instances_per_component.max(1),
            config.max_memories_per_component.max(1),
            config.max_tables_per_component.max(1),
        );
        // Every component fits in its share of the pool, so no one component
        // can take the slots of others.
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(per.0))
            .total_memories(slots.saturating_mul(per.1))
            .total_tables(slots.saturating_mul(per.2))
            .max_core_instances_per_component(per.0)
            .max_memories_per_component(per.1)
            .max_tables_per_component(per.2)
            .total_stacks(slots)
            .max_memory_size(usize::try_from(config.max_memory).unwrap_or(usize::MAX))
            .max_memories_per_module(2)
            .max_tables_per_module(4)
            .table_elements(100_000);
        // Reused slots keep the pages a guest dirtied, reset in place, rather
        // than faulting them back in on every instantiation.
        let keep = usize::try_from(config.keep_resident).unwrap_or(usize::MAX);
        pool.pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(keep)
            .table_keep_resident(keep);
        let mut wasm = Config::new();
        wasm.epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(setup)?;

        let mut linker = Linker::<TaskState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(setup)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(setup)?;
        bindings::types::add_to_linker::<TaskState, HasSelf<TaskState>>(&mut linker, |s| s)
            .map_err(setup)?;
        bindings::log::add_to_linker::<TaskState, HasSelf<TaskState>>(&mut linker, |s| s)
            .map_err(setup)?;
        bindings::plc::add_to_linker::<TaskState, HasSelf<TaskState>>(&mut linker, |s| s)
            .map_err(setup)?;
        bindings::mqtt::add_to_linker::<TaskState, HasSelf<TaskState>>(&mut linker, |s| s)
            .map_err(setup)?;

        let cache = match &config.cache_dir {
            Some(dir) => Some(ArtifactCache::open(dir, &engine)?),
            None => None,
        };

        let stop_ticker = Arc::new(AtomicBool::new(false));
        let ticker_engine = engine.clone();
        let stop = stop_ticker.clone();
        std::thread::Builder::new()
            .name("baton-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| Error::Setup(format!("cannot start the epoch thread: {e}")))?;

        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache,
                config,
                connectors,
                interlock: Arc::default(),
                errors: Arc::default(),
                stop_ticker,
                redactor: Default::default(),
            }),
        })
    }

    /// The limits used when a node does not override them.
    pub fn default_limits(&self) -> Limits {
        self.inner.config.defaults
    }

    /// The connections tasks can be granted.
    pub fn connectors(&self) -> &Connectors {
        &self.inner.connectors
    }

    /// Engage or release the safety interlock: while engaged, every PLC write
    /// from any task is denied.
    pub fn set_interlock(&self, engaged: bool) {
        self.inner.interlock.set(engaged);
    }

    /// The interlock itself: for a cluster, which confirms its state from
    /// the store (see [`crate::Interlock`]).
    pub fn interlock_state(&self) -> &Arc<crate::Interlock> {
        &self.inner.interlock
    }

    /// Rewrite every guest log line and denial with `redact` before it is
    /// kept or traced: the engine takes its secrets' values out this way.
    pub fn set_redactor(&self, redact: crate::Redactor) {
        match self.inner.redactor.write() {
            Ok(mut slot) => *slot = Some(redact),
            Err(e) => *e.into_inner() = Some(redact),
        }
    }

    /// Failed connector calls made by tasks so far.
    pub fn connector_errors(&self) -> &crate::counters::ConnectorErrors {
        &self.inner.errors
    }

    /// Whether actuation is denied: the safety interlock is engaged, or its
    /// state could not be confirmed.
    pub fn interlock(&self) -> bool {
        self.inner.interlock.engaged()
    }

    /// Check, compile (or fetch from the cache) and describe a component.
    ///
    /// Compilation runs on a blocking thread, so loading a large plugin does
    /// not stall tasks running on the async executor.
    pub async fn load(&self, bytes: &[u8]) -> Result<Plugin> {
        inspect::check_bytes(bytes, self.inner.config.max_component_size)?;
        let digest = hex::encode(Sha256::digest(bytes));
        let inner = self.inner.clone();
        let owned = bytes.to_vec();
        let key = digest.clone();
        let (component, compile_time) = tokio::task::spawn_blocking(move || {
            if let Some(component) = inner
                .cache
                .as_ref()
                .and_then(|c| c.load(&inner.engine, &key))
            {
                return Ok((component, None));
            }
            let start = Instant::now();
            let component = Component::from_binary(&inner.engine, &owned).map_err(|e| {
                let message = format!("{e:#}");
                // Name the settings when a per-component pool cap refused it.
                if message.contains("pooling allocator") {
                    Error::Invalid(format!(
                        "{message} (runtime.max_core_instances_per_component, \
                         max_memories_per_component, max_tables_per_component)"
                    ))
                } else {
                    Error::Invalid(message)
                }
            })?;
            let elapsed = start.elapsed();
            tracing::info!(digest = %key, ms = elapsed.as_millis() as u64, "compiled plugin");
            if let Some(cache) = &inner.cache {
                cache.store(&key, &component);
            }
            Ok::<_, Error>((component, Some(elapsed)))
        })
        .await
        .map_err(|e| Error::Setup(format!("compile thread failed: {e}")))??;

        let engine = &self.inner.engine;
        let imports = inspect::imports(engine, &component);
        let unknown = inspect::unknown_imports(&imports);
        if !unknown.is_empty() {
            return Err(Error::UnknownImports(unknown));
        }
        let instance_pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| Error::Invalid(format!("{e:#}")))?;
        let pre = TaskPre::new(instance_pre)
            .map_err(|_| Error::WrongWorld(inspect::exports(engine, &component)))?;
        let info = self.describe(&pre).await?;
        info.validate()?;
        Ok(Plugin {
            pre,
            digest,
            info,
            imports,
            size: bytes.len(),
            compile_time,
        })
    }

    async fn describe(&self, pre: &TaskPre<TaskState>) -> Result<PluginInfo> {
        let limits = Limits {
            timeout: DESCRIBE_TIMEOUT,
            ..self.inner.config.defaults
        };
        let (mut store, _pipes) = self.store(Arc::new(Grants::default()), &limits, None, None);
        let call = async {
            let task = pre.instantiate_async(&mut store).await?;
            task.call_describe(&mut store).await
        };
        match tokio::time::timeout(limits.timeout, call).await {
            Ok(Ok(info)) => Ok(PluginInfo {
                name: info.name,
                version: info.version,
                description: info.description,
                config_schema: info.config_schema,
            }),
            Ok(Err(e)) => Err(Error::Describe(format!("{e:#}"))),
            Err(_) => Err(Error::Describe(format!(
                "did not return within {DESCRIBE_TIMEOUT:?}"
            ))),
        }
    }

    /// A fresh store for one instance, bounded by `limits`.
    fn store(
        &self,
        grants: Arc<Grants>,
        limits: &Limits,
        scratch: Option<&std::path::Path>,
        act_until: Option<Instant>,
    ) -> (Store<TaskState>, Pipes) {
        let pipes = Pipes {
            stdout: MemoryOutputPipe::new(CAPTURE),
            stderr: MemoryOutputPipe::new(CAPTURE),
        };
        let mut wasi = WasiCtx::builder();
        wasi.stdout(pipes.stdout.clone())
            .stderr(pipes.stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let redactor = match self.inner.redactor.read() {
            Ok(r) => r.clone(),
            Err(e) => e.into_inner().clone(),
        };
        let journal = Journal::new(limits).redacting(redactor);
        if let Some(dir) = scratch
            && let Err(e) = wasi.preopened_dir(dir, "/scratch", FsPerms::ReadWrite)
        {
            journal.log(
                LogLevel::Error,
                format!("scratch directory unavailable: {e:#}"),
            );
        }
        let max_memory = self.inner.config.max_memory;
        if limits.memory > max_memory {
            // A pooled slot cannot grow past `max_memory`; say so rather than cap silently.
            journal.log(
                LogLevel::Warn,
                format!(
                    "memory limit of {} bytes is above the host's maximum of {max_memory} bytes; using the maximum",
                    limits.memory
                ),
            );
        }
        let state = TaskState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            http_hooks: HttpHooks::new(
                grants.clone(),
                journal.clone(),
                self.inner.interlock.clone(),
                act_until,
                limits,
            ),
            table: ResourceTable::new(),
            limiter: Limiter::new(limits.memory.min(max_memory)),
            grants,
            connectors: self.inner.connectors.clone(),
            interlock: self.inner.interlock.clone(),
            act_until,
            errors: self.inner.errors.clone(),
            journal,
            ticks: 0,
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        let budget = cpu_ticks(limits.cpu);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut ctx| {
            let state = ctx.data_mut();
            state.ticks += 1;
            if state.ticks > budget {
                return Err(wasmtime::Error::new(CpuLimitExceeded));
            }
            // Yield every tick so one busy guest cannot starve the executor.
            Ok(UpdateDeadline::Yield(1))
        });
        (store, pipes)
    }

    /// Run one attempt in a fresh instance. Never panics and never returns a
    /// bare error: every outcome is an [`Attempt`] with a specific result.
    pub async fn run(&self, plugin: &Plugin, request: TaskRequest) -> Attempt {
        let start = Instant::now();
        let limits = request.limits;
        let scratch = if request.grants.scratch {
            match self.scratch_dir() {
                Ok(dir) => Some(dir),
                Err(e) => {
                    return Attempt {
                        result: Err(Failure::Internal(format!(
                            "cannot create scratch directory: {e}"
                        ))),
                        logs: Vec::new(),
                        dropped_logs: 0,
                        denials: Vec::new(),
                        duration: start.elapsed(),
                    };
                }
            }
        } else {
            None
        };
        let (mut store, pipes) = self.store(
            request.grants.clone(),
            &limits,
            scratch.as_ref().map(|d| d.path()),
            request.act_until,
        );
        let ctx = to_wit(&request.context);
        let outcome = {
            let call = async {
                let task = plugin
                    .pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(Stage::Instantiate)?;
                task.call_run(&mut store, &ctx, &request.config, &request.input)
                    .await
                    .map_err(Stage::Run)
            };
            let call = tokio::time::timeout(limits.timeout, call);
            match &scratch {
                Some(dir) => {
                    let quota = limits.scratch_bytes;
                    tokio::select! {
                        outcome = call => outcome.map_err(|_| None),
                        used = crate::scratch::exceeded(dir.path().to_path_buf(), quota) => Err(Some(used)),
                    }
                }
                None => call.await.map_err(|_| None),
            }
        };
        // A guest that returned within one watch interval is measured here.
        let over_quota = scratch
            .as_ref()
            .map(|d| crate::scratch::usage(d.path(), limits.scratch_bytes))
            .filter(|&used| used > limits.scratch_bytes);
        let result = match (outcome, over_quota) {
            (Err(Some(used)), _) | (Ok(_), Some(used)) => Err(Failure::ScratchLimit {
                limit: limits.scratch_bytes,
                used,
            }),
            (Err(None), _) => Err(Failure::Timeout(limits.timeout)),
            (Ok(Err(stage)), None) => Err(classify(stage, &store, &limits, &pipes)),
            (Ok(Ok(Err(bindings::types::TaskError::Retryable(m)))), None) => {
                Err(Failure::Retryable(m))
            }
            (Ok(Ok(Err(bindings::types::TaskError::Fatal(m)))), None) => Err(Failure::Fatal(m)),
            (Ok(Ok(Ok(output))), None) => check_output(output, &limits),
        };
        let journal = store.data().journal.clone();
        drop(store);
        pipes.log_into(&journal);
        // Remove the scratch directory now rather than whenever the value is dropped.
        if let Some(dir) = scratch
            && let Err(e) = dir.close()
        {
            tracing::warn!(error = %e, "could not remove a scratch directory");
        }
        let recorded = journal.take();
        Attempt {
            result,
            logs: recorded.lines,
            dropped_logs: recorded.dropped,
            denials: recorded.denials,
            duration: start.elapsed(),
        }
    }

    fn scratch_dir(&self) -> std::io::Result<tempfile::TempDir> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("baton-scratch-");
        match &self.inner.config.scratch_dir {
            Some(parent) => {
                std::fs::create_dir_all(parent)?;
                builder.tempdir_in(parent)
            }
            None => builder.tempdir(),
        }
    }
}

fn cpu_ticks(cpu: Duration) -> u64 {
    (cpu.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

fn to_wit(c: &TaskContext) -> bindings::types::TaskContext {
    bindings::types::TaskContext {
        run_id: c.run_id.clone(),
        node_id: c.node_id.clone(),
        attempt: c.attempt,
        idempotency_key: c.idempotency_key.clone(),
    }
}

fn check_output(output: String, limits: &Limits) -> Result<String, Failure> {
    if output.len() > limits.output {
        return Err(Failure::OutputTooLarge {
            size: output.len(),
            limit: limits.output,
        });
    }
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&output) {
        return Err(Failure::InvalidOutput(e.to_string()));
    }
    Ok(output)
}

enum Stage {
    Instantiate(wasmtime::Error),
    Run(wasmtime::Error),
}

/// Turn a wasmtime error into the specific reason the attempt failed.
fn classify(stage: Stage, store: &Store<TaskState>, limits: &Limits, pipes: &Pipes) -> Failure {
    let (error, instantiating) = match stage {
        Stage::Instantiate(e) => (e, true),
        Stage::Run(e) => (e, false),
    };
    if error.downcast_ref::<CpuLimitExceeded>().is_some() {
        return Failure::CpuLimit(limits.cpu);
    }
    if error.downcast_ref::<MemoryLimitExceeded>().is_some() {
        let limiter = &store.data().limiter;
        return Failure::MemoryLimit {
            limit: limiter.memory_limit,
            requested: limiter.exceeded.unwrap_or(limiter.memory_limit),
        };
    }
    if instantiating && error.downcast_ref::<wasmtime::Trap>().is_none() {
        return Failure::Internal(format!("instantiation failed: {error:#}"));
    }
    let mut message = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}"),
    };
    let stderr = pipes.stderr.contents();
    let stderr = String::from_utf8_lossy(&stderr);
    let stderr = stderr.trim();
    if !stderr.is_empty() {
        let tail: String = stderr
            .chars()
            .rev()
            .take(1024)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        message.push_str("; guest stderr: ");
        message.push_str(&tail);
    }
    Failure::Trap(message)
}

/// The guest's stdout and stderr for one attempt.
struct Pipes {
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl Pipes {
    /// Record what the guest printed as log lines: stdout at info, stderr at warn.
    fn log_into(&self, journal: &Journal) {
        for (pipe, level) in [
            (&self.stdout, LogLevel::Info),
            (&self.stderr, LogLevel::Warn),
        ] {
            let bytes = pipe.contents();
            if bytes.is_empty() {
                continue;
            }
            for line in String::from_utf8_lossy(&bytes).lines() {
                if !line.trim().is_empty() {
                    journal.log(level, line.to_string());
                }
            }
        }
    }
}

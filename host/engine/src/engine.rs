//! The [`Engine`]: stores plugins and workflow versions, starts and steers
//! runs, and resumes unfinished runs at start-up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_runtime::Runtime;
use baton_store::{
    Created, NewRun, PluginRecord, RunRecord, Store, StoredEvent, WorkflowRecord, now_millis,
};
use baton_workflow::{Workflow, validate_with};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::catalog::Snapshot;
use crate::compiled::CompiledWorkflow;
use crate::event::Event;
use crate::executor::PluginCache;
use crate::relay::Action;
use crate::run::{Decided, Input, RunActor};
use crate::scheduler::Scheduler;
use crate::state::RunState;
use crate::{EngineConfig, Error, Result};

/// What the engine's parts share with every run.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) node: crate::node::Node,
    /// The heartbeat loop and the interlock watch; stopped by [`Engine::halt`].
    pub(crate) background: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Held while the interlock changes or is read, so a read cannot undo a
    /// change in progress.
    pub(crate) interlock_change: tokio::sync::Mutex<()>,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) plugins: PluginCache,
    pub(crate) slots: Semaphore,
    workflows: Mutex<HashMap<(String, i64), Arc<CompiledWorkflow>>>,
    runs: Mutex<HashMap<String, Registered>>,
    pub(crate) halted: std::sync::atomic::AtomicBool,
    pub(crate) triggers: crate::triggers::Triggers,
    pub(crate) metrics: crate::metrics::EngineMetrics,
    limits: baton_workflow::Limits,
    pub(crate) secrets: crate::Secrets,
    pub(crate) fast_path: crate::FastPath,
    waiters: crate::waiters::Waiters,
}

/// A live run actor: its inbox and the handle that stops it.
struct Registered {
    inbox: mpsc::UnboundedSender<Input>,
    task: Option<tokio::task::AbortHandle>,
}

impl Shared {
    /// A run's actor has ended; `ended` is the run as its last commit
    /// stored it, if the actor knows it.
    pub(crate) fn forget(&self, run_id: &str, ended: Option<&RunRecord>) {
        lock(&self.runs).remove(run_id);
        self.waiters.wake(run_id, ended);
    }

    /// Whether a caller (`?wait=`, or a parent run) waits for run `run_id`
    /// to end.
    pub(crate) fn awaited(&self, run_id: &str) -> bool {
        self.waiters.awaited(run_id)
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How to start a run.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// At most one run of the workflow is ever started with this key.
    pub idempotency_key: Option<String>,
    /// What started it: `api`, `mqtt:<topic>`, `cron:<schedule>`.
    pub trigger: String,
    /// Who started it.
    pub actor: Option<String>,
    /// An audit record to commit with the run, only if the run is new. The
    /// run's id is added to its `data.details` object as `run`.
    pub audit: Option<baton_store::NewEvent>,
    /// The workflow version to run; the newest when none.
    pub version: Option<i64>,
    /// The run and node that start this run as a sub-workflow.
    pub parent: Option<(String, String)>,
    /// The caller waits for the run's end (`?wait=`) and is told nothing of
    /// it before then. A run that may be (no idempotency key, no unique key,
    /// no locks, not a child) is then created with its first commit point
    /// rather than before its first step: a chain of pure steps costs one
    /// commit in all. See `docs/engine.md`.
    pub awaited: bool,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            idempotency_key: None,
            trigger: "api".into(),
            actor: None,
            audit: None,
            version: None,
            parent: None,
            awaited: false,
        }
    }
}

/// Deepest chain of runs started by runs (sub-workflows): a workflow that,
/// through others, starts itself is refused here instead of filling the
/// database.
pub const MAX_DEPTH: i64 = 8;

/// A run that was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// Its id.
    pub run_id: String,
    /// False if the idempotency key matched an existing run, which is this one.
    pub created: bool,
}

/// A workflow as checked: the definition and how its plugins resolve.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The parsed definition.
    pub workflow: Workflow,
    /// `name@major` to `{"version", "digest"}`.
    pub plugins: Value,
    /// The text it was parsed from.
    pub source: String,
}

/// The workflow engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("active_runs", &self.active_runs())
            .finish()
    }
}

impl Engine {
    /// Start the engine on `store`: register it as a node of the database,
    /// and resume the unfinished runs it takes (on SQLite all of them; on
    /// PostgreSQL those of silent nodes and those with no owner).
    pub async fn start(store: Store, runtime: Arc<Runtime>, config: EngineConfig) -> Result<Self> {
        let node = crate::node::Node::register(&store, &config.cluster).await?;
        if config.secrets.names().next().is_some() {
            // Guest log lines and denials are redacted as they are written,
            // before the runtime traces or truncates them.
            let secrets = config.secrets.clone();
            runtime.set_redactor(Arc::new(move |text: &mut String| {
                secrets.redact_string(text)
            }));
        }
        let engine = Self {
            shared: Arc::new(Shared {
                store,
                node,
                background: Mutex::new(Vec::new()),
                interlock_change: tokio::sync::Mutex::new(()),
                runtime,
                plugins: PluginCache::default(),
                slots: Semaphore::new(config.max_concurrent_tasks.max(1)),
                workflows: Mutex::new(HashMap::new()),
                runs: Mutex::new(HashMap::new()),
                halted: Default::default(),
                triggers: Default::default(),
                metrics: Default::default(),
                limits: config.workflows,
                secrets: config.secrets,
                fast_path: config.fast_path,
                waiters: Default::default(),
            }),
        };
        // The interlock is a safety state: it outlives restarts, and holds
        // for every node on the database.
        engine.load_interlock().await?;
        engine.claim_at_start().await?;
        let heartbeat = engine.spawn_heartbeat();
        lock(&engine.shared.background).push(heartbeat.abort_handle());
        if engine.shared.node.clustered {
            let watch = engine.spawn_interlock_watch();
            let inbox = engine.spawn_inbox();
            lock(&engine.shared.background).extend([watch.abort_handle(), inbox.abort_handle()]);
        }
        let grants = engine.spawn_lock_grants();
        lock(&engine.shared.background).push(grants.abort_handle());
        engine.refresh_triggers().await?;
        Ok(engine)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The plugin runtime.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.shared.runtime
    }

    /// What the engine has measured.
    pub fn metrics(&self) -> &crate::metrics::EngineMetrics {
        &self.shared.metrics
    }

    /// Task slots (see [`EngineConfig::max_concurrent_tasks`]) free right now.
    pub fn free_slots(&self) -> usize {
        self.shared.slots.available_permits()
    }

    /// Runs with a live actor: executing, waiting or parked.
    pub fn active_runs(&self) -> usize {
        lock(&self.shared.runs).len()
    }

    /// Check, compile and store a plugin component. The same bytes again
    /// return the stored record.
    pub async fn add_plugin(&self, bytes: &[u8]) -> Result<PluginRecord> {
        let plugin = self.shared.runtime.load(bytes).await?;
        self.shared.metrics.record_load(&plugin);
        let info = &plugin.info;
        let config_schema = match &info.config_schema {
            Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                Error::Conflict(format!("the plugin's config schema is not JSON: {e}"))
            })?),
            None => None,
        };
        let record = PluginRecord {
            digest: plugin.digest.clone(),
            name: info.name.clone(),
            version: info.version.clone(),
            major: info.major(),
            description: info.description.clone(),
            config_schema,
            imports: plugin.imports.clone(),
            size: plugin.size as u64,
            created_at: now_millis(),
        };
        let stored = self
            .shared
            .store
            .put_plugin(&record, bytes)
            .await
            .map_err(|e| match e {
                baton_store::Error::Conflict(m) => Error::Conflict(m),
                other => Error::Store(other),
            })?;
        self.shared.plugins.insert(Arc::new(plugin));
        Ok(stored)
    }

    /// Parse a workflow within the limits. Bounded, but up to a second of
    /// CPU on a large body: kept off the threads that serve requests and
    /// drive runs.
    pub async fn parse_workflow(&self, text: &str) -> Result<Workflow> {
        let limits = self.shared.limits;
        let text = text.to_string();
        tokio::task::spawn_blocking(move || Workflow::parse_with(&text, &limits))
            .await
            .map_err(|e| Error::Definition(format!("the workflow check failed: {e}")))?
            .map_err(Error::from)
    }

    /// Parse and validate a workflow against the stored plugins and the
    /// configured connections, reporting every problem at once.
    pub async fn check_workflow(&self, text: &str) -> Result<Applied> {
        let workflow = self.parse_workflow(text).await?;
        self.check_parsed(workflow, text.to_string()).await
    }

    /// Validate a workflow parsed from `source` (by
    /// [`Engine::parse_workflow`]), reporting every problem at once.
    pub async fn check_parsed(&self, workflow: Workflow, source: String) -> Result<Applied> {
        let connectors = self.shared.runtime.connectors();
        let snapshot = Snapshot::new(
            self.shared.store.plugins().await?,
            connectors.plc_names().map(str::to_string),
            connectors.mqtt_names().map(str::to_string),
            self.shared.secrets.names().map(str::to_string),
            self.shared.store.latest_versions().await?,
        );
        let limits = self.shared.limits;
        let (workflow, snapshot) = tokio::task::spawn_blocking(move || {
            validate_with(&workflow, &snapshot, &limits)?;
            Ok::<_, Error>((workflow, snapshot))
        })
        .await
        .map_err(|e| Error::Definition(format!("the workflow check failed: {e}")))??;
        let refs: Vec<&str> = workflow
            .nodes
            .iter()
            .flat_map(|(_, n)| {
                n.plugin
                    .as_deref()
                    .into_iter()
                    .chain(n.compensate.as_ref().map(|c| c.plugin.as_str()))
            })
            .collect();
        let plugins = snapshot.resolve(refs.into_iter());
        Ok(Applied {
            workflow,
            plugins,
            source,
        })
    }

    /// Validate and store a new version of a workflow. Runs already started
    /// keep the version they started on.
    pub async fn apply_workflow(&self, text: &str) -> Result<WorkflowRecord> {
        let checked = self.check_workflow(text).await?;
        self.store_workflow(checked).await
    }

    /// Store a new version of a workflow that [`Engine::check_workflow`]
    /// accepted, and arm its triggers.
    pub async fn store_workflow(&self, checked: Applied) -> Result<WorkflowRecord> {
        let Applied {
            workflow,
            plugins,
            source,
        } = checked;
        let definition = serde_json::to_value(&workflow)
            .map_err(|e| Error::Definition(format!("cannot store the workflow: {e}")))?;
        let record = self
            .shared
            .store
            .put_workflow(&workflow.name, &definition, &plugins, Some(&source))
            .await?;
        self.shared.triggers.arm(self, &workflow, record.version);
        Ok(record)
    }

    pub(crate) async fn compiled(&self, name: &str, version: i64) -> Result<Arc<CompiledWorkflow>> {
        if let Some(wf) = lock(&self.shared.workflows).get(&(name.to_string(), version)) {
            return Ok(wf.clone());
        }
        let record = self
            .shared
            .store
            .workflow(name, version)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("workflow {name} version {version} not found"))
            })?;
        let wf = Arc::new(CompiledWorkflow::new(&record, &self.shared.limits)?);
        lock(&self.shared.workflows).insert((name.to_string(), version), wf.clone());
        Ok(wf)
    }

    /// Start a run of the newest version of `workflow`. The run's first
    /// decisions are committed together with its creation.
    pub async fn start_run(
        &self,
        workflow: &str,
        input: Value,
        options: StartOptions,
    ) -> Result<Started> {
        if self.shared.halted.load(std::sync::atomic::Ordering::SeqCst)
            || self.shared.node.is_lost()
        {
            return Err(Error::ShuttingDown);
        }
        // Engaged as stored; a state that is only unconfirmed for a moment
        // does not refuse a run, and its actuations wait for it or are denied.
        if self.shared.runtime.interlock_state().stored() {
            return Err(Error::Interlock);
        }
        // Always the store's newest: another node may have applied a version.
        let version = match options.version {
            Some(v) => v,
            None => self
                .shared
                .store
                .latest_workflow_version(workflow)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no workflow named `{workflow}`")))?,
        };
        let depth = match &options.parent {
            None => 0,
            Some((parent, _)) => self.record(parent).await?.depth + 1,
        };
        if depth > MAX_DEPTH {
            return Err(Error::BadRequest(format!(
                "runs nest {depth} deep; at most {MAX_DEPTH} runs may start one another"
            )));
        }
        let wf = self.compiled(workflow, version).await?;
        let key = wf.run_key(&input)?;
        wf.check_run_locks(&input)?;
        let run_id = uuid::Uuid::now_v7().to_string();
        let now = now_millis();
        let mut state = RunState::new(&run_id, input.clone(), &wf);
        state.started_at = now;
        let started = Event::RunStarted {
            workflow: workflow.to_string(),
            version,
            input: input.clone(),
            trigger: options.trigger.clone(),
        };
        let mut scheduler = Scheduler::new(&wf, &mut state, now);
        scheduler.decide();
        let first: Vec<_> = scheduler
            .into_events()
            .into_iter()
            .map(|e| Decided::new(e, now))
            .collect();
        let started = Decided {
            by: options.actor.clone(),
            ..Decided::new(started, now)
        };
        // Creating the run and starting its actor must not be torn apart by
        // a caller that goes away (an HTTP client disconnecting), or the run
        // would exist without anyone running it until the next restart.
        let engine = self.clone();
        let audit = options.audit.map(|mut event| {
            if let baton_store::EventData::Value(data) = &mut event.data
                && let Some(details) = data.get_mut("details").and_then(Value::as_object_mut)
            {
                details.insert("run".into(), Value::String(run_id.clone()));
            }
            event
        });
        let run = NewRun {
            audit,
            id: run_id,
            workflow: workflow.to_string(),
            version,
            input,
            idempotency_key: options.idempotency_key,
            trigger: options.trigger,
            owner: Some(self.shared.node.id.clone()),
            key: key.clone(),
            unique_key: wf.def.unique_key,
            parent: options.parent,
            depth,
        };
        let unborn = options.awaited
            && self.shared.fast_path.enabled
            && run.idempotency_key.is_none()
            && !(run.unique_key && run.key.is_some())
            && run.parent.is_none()
            && !wf.any_locks;
        if unborn {
            // Nothing can refuse the creation now: it is committed with the
            // run's first commit point, which nothing outside sees before.
            let id = run.id.clone();
            let actor = self.actor(wf, state, self.shared.node.new_fence());
            let mut events = vec![started];
            events.extend(first);
            let task = tokio::spawn(actor.start_unborn(run, events));
            self.track(&id, task);
            return Ok(Started {
                run_id: id,
                created: true,
            });
        }
        // A run whose first steps are pure commits its start alone: their
        // events wait in its actor for its next commit point, as those of
        // any pure step do (see `docs/engine.md`, "The fast path").
        let deferred = self.shared.fast_path.enabled
            && !first.is_empty()
            && first.iter().all(|d| crate::run::pure_event(&wf, &d.event));
        let mut committed = vec![started];
        if !deferred {
            committed.extend(first.iter().cloned());
        }
        let transition = crate::run::projection(&wf, &state, &committed);
        tokio::spawn(async move {
            // The run as its creation stores it, for whoever waits for it.
            let born = RunRecord::created(&run, 0);
            let update = transition.run.clone();
            // Its start alone: answered once it is in the store's intake
            // log, where the store has one (see `baton_store::Store::accept_run`).
            let (created, at) = if deferred {
                engine.shared.store.accept_run(run, transition).await?
            } else {
                engine.shared.store.create_run_at(run, transition).await?
            };
            match created {
                Created::Existing(id) => Ok(Started {
                    run_id: id,
                    created: false,
                }),
                Created::Locked(lock) => Err(Error::Conflict(format!(
                    "lock `{lock}` is taken, and workflow `{}` has `on_conflict: reject` for it",
                    wf.name
                ))),
                Created::KeyTaken(id) => Err(Error::Conflict(format!(
                    "run {id} of workflow `{}` is active with key `{}`; the workflow allows \
                     one active run per key (unique_key)",
                    wf.name,
                    key.unwrap_or_default()
                ))),
                Created::New(id) => {
                    let record = born.created_by(at, update.as_ref());
                    let actor = engine.actor(wf, state, engine.shared.node.new_fence());
                    let task = tokio::spawn(actor.stored(record).start(first, !deferred));
                    engine.track(&id, task);
                    Ok(Started {
                        run_id: id,
                        created: true,
                    })
                }
            }
        })
        .await
        .map_err(|_| Error::ShuttingDown)?
    }

    fn actor(
        &self,
        wf: Arc<CompiledWorkflow>,
        state: RunState,
        fence: baton_store::Fence,
    ) -> RunActor {
        let (tx, rx) = mpsc::unbounded_channel();
        let old = lock(&self.shared.runs).insert(
            state.run_id.clone(),
            Registered {
                inbox: tx.clone(),
                task: None,
            },
        );
        // A run taken back under a new epoch: the old actor may not go on.
        if let Some(task) = old.and_then(|o| o.task) {
            task.abort();
        }
        RunActor::new(self.shared.clone(), wf, state, rx, tx, fence)
    }

    fn track(&self, run_id: &str, task: tokio::task::JoinHandle<()>) {
        if let Some(entry) = lock(&self.shared.runs).get_mut(run_id) {
            entry.task = Some(task.abort_handle());
        }
    }

    /// Stop every run at once, as a crash would: nothing more is committed,
    /// running attempts are dropped, and new runs are refused. Every run
    /// resumes from its committed events when an engine next starts on the
    /// same store.
    pub fn halt(&self) {
        self.shared.triggers.clear();
        for task in lock(&self.shared.background).drain(..) {
            task.abort();
        }
        self.shared
            .halted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.store.halt();
        for (_, entry) in lock(&self.shared.runs).drain() {
            if let Some(task) = entry.task {
                task.abort();
            }
        }
    }

    /// Abort running attempts that can actuate, in every run here.
    pub(crate) fn interlock_runs(&self) {
        for entry in lock(&self.shared.runs).values() {
            let _ = entry.inbox.send(Input::Interlock);
        }
    }

    /// Tell every run here to read its lock requests again.
    pub(crate) fn wake_lock_waiters(&self) {
        for entry in lock(&self.shared.runs).values() {
            let _ = entry.inbox.send(Input::LocksChanged);
        }
    }

    /// Drop every run from memory at once, committing nothing: this node
    /// no longer owns them.
    pub(crate) fn drop_all_runs(&self) {
        let runs: Vec<_> = lock(&self.shared.runs).drain().collect();
        for (run_id, entry) in runs {
            if let Some(task) = entry.task {
                task.abort();
            }
            self.shared.waiters.wake(&run_id, None);
        }
    }

    /// Whether run `run_id` runs on this engine now.
    pub fn runs_here(&self, run_id: &str) -> bool {
        lock(&self.shared.runs).contains_key(run_id)
    }

    /// The inbox of run `run_id`'s actor, if it runs here.
    pub(crate) fn inbox_of(&self, run_id: &str) -> Option<mpsc::UnboundedSender<Input>> {
        lock(&self.shared.runs).get(run_id).map(|r| r.inbox.clone())
    }

    /// Hand `action` to run `run_id`, here or, through the inbox, on the
    /// node that owns it; returns once it is durable.
    pub(crate) async fn send(&self, run_id: &str, action: Action) -> Result<()> {
        if let Some(sender) = self.inbox_of(run_id) {
            let (reply, rx) = oneshot::channel();
            if sender.send(action.clone().into_input(reply)).is_ok()
                && let Ok(result) = rx.await
            {
                return result;
            }
            // The actor ended without answering: finished, or taken over.
        }
        match self.shared.store.run(run_id).await? {
            None => Err(Error::NotFound(format!("no run `{run_id}`"))),
            Some(run) if run.status.is_terminal() => Err(Error::Conflict(format!(
                "run {run_id} has already {}",
                run.status
            ))),
            Some(_) if self.shared.node.clustered => self.relay(run_id, action).await,
            Some(_) => Err(Error::Conflict(format!(
                "run {run_id} is not active on this engine"
            ))),
        }
    }

    /// Approve or reject an approval node. Returns once the decision is durable.
    pub async fn decide_approval(
        &self,
        run_id: &str,
        node: &str,
        approved: bool,
        actor: &str,
        comment: Option<String>,
    ) -> Result<()> {
        let action = Action::Approval {
            node: node.to_string(),
            approved,
            actor: actor.to_string(),
            comment,
        };
        self.send(run_id, action).await
    }

    /// Release the node waiting for signal `name`.
    pub async fn signal(
        &self,
        run_id: &str,
        name: &str,
        payload: Value,
        actor: &str,
    ) -> Result<()> {
        let action = Action::Signal {
            name: name.to_string(),
            payload,
            actor: actor.to_string(),
        };
        self.send(run_id, action).await
    }

    /// Cancel a run: running attempts are stopped, compensations run if the
    /// workflow asks for them, and the run ends `cancelled`.
    pub async fn cancel(&self, run_id: &str, actor: &str, reason: &str) -> Result<()> {
        let action = Action::Cancel {
            actor: actor.to_string(),
            reason: reason.to_string(),
        };
        self.send(run_id, action).await
    }

    /// Wait up to `timeout` for a run to finish; `None` if it has not. A run
    /// whose actor is on this engine signals its end once it is committed;
    /// any other (one being resumed, or owned elsewhere) is polled.
    pub async fn wait_finished(
        &self,
        run_id: &str,
        timeout: Duration,
    ) -> Result<Option<RunRecord>> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Whether the run's actor was seen here: a run started with
        // `awaited` may not be created until its first commit point, and if
        // this engine stops before that, the run never was.
        let mut seen_here = false;
        loop {
            // Registered before reading, so an end committed after the read
            // still wakes this caller.
            let ended = self.shared.waiters.register(run_id);
            // A run whose actor is live here has not ended, and its end
            // wakes `ended` (the actor leaves `runs` before it wakes its
            // waiters): there is nothing to read yet.
            let here = self.runs_here(run_id);
            seen_here |= here;
            if !here {
                let run = self.created(run_id, seen_here).await?;
                if run.status.is_terminal() {
                    return Ok(Some(run));
                }
            }
            let woken = if here {
                match tokio::time::timeout_at(deadline, ended).await {
                    // Its actor hands over the ended run as committed.
                    Ok(Ok(Some(run))) if run.status.is_terminal() => return Ok(Some(*run)),
                    Ok(_) => true,
                    Err(_) => false,
                }
            } else {
                let poll = tokio::time::Instant::now() + POLL_UNOWNED;
                tokio::time::sleep_until(poll.min(deadline)).await;
                true
            };
            if !woken || tokio::time::Instant::now() >= deadline {
                self.shared.waiters.prune(run_id);
                // The caller names the run next: it must be created. Only
                // a run not yet stored asks its actor, which may be busy
                // committing.
                let run = match self.shared.store.run(run_id).await? {
                    Some(run) => run,
                    None => {
                        self.create_unborn(run_id).await;
                        self.created(run_id, seen_here).await?
                    }
                };
                return Ok(Some(run).filter(|r| r.status.is_terminal()));
            }
        }
    }

    /// Run `run_id`'s record, once [`Engine::wait_finished`] waited for it.
    async fn created(&self, run_id: &str, seen_here: bool) -> Result<RunRecord> {
        match self.shared.store.run(run_id).await? {
            Some(run) => Ok(run),
            // Its actor stopped before its first commit: the engine stops.
            None if seen_here => Err(Error::ShuttingDown),
            None => Err(Error::NotFound(format!("no run `{run_id}`"))),
        }
    }

    /// Have run `run_id`'s actor here commit its creation, if that waits
    /// for its first commit point (see `run::unborn`).
    async fn create_unborn(&self, run_id: &str) {
        if let Some(inbox) = self.inbox_of(run_id) {
            let (reply, rx) = oneshot::channel();
            if inbox.send(Input::Create { reply }).is_ok() {
                // An actor that stops first has ended or been dropped.
                let _ = rx.await;
            }
        }
    }

    /// Resume run `run_id` here from its committed events, under `fence`.
    pub(crate) async fn resume_one(&self, run_id: &str, fence: baton_store::Fence) -> Result<()> {
        let (run, state, wf) = self.inspect(run_id).await?;
        tracing::info!(run = %run.id, workflow = %run.workflow, epoch = fence.epoch, "resuming run");
        let actor = self.actor(wf, state, fence).stored(run);
        let task = tokio::spawn(actor.resume());
        self.track(run_id, task);
        Ok(())
    }
}

/// How often [`Engine::wait_finished`] reads a run that has no actor here.
const POLL_UNOWNED: Duration = Duration::from_millis(250);

/// Decode stored events; an event this engine does not know means the run
/// cannot be resumed safely.
pub(crate) fn parse_events(stored: &[StoredEvent]) -> Result<Vec<(Event, i64)>> {
    stored
        .iter()
        .map(|e| {
            serde_json::from_value::<Event>(e.data.clone())
                .map(|ev| (ev, e.at))
                .map_err(|err| {
                    Error::Definition(format!(
                        "event {} ({}) cannot be read: {err}",
                        e.seq, e.kind
                    ))
                })
        })
        .collect()
}

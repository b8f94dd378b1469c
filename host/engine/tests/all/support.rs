//! Shared helpers: an engine on a fresh database with the test plugins
//! installed, a simulated PLC as `oven-1` and the test broker as `plant`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use baton_connectors::config::{MqttConfig, PlcConfig};
use baton_connectors::{Connectors, ConnectorsConfig};
use baton_engine::{Engine, EngineConfig, Event, StartOptions};
use baton_runtime::{Runtime, RuntimeConfig};
use baton_sim::{EmbeddedBroker, Oven, SimulatedPlc};
use baton_store::{Execution, Phase, RunRecord, RunStatus, Store, StoreOptions};
use serde_json::Value;

/// The test broker: Mosquitto when `BATON_TEST_MQTT_URL` is set, else the
/// embedded one; under `CI=true` it must be set.
pub async fn broker_url() -> String {
    EmbeddedBroker::test_url()
        .await
        .unwrap_or_else(|e| panic!("the test broker: {e}"))
}

/// A fresh database: SQLite in a temporary directory, or a new PostgreSQL
/// database on the server at `BATON_TEST_DATABASE_URL` when `postgres`.
pub struct Db {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("baton.db").display());
        Self {
            url,
            _dir: Some(dir),
        }
    }

    /// `None`, after one `skipped:` line, when no PostgreSQL server is
    /// configured outside CI; under `CI=true` that fails the test.
    pub async fn postgres() -> Option<Self> {
        let name = format!("baton_test_{}", uuid_like());
        let url =
            baton_sim::suite::fresh_database("PostgreSQL engine-recovery suite", &name).await?;
        Some(Self { url, _dir: None })
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Artifacts shared by every test, so each plugin compiles once per build.
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("engine-artifacts")
}

pub struct Harness {
    pub engine: Engine,
    pub plc: SimulatedPlc,
    pub db: Db,
}

impl Harness {
    pub async fn new() -> Self {
        Self::on(Db::sqlite()).await
    }

    pub async fn on(db: Db) -> Self {
        Self::configured(db, EngineConfig::default()).await
    }

    /// A harness whose engine runs with `config`, e.g. with secrets.
    pub async fn configured(db: Db, config: EngineConfig) -> Self {
        let plc = SimulatedPlc::start(([127, 0, 0, 1], 0).into(), Oven::new(), None)
            .await
            .unwrap();
        let engine = start_engine_with(&db.url, &plc.url(), config).await;
        let h = Self { engine, plc, db };
        for path in [
            baton_plugins::test_programs::SCRIPTED,
            baton_plugins::test_programs::NOOP,
        ] {
            h.engine
                .add_plugin(&std::fs::read(path).unwrap())
                .await
                .unwrap();
        }
        for name in ["modbus-write", "modbus-read", "transform"] {
            h.engine
                .add_plugin(baton_plugins::find(name).unwrap().wasm)
                .await
                .unwrap();
        }
        h
    }

    /// A second engine on the same database and PLC, as after a restart.
    pub async fn restart(&self) -> Engine {
        start_engine(&self.db.url, &self.plc.url()).await
    }

    pub async fn apply(&self, yaml: &str) {
        self.engine.apply_workflow(yaml).await.unwrap();
    }

    pub async fn start(&self, workflow: &str, input: Value) -> String {
        self.engine
            .start_run(workflow, input, StartOptions::default())
            .await
            .unwrap()
            .run_id
    }

    pub async fn finish(&self, run_id: &str) -> RunRecord {
        self.engine
            .wait_finished(run_id, Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("run {run_id} did not finish"))
    }

    /// Start a run and wait for it to finish.
    pub async fn run(&self, workflow: &str, input: Value) -> RunRecord {
        let id = self.start(workflow, input).await;
        self.finish(&id).await
    }

    pub async fn events(&self, run_id: &str) -> Vec<Event> {
        events(self.engine.store(), run_id).await
    }

    pub async fn executions(&self, run_id: &str) -> Vec<Execution> {
        self.engine.executions(run_id).await.unwrap()
    }

    /// Wait until the run has an event that `pred` accepts.
    pub async fn until_event(&self, run_id: &str, pred: impl Fn(&Event) -> bool) {
        until_event(self.engine.store(), run_id, pred).await
    }
}

/// Wait until the run has an event that `pred` accepts.
pub async fn until_event(store: &Store, run_id: &str, pred: impl Fn(&Event) -> bool) {
    for _ in 0..600 {
        if events(store, run_id).await.iter().any(&pred) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run_id}: the awaited event never came");
}

pub async fn events(store: &Store, run_id: &str) -> Vec<Event> {
    store
        .all_events(run_id)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|e| serde_json::from_value::<Event>(e.data).unwrap().unfolded())
        .collect()
}

/// The default config with its fast path as `fast_path`.
pub fn fast_path(fast_path: baton_engine::FastPath) -> EngineConfig {
    EngineConfig {
        fast_path,
        ..EngineConfig::default()
    }
}

/// The config of cluster node `id`: heartbeat 100 ms and a 1 s lease, so
/// a takeover takes about a second.
pub fn cluster_node(id: &str) -> EngineConfig {
    EngineConfig {
        cluster: baton_engine::ClusterConfig {
            node_id: Some(id.into()),
            heartbeat: Duration::from_millis(100),
            lease: Duration::from_secs(1),
            ..Default::default()
        },
        ..EngineConfig::default()
    }
}

pub async fn start_engine(db: &str, plc: &str) -> Engine {
    start_engine_with(db, plc, EngineConfig::default()).await
}

pub async fn start_engine_with(db: &str, plc: &str, mut config: EngineConfig) -> Engine {
    // A restarted engine waits out its predecessor's lease: keep it short.
    let defaults = baton_engine::ClusterConfig::default();
    if config.cluster.lease == defaults.lease && config.cluster.heartbeat == defaults.heartbeat {
        config.cluster.heartbeat = Duration::from_millis(100);
        config.cluster.lease = Duration::from_secs(1);
    }
    let store = Store::open(db, StoreOptions::default()).await.unwrap();
    let url = broker_url().await;
    let mut connectors = ConnectorsConfig::default();
    connectors.plc.insert("oven-1".into(), PlcConfig::new(plc));
    connectors.mqtt.insert("plant".into(), MqttConfig::new(url));
    let connectors = Connectors::from_config(&connectors).unwrap();
    assert!(connectors.wait_connected(Duration::from_secs(10)).await);
    let runtime = Runtime::new(
        RuntimeConfig {
            cache_dir: Some(cache_dir()),
            ..RuntimeConfig::default()
        },
        connectors,
    )
    .unwrap();
    Engine::start(store, Arc::new(runtime), config)
        .await
        .unwrap()
}

/// The run-phase executions of `node`, in attempt order.
pub fn attempts<'a>(execs: &'a [Execution], node: &str) -> Vec<&'a Execution> {
    let mut v: Vec<&Execution> = execs
        .iter()
        .filter(|e| e.node_id == node && e.phase == Phase::Run)
        .collect();
    v.sort_by_key(|e| (e.item, e.attempt));
    v
}

pub fn assert_status(run: &RunRecord, status: RunStatus) {
    assert_eq!(
        run.status, status,
        "run ended {:?}: {:?}",
        run.status, run.error
    );
}

/// Node statuses from the final events: the last of succeeded, failed, skipped, cancelled.
pub fn node_outcome(events: &[Event], node: &str) -> &'static str {
    let mut outcome = "pending";
    for e in events {
        if e.node() != Some(node) {
            continue;
        }
        outcome = match e {
            Event::NodeSucceeded { .. } => "succeeded",
            Event::NodeFailed { .. } => "failed",
            Event::NodeSkipped { .. } => "skipped",
            Event::NodeCancelled { .. } => "cancelled",
            _ => outcome,
        };
    }
    outcome
}

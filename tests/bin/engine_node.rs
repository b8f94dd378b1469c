//! A Baton engine in a process of its own, for the crash-recovery scenario:
//! the test kills it with SIGKILL and starts it again on the same database.
//!
//! `engine-node --db URL --plc URL --broker URL --cache DIR [--workflow FILE] [--start N] [--first K]`
//!
//! It installs the test plugins, applies `--workflow` if given, resumes
//! whatever runs the database holds, starts N new runs with inputs
//! `{"n": K}`, `{"n": K + 1}`, ... (printing `started <id>` for each) and then runs until it is killed.
//!
//! After `ready` it reads commands from stdin, one a line:
//! `approve RUN NODE` approves an approval node. Nothing is printed after
//! `ready`, as the test may have stopped reading; refused decisions (the node
//! is not waiting yet, or no longer) are ignored and the test asks again.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use baton_connectors::config::{MqttConfig, PlcConfig};
use baton_connectors::{Connectors, ConnectorsConfig};
use baton_engine::{Engine, EngineConfig, StartOptions};
use baton_runtime::{Runtime, RuntimeConfig};
use baton_store::{Store, StoreOptions};
use tokio::io::AsyncBufReadExt;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut db, mut plc, mut broker, mut cache, mut workflow, mut start) =
        (None, None, None, None, None, 0usize);
    let mut first = 0usize;
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--db" => db = Some(value),
            "--plc" => plc = Some(value),
            "--broker" => broker = Some(value),
            "--cache" => cache = Some(value),
            "--workflow" => workflow = Some(value),
            "--start" => start = value.parse()?,
            "--first" => first = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    let db = db.context("--db is required")?;
    let mut connectors = ConnectorsConfig::default();
    connectors.plc.insert(
        "oven-1".into(),
        PlcConfig::new(plc.context("--plc is required")?),
    );
    connectors.mqtt.insert(
        "plant".into(),
        MqttConfig::new(broker.context("--broker is required")?),
    );
    let connectors = Connectors::from_config(&connectors)?;
    connectors.wait_connected(Duration::from_secs(10)).await;
    let runtime = Runtime::new(
        RuntimeConfig {
            cache_dir: cache.map(Into::into),
            ..RuntimeConfig::default()
        },
        connectors,
    )?;
    let store = Store::open(&db, StoreOptions::default()).await?;
    // Restarted after each kill: a short lease keeps the wait for the
    // killed process to go silent (on PostgreSQL) short.
    let mut config = EngineConfig::default();
    config.cluster.heartbeat = std::time::Duration::from_millis(100);
    config.cluster.lease = std::time::Duration::from_millis(600);
    let engine = Engine::start(store, Arc::new(runtime), config).await?;
    engine
        .add_plugin(&std::fs::read(baton_plugins::test_programs::SCRIPTED)?)
        .await?;
    for name in ["modbus-read", "modbus-write", "http-request"] {
        let plugin = baton_plugins::find(name).context("first-party plugin")?;
        engine.add_plugin(plugin.wasm).await?;
    }
    let mut name = None;
    if let Some(path) = workflow {
        let applied = engine
            .apply_workflow(&std::fs::read_to_string(path)?)
            .await?;
        name = Some(applied.name);
    }
    for n in 0..start {
        let Some(name) = &name else {
            bail!("--start needs --workflow")
        };
        let started = engine
            .start_run(
                name,
                serde_json::json!({"n": first + n}),
                StartOptions::default(),
            )
            .await?;
        println!("started {}", started.run_id);
    }
    println!("ready");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let ["approve", run, node] = line.split_whitespace().collect::<Vec<_>>()[..] {
            let engine = engine.clone();
            let (run, node) = (run.to_string(), node.to_string());
            tokio::spawn(async move {
                let _ = engine
                    .decide_approval(&run, &node, true, "chaos", None)
                    .await;
            });
        }
    }
    std::future::pending::<()>().await;
    Ok(())
}

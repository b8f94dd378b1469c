//! `baton task run`: one attempt of a plugin, exactly as a workflow node would run it.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use baton_grant::Grants;
use baton_runtime::{Attempt, Limits, Runtime, TaskContext, TaskRequest};
use clap::{Args, Subcommand};

use crate::plant::Plant;
use crate::settings::Settings;
use crate::value;

/// `baton task ...`
#[derive(Subcommand)]
pub enum TaskCommand {
    /// Run one attempt of a plugin with the given config, input and grants.
    Run(RunArgs),
}

/// Arguments of `baton task run`.
#[derive(Args)]
pub struct RunArgs {
    /// A `.wasm` component, or the name of a built-in plugin (e.g. `modbus-read`).
    pub plugin: String,
    /// The node's config (JSON or YAML, or `@file`).
    #[arg(long)]
    pub config: Option<String>,
    /// The task's input (JSON or YAML, or `@file`).
    #[arg(long)]
    pub input: Option<String>,
    /// The node's grants, e.g. `{plc: [{device: oven-1, read: ["holding:0-99"]}]}` (or `@file`).
    #[arg(long)]
    pub grants: Option<String>,
    /// Override limits, e.g. `{cpu: 2s, timeout: 5s, memory: 67108864}`.
    #[arg(long)]
    pub limits: Option<String>,
    /// Start a simulated oven PLC named `oven-1` and an embedded MQTT broker named `plant`.
    #[arg(long)]
    pub simulate: bool,
}

/// Run `baton task ...`.
pub async fn run(
    command: TaskCommand,
    settings: anyhow::Result<Settings>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let TaskCommand::Run(args) = command;
    let mut settings = settings?;
    let plant = if args.simulate {
        let plant = Plant::start(Duration::from_millis(200)).await?;
        plant.configure(&mut settings);
        eprintln!(
            "simulated PLC `{}` at {} and MQTT broker `{}` at {}",
            crate::plant::PLC_NAME,
            plant.plc.url(),
            crate::plant::MQTT_NAME,
            plant.broker.url()
        );
        Some(plant)
    } else {
        None
    };
    // Show what the task publishes on the simulated broker, as a subscriber would see it.
    let watcher = match &plant {
        Some(plant) => Some(plant.print_messages().await?),
        None => None,
    };
    let config = value::json(args.config.as_deref(), "--config")?;
    let input = value::json(args.input.as_deref(), "--input")?;
    let grants: Grants = match &args.grants {
        Some(g) => value::parse(g, "--grants")?,
        None => Grants::default(),
    };
    if let Some(problem) = grants.problems().first() {
        anyhow::bail!("--grants: {problem}");
    }
    let limits = match &args.limits {
        Some(l) => override_limits(settings.runtime.defaults, value::parse(l, "--limits")?)?,
        None => settings.runtime.defaults,
    };

    settings.use_local_cache();
    let connectors = baton_connectors::Connectors::from_config(&settings.connectors())?;
    connectors.wait_connected(Duration::from_secs(5)).await;
    let runtime = Runtime::new(settings.runtime.clone(), connectors)?;
    let bytes = read_plugin(&args.plugin)?;
    let plugin = runtime
        .load(&bytes)
        .await
        .with_context(|| format!("loading {}", args.plugin))?;
    eprintln!(
        "running {}@{} ({} bytes{})",
        plugin.info.name,
        plugin.info.version,
        plugin.size,
        plugin
            .compile_time
            .map(|t| format!(", compiled in {} ms", t.as_millis()))
            .unwrap_or_else(|| ", from cache".into())
    );
    let request = TaskRequest {
        context: TaskContext::new("local", plugin.info.name.clone(), 1),
        config,
        input,
        grants: Arc::new(grants),
        limits,
        act_until: None,
    };
    let attempt = runtime.run(&plugin, request).await;
    if let Some(watcher) = watcher {
        // Let the last messages arrive before the broker goes away with the process.
        tokio::time::sleep(Duration::from_millis(200)).await;
        watcher.abort();
    }
    report(&attempt, json)?;
    Ok(if attempt.result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `defaults` with the fields given in `overrides` replaced, so that
/// `--limits '{cpu: 2s}'` keeps the memory limit from `baton.toml`.
fn override_limits(defaults: Limits, overrides: serde_json::Value) -> anyhow::Result<Limits> {
    let mut merged = serde_json::to_value(defaults)?;
    let (Some(fields), serde_json::Value::Object(overrides)) = (merged.as_object_mut(), overrides)
    else {
        anyhow::bail!("--limits must be a map such as `{{cpu: 2s, memory: 67108864}}`");
    };
    fields.extend(overrides);
    serde_json::from_value(merged).context("--limits")
}

/// The bytes of a `.wasm` file, or of the built-in plugin with that name.
pub fn read_plugin(plugin: &str) -> anyhow::Result<Vec<u8>> {
    let path = std::path::Path::new(plugin);
    if path.exists() {
        return std::fs::read(path).with_context(|| format!("reading {plugin}"));
    }
    match baton_plugins::find(plugin) {
        Some(p) => Ok(p.wasm.to_vec()),
        None => {
            let names: Vec<&str> = baton_plugins::FIRST_PARTY.iter().map(|p| p.name).collect();
            anyhow::bail!(
                "`{plugin}` is neither a file nor a built-in plugin (built-in: {})",
                names.join(", ")
            )
        }
    }
}

fn report(attempt: &Attempt, json: bool) -> anyhow::Result<()> {
    if json {
        let output = match &attempt.result {
            Ok(text) => serde_json::from_str(text)?,
            Err(_) => serde_json::Value::Null,
        };
        let failure = attempt.result.as_ref().err().map(
            |f| serde_json::json!({ "message": f.to_string(), "retryable": f.is_retryable() }),
        );
        let doc = serde_json::json!({
            "output": output,
            "error": failure,
            "logs": attempt.logs,
            "dropped_logs": attempt.dropped_logs,
            "denials": attempt.denials,
            "duration_ms": attempt.duration.as_secs_f64() * 1000.0,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    for line in &attempt.logs {
        eprintln!("[{:?}] {}", line.level, line.message);
    }
    match &attempt.result {
        Ok(text) => {
            let value: serde_json::Value = serde_json::from_str(text)?;
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        Err(failure) => {
            let kind = if failure.is_retryable() {
                "retryable"
            } else {
                "not retryable"
            };
            eprintln!("{failure} [{kind}]");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_overrides_keep_the_other_defaults() {
        let defaults = Limits {
            memory: 1 << 20,
            ..Limits::default()
        };
        let limits = override_limits(defaults, serde_json::json!({"cpu": "2s"})).unwrap();
        assert_eq!(limits.cpu, Duration::from_secs(2));
        assert_eq!(limits.memory, 1 << 20);
        let e = override_limits(defaults, serde_json::json!({"cpus": "2s"})).unwrap_err();
        assert!(format!("{e:#}").contains("unknown field `cpus`"), "{e:#}");
        assert!(override_limits(defaults, serde_json::json!(5)).is_err());
    }
}

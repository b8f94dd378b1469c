//! `baton plugin inspect`: what a component declares, checked as an upload would be.

use std::process::ExitCode;

use anyhow::Context as _;
use baton_runtime::Runtime;
use clap::Subcommand;

use crate::settings::Settings;

/// `baton plugin ...`
#[derive(Subcommand)]
pub enum PluginCommand {
    /// Check a component and print its name, version, imports and config schema.
    Inspect {
        /// A `.wasm` component, or the name of a built-in plugin.
        plugin: String,
    },
}

/// Run `baton plugin ...`.
pub async fn run(
    command: PluginCommand,
    config_file: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let PluginCommand::Inspect { plugin } = command;
    let settings = Settings::load(config_file)?;
    let runtime = Runtime::new(settings.runtime, baton_connectors::Connectors::default())?;
    let bytes = super::task::read_plugin(&plugin)?;
    let loaded = match runtime.load(&bytes).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{plugin}: rejected: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let schema = match &loaded.info.config_schema {
        Some(s) => serde_json::from_str(s).context("config schema")?,
        None => serde_json::Value::Null,
    };
    let doc = serde_json::json!({
        "name": loaded.info.name,
        "version": loaded.info.version,
        "description": loaded.info.description,
        "digest": loaded.digest,
        "size": loaded.size,
        "compile_ms": loaded.compile_time.map(|t| t.as_millis() as u64),
        "imports": loaded.imports,
        "config_schema": schema,
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(ExitCode::SUCCESS)
}

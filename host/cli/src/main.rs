//! `baton`: the Baton command line.
//!
//! # Layout
//! - `cmd::task`: `baton task run`, one task attempt without a workflow.
//! - `cmd::serve`: `baton serve`, the engine behind the HTTP API.
//! - `cmd::workflow`: `baton workflow run`, one run of a workflow on a local engine.
//! - `cmd::plugin`: `baton plugin new|inspect`: start a plugin project, check a component.
//! - `cmd::demo`: `baton demo`, a tour on a simulated oven.
//! - `settings`: `baton.toml`.
//! - `templates`: plugin project templates for `baton plugin new`.
//! - `value`: JSON or YAML given inline or as `@file`.
//! - `plant`: the simulated PLC and embedded broker used by `demo` and `--simulate`.

mod cmd;
mod plant;
mod settings;
mod templates;
mod value;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Baton: process orchestration for industrial sites, with tasks as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(name = "baton", version, about)]
struct Cli {
    /// Host configuration (named PLC devices, MQTT brokers, runtime limits).
    #[arg(long, global = true, env = "BATON_CONFIG", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, env = "BATON_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run task plugins locally.
    #[command(subcommand)]
    Task(cmd::task::TaskCommand),
    /// Inspect plugin components.
    #[command(subcommand)]
    Plugin(cmd::plugin::PluginCommand),
    /// Serve the HTTP API and run workflows.
    Serve(cmd::serve::ServeArgs),
    /// Run workflows locally.
    #[command(subcommand)]
    Workflow(cmd::workflow::WorkflowCommand),
    /// Run a short tour against a simulated oven PLC and an embedded MQTT broker.
    Demo(cmd::demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's own output tells the story; keep library warnings (such as
    // the denial it provokes on purpose) out of it unless asked for.
    let quiet = matches!(cli.command, Command::Demo(_));
    init_tracing(cli.log_json, if quiet { "error" } else { "warn" });
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Task(c) => cmd::task::run(c, cli.config_file.as_deref()).await,
            Command::Plugin(c) => cmd::plugin::run(c, cli.config_file.as_deref()).await,
            Command::Serve(args) => cmd::serve::run(args, cli.config_file.as_deref()).await,
            Command::Workflow(c) => cmd::workflow::run(c, cli.config_file.as_deref()).await,
            Command::Demo(args) => cmd::demo::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(json: bool, default_level: &str) {
    // rumqttd (the embedded broker) logs every probe connection as an error.
    let filter = tracing_subscriber::EnvFilter::try_from_env("BATON_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default_level},rumqttd=off"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

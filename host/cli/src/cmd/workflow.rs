//! `baton workflow run`: one run of a workflow on a local engine, with its
//! events printed as they happen. The HTTP server runs the same engine.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use baton_engine::{Error as EngineError, Event, StartOptions};
use baton_store::RunStatus;
use clap::{Args, Subcommand};

use crate::plant::Plant;
use crate::settings::Settings;
use crate::value;

/// `baton workflow ...`
#[derive(Subcommand)]
pub enum WorkflowCommand {
    /// Validate a workflow and run it once on a local engine.
    Run(RunArgs),
}

/// Arguments of `baton workflow run`.
#[derive(Args)]
pub struct RunArgs {
    /// The workflow definition (YAML or JSON).
    pub file: std::path::PathBuf,
    /// The run input (JSON or YAML, or `@file`).
    #[arg(long)]
    pub input: Option<String>,
    /// Install this plugin component too (repeatable); the built-in plugins are always installed.
    #[arg(long = "plugin", value_name = "WASM")]
    pub plugins: Vec<std::path::PathBuf>,
    /// Start a simulated oven PLC named `oven-1` and an embedded MQTT broker named `plant`.
    #[arg(long)]
    pub simulate: bool,
    /// Approve every approval node as soon as it waits.
    #[arg(long)]
    pub approve: bool,
    /// Keep the run in this database (e.g. `sqlite://baton.db`) instead of a temporary one.
    #[arg(long)]
    pub db: Option<String>,
    /// Print the finished run, its executions and events as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Run `baton workflow ...`.
pub async fn run(
    command: WorkflowCommand,
    config_file: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let WorkflowCommand::Run(args) = command;
    let mut settings = Settings::load(config_file)?;
    let plant = match args.simulate {
        true => {
            let plant = Plant::start(Duration::from_millis(200)).await?;
            plant.configure(&mut settings);
            Some(plant)
        }
        false => None,
    };
    let watcher = match &plant {
        Some(plant) => Some(plant.print_messages().await?),
        None => None,
    };
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let input: serde_json::Value = match &args.input {
        Some(i) => value::parse(i, "--input")?,
        None => serde_json::json!({}),
    };

    // Unless `--db` says otherwise, the run lives in a temporary directory.
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    settings.server.data_dir = temp.path().to_path_buf();
    if args.db.is_some() {
        settings.server.database = args.db.clone();
    }
    let engine = super::serve::start_engine(&mut settings).await?;
    for path in &args.plugins {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let record = engine
            .add_plugin(&bytes)
            .await
            .with_context(|| format!("installing {}", path.display()))?;
        eprintln!("installed {}@{}", record.name, record.version);
    }
    let applied = match engine.apply_workflow(&text).await {
        Ok(applied) => applied,
        Err(EngineError::Invalid(problems)) => {
            eprintln!("{} is invalid:", args.file.display());
            for problem in &problems.0 {
                eprintln!("  {problem}");
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e).with_context(|| format!("applying {}", args.file.display())),
    };

    let mut events = engine.store().subscribe();
    let started = engine
        .start_run(&applied.name, input, StartOptions::default())
        .await?;
    let id = started.run_id;
    eprintln!("run {id} of {} (version {})", applied.name, applied.version);
    let t0 = Instant::now();
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => anyhow::bail!("the engine stopped"),
        };
        if event.run_id.as_deref() != Some(id.as_str()) {
            continue;
        }
        let Ok(event) = serde_json::from_value::<Event>(event.data.clone()) else {
            continue;
        };
        eprintln!("{:>7} ms  {}", t0.elapsed().as_millis(), describe(&event));
        if let Event::NodeWaiting {
            node,
            reason: baton_engine::event::WaitReason::Approval,
            ..
        } = &event
        {
            if args.approve {
                engine
                    .decide_approval(
                        &id,
                        node,
                        true,
                        "cli",
                        Some("approved with --approve".into()),
                    )
                    .await?;
            } else {
                eprintln!(
                    "           `{node}` waits for approval; run with --approve to approve it"
                );
            }
        }
        if matches!(
            event,
            Event::RunSucceeded { .. } | Event::RunFailed { .. } | Event::RunCancelled { .. }
        ) {
            break;
        }
    }
    if let Some(watcher) = watcher {
        tokio::time::sleep(Duration::from_millis(200)).await;
        watcher.abort();
    }
    let run = engine
        .store()
        .run(&id)
        .await?
        .context("the run vanished from the store")?;
    if args.json {
        let doc = serde_json::json!({
            "run": run,
            "executions": engine.store().executions(&id).await?,
            "events": engine.store().all_events(&id).await?,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else if let Some(output) = &run.output {
        println!("{}", serde_json::to_string_pretty(output)?);
    }
    engine.halt();
    Ok(match run.status {
        RunStatus::Succeeded => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// One line for an event.
fn describe(event: &Event) -> String {
    let short = |v: &serde_json::Value| {
        let text = v.to_string();
        if text.len() > 100 {
            format!("{}...", &text[..text.floor_char_boundary(100)])
        } else {
            text
        }
    };
    match event {
        Event::RunStarted { input, .. } => format!("run started with input {}", short(input)),
        Event::NodeStarted {
            node,
            items: Some(items),
            ..
        } => {
            format!("{node}: started, {} items", items.len())
        }
        Event::NodeStarted { node, input, .. } => {
            format!("{node}: started with input {}", short(input))
        }
        Event::AttemptStarted {
            node,
            item,
            attempt,
            resumed,
            phase,
        } => format!(
            "{node}{}: {}attempt {attempt}{}",
            item.map(|i| format!("[{i}]")).unwrap_or_default(),
            if *phase == baton_store::Phase::Compensate {
                "compensation "
            } else {
                ""
            },
            if *resumed { " (resumed)" } else { "" }
        ),
        Event::AttemptSucceeded {
            node,
            item,
            output,
            duration_ms,
            denials,
            ..
        } => format!(
            "{node}{}: attempt succeeded in {duration_ms} ms: {}{}",
            item.map(|i| format!("[{i}]")).unwrap_or_default(),
            short(output),
            if denials.is_empty() {
                String::new()
            } else {
                format!(" (denied: {})", denials.join("; "))
            }
        ),
        Event::AttemptFailed {
            node,
            item,
            attempt,
            error,
            retry_in_ms,
            ..
        } => format!(
            "{node}{}: attempt {attempt} failed: {error}{}",
            item.map(|i| format!("[{i}]")).unwrap_or_default(),
            retry_in_ms
                .map(|ms| format!("; retrying in {ms} ms"))
                .unwrap_or_default()
        ),
        Event::NodeWaiting { node, reason, .. } => {
            format!("{node}: waiting ({reason:?})").to_lowercase()
        }
        Event::NodeApproved { node, comment } => {
            format!(
                "{node}: approved{}",
                comment
                    .as_ref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            )
        }
        Event::NodeRejected { node, comment } => {
            format!(
                "{node}: rejected{}",
                comment
                    .as_ref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            )
        }
        Event::NodeTimedOut { node, outcome } => {
            format!("{node}: timed out ({outcome:?})").to_lowercase()
        }
        Event::NodeSucceeded { node, .. } => format!("{node}: succeeded"),
        Event::NodeFailed { node, error } => format!("{node}: FAILED: {error}"),
        Event::NodeSkipped { node, reason } => format!("{node}: skipped ({reason})"),
        Event::NodeCancelled { node } => format!("{node}: cancelled"),
        Event::RunStopping { reason, .. } => format!("run stopping: {reason}"),
        Event::CompensationStarted { node, .. } => format!("{node}: compensating"),
        Event::CompensationSucceeded { node, .. } => format!("{node}: compensated"),
        Event::CompensationFailed { node, error } => {
            format!("{node}: compensation FAILED: {error}")
        }
        Event::RunSucceeded { .. } => "run succeeded".into(),
        Event::RunFailed { error } => format!("run FAILED: {error}"),
        Event::RunCancelled { reason } => format!("run cancelled: {reason}"),
    }
}

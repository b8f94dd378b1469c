//! `baton workflow run`: one run of a workflow on a local engine, with its
//! events printed as they happen. The HTTP server runs the same engine.
//! `baton workflow apply|validate|list|show`: workflows on a server.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use baton_engine::{Error as EngineError, Event, StartOptions};
use baton_store::RunStatus;
use clap::{Args, Subcommand};

use crate::client::{Client, Remote, segment};
use crate::describe;
use crate::plant::Plant;
use crate::settings::Settings;
use crate::table;
use crate::value;

/// `baton workflow ...`
#[derive(Subcommand)]
pub enum WorkflowCommand {
    /// Validate a workflow and run it once on a local engine.
    Run(RunArgs),
    /// Validate a workflow on the server and store it as a new version.
    Apply {
        /// The workflow definition (YAML or JSON).
        file: std::path::PathBuf,
    },
    /// Validate a workflow on the server without storing it.
    Validate {
        /// The workflow definition (YAML or JSON).
        file: std::path::PathBuf,
    },
    /// List the server's workflows (newest version of each).
    List,
    /// Show a workflow's newest definition and its versions.
    Show {
        /// The workflow's name.
        name: String,
    },
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
}

/// Run `baton workflow ...`.
pub async fn run(
    command: WorkflowCommand,
    settings: anyhow::Result<Settings>,
    remote: &Remote,
) -> anyhow::Result<ExitCode> {
    let args = match command {
        WorkflowCommand::Run(args) => args,
        WorkflowCommand::Apply { file } => return send(&file, false, remote).await,
        WorkflowCommand::Validate { file } => return send(&file, true, remote).await,
        WorkflowCommand::List => return list(remote).await,
        WorkflowCommand::Show { name } => return show(&name, remote).await,
    };
    let mut settings = settings?;
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
    settings.use_local_cache();
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
        for line in describe::lines(&event) {
            eprintln!("{:>7} ms  {line}", t0.elapsed().as_millis());
        }
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
    if remote.json {
        let doc = serde_json::json!({
            "run": run,
            "executions": engine.executions(&id).await?,
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

/// Apply (`validate_only` false) or validate a workflow file on the server.
async fn send(
    file: &std::path::Path,
    validate_only: bool,
    remote: &Remote,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    // The URL names the workflow; the server checks it against the body.
    // Parsed within the default limits, so that a hostile file cannot make
    // the command itself expand it without bound.
    let name = baton_workflow::Workflow::parse(&text)
        .map(|w| w.name)
        .with_context(|| format!("{} is not a workflow", file.display()))?;
    let (method, path) = match validate_only {
        true => (
            hyper::Method::POST,
            format!("/api/v1/workflows/{}/validate", segment(&name)),
        ),
        false => (
            hyper::Method::PUT,
            format!("/api/v1/workflows/{}", segment(&name)),
        ),
    };
    let answer = client
        .call(
            method,
            &path,
            &[("content-type", "application/yaml")],
            text.into_bytes(),
        )
        .await;
    let answer = match answer {
        Ok((_, answer)) => answer,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    if remote.json {
        println!("{answer}");
    } else if validate_only {
        println!("{name} is valid");
    } else {
        println!("applied {name} as version {}", answer["version"]);
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(remote: &Remote) -> anyhow::Result<ExitCode> {
    let answer = Client::new(remote)?.get("/api/v1/workflows").await?;
    if remote.json {
        println!("{answer}");
        return Ok(ExitCode::SUCCESS);
    }
    let rows = table::rows(&answer["workflows"], |w| {
        vec![
            table::cell(&w["name"]),
            table::cell(&w["version"]),
            table::time(&w["created_at"]),
            table::cell(&w["description"]),
        ]
    });
    table::print(&["NAME", "VERSION", "APPLIED", "DESCRIPTION"], &rows);
    Ok(ExitCode::SUCCESS)
}

async fn show(name: &str, remote: &Remote) -> anyhow::Result<ExitCode> {
    let answer = Client::new(remote)?
        .get(&format!("/api/v1/workflows/{}", segment(name)))
        .await?;
    if remote.json {
        println!("{answer}");
        return Ok(ExitCode::SUCCESS);
    }
    let versions: Vec<String> = answer["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| table::cell(&v["version"]))
        .collect();
    println!(
        "{name} version {} (versions: {})",
        answer["version"],
        versions.join(", ")
    );
    println!("{}", serde_yaml_ng::to_string(&answer["definition"])?);
    Ok(ExitCode::SUCCESS)
}

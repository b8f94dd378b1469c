//! `baton plugin new|inspect`: start a project, check a component locally;
//! `baton plugin push|list`: upload to and list a server's plugins.

use std::process::ExitCode;

use anyhow::Context as _;
use baton_runtime::Runtime;
use clap::Subcommand;

use crate::client::{Client, Remote};
use crate::settings::Settings;
use crate::templates::{self, Lang};
use crate::{progress, table};

/// `baton plugin ...`
#[derive(Subcommand)]
pub enum PluginCommand {
    /// Create a plugin project from a template.
    New {
        /// Plugin name: lowercase words joined by `-`.
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum)]
        lang: Lang,
        /// Directory to create; defaults to NAME.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Path of Baton's Rust guest SDK (`sdk-guest/`), for Rust projects.
        #[arg(long)]
        sdk: Option<std::path::PathBuf>,
    },
    /// Check a component and print its name, version, imports and config schema.
    Inspect {
        /// A `.wasm` component, or the name of a built-in plugin.
        plugin: String,
    },
    /// Upload a component to the server, which checks and compiles it.
    Push {
        /// The `.wasm` component.
        file: std::path::PathBuf,
    },
    /// List the server's plugins.
    List,
}

/// Run `baton plugin ...`.
pub async fn run(
    command: PluginCommand,
    settings: anyhow::Result<Settings>,
    remote: &Remote,
) -> anyhow::Result<ExitCode> {
    let plugin = match command {
        PluginCommand::Inspect { plugin } => plugin,
        PluginCommand::Push { file } => return push(&file, remote).await,
        PluginCommand::List => return list(remote).await,
        PluginCommand::New {
            name,
            lang,
            dir,
            sdk,
        } => {
            let dir = dir.unwrap_or_else(|| name.clone().into());
            let sdk = sdk.or_else(templates::default_sdk);
            let files = templates::write(lang, &name, &dir, sdk.as_deref())?;
            println!("created {} with {}", dir.display(), files.join(", "));
            let next = match lang {
                Lang::Rust => "cargo test && cargo build --release --target wasm32-wasip2",
                Lang::Python => "pip install -r requirements.txt && ./build.sh",
                Lang::Javascript => "./build.sh",
            };
            println!("next: cd {} && {next}", dir.display());
            return Ok(ExitCode::SUCCESS);
        }
    };
    let settings = settings?;
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

async fn push(file: &std::path::Path, remote: &Remote) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let what = format!(
        "uploading {} ({:.1} MB) and compiling it on the server",
        file.display(),
        bytes.len() as f64 / 1e6
    );
    let call = client.call(
        hyper::Method::POST,
        "/api/v1/plugins",
        &[("content-type", "application/wasm")],
        bytes,
    );
    let (status, answer) = progress::during(&what, call).await?;
    if remote.json {
        println!("{answer}");
        return Ok(ExitCode::SUCCESS);
    }
    let name = format!(
        "{}@{}",
        table::cell(&answer["name"]),
        table::cell(&answer["version"])
    );
    if status == hyper::StatusCode::CREATED {
        println!("pushed {name} ({})", table::cell(&answer["digest"]));
    } else {
        println!("{name} is already on the server with these exact bytes");
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(remote: &Remote) -> anyhow::Result<ExitCode> {
    let answer = Client::new(remote)?.get("/api/v1/plugins").await?;
    if remote.json {
        println!("{answer}");
        return Ok(ExitCode::SUCCESS);
    }
    let rows = table::rows(&answer["plugins"], |p| {
        let digest = table::cell(&p["digest"]);
        vec![
            table::cell(&p["name"]),
            table::cell(&p["version"]),
            digest.chars().take(12).collect(),
            table::cell(&p["size"]),
            table::cell(&p["description"]),
        ]
    });
    table::print(
        &["NAME", "VERSION", "DIGEST", "BYTES", "DESCRIPTION"],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

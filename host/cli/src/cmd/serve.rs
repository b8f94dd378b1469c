//! `baton serve`: the engine and the HTTP API, with state in SQLite (by
//! default) or PostgreSQL.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use baton_api::ApiState;
use baton_api::auth::Bootstrap;
use baton_engine::Engine;
use baton_runtime::Runtime;
use baton_store::{Store, StoreOptions};
use clap::Args;

use crate::settings::Settings;

/// Arguments of `baton serve`; each overrides `baton.toml`'s `[server]`.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. `0.0.0.0:8080`.
    #[arg(long, env = "BATON_LISTEN")]
    pub listen: Option<String>,
    /// Database URL (`sqlite://PATH` or `postgres://USER@HOST/DB`).
    #[arg(long, env = "BATON_DATABASE_URL")]
    pub database: Option<String>,
    /// Directory for the default database and compiled plugin artifacts.
    #[arg(long, env = "BATON_DATA_DIR")]
    pub data_dir: Option<std::path::PathBuf>,
}

/// Run the server until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs, settings: anyhow::Result<Settings>) -> anyhow::Result<ExitCode> {
    let mut settings = settings?;
    if let Some(listen) = args.listen {
        settings.server.listen = listen;
    }
    if let Some(dir) = args.data_dir {
        settings.server.data_dir = dir;
    }
    if let Some(db) = args.database {
        settings.server.database = Some(db);
    }
    // Checked before anything starts, so a bad value is reported at once.
    settings.server.limits()?;
    settings.retention.validate()?;
    // Bound first, so the node registers with the address it serves on.
    let listener = tokio::net::TcpListener::bind(&settings.server.listen)
        .await
        .with_context(|| format!("listening on {}", settings.server.listen))?;
    let addr = listener.local_addr()?;
    if settings.engine.cluster.address.is_none() {
        settings.engine.cluster.address = Some(format!("http://{addr}"));
    }
    let engine = start_engine(&mut settings).await?;
    let given = admin_token_from_env();
    match baton_api::auth::bootstrap(engine.store(), given.as_deref()).await? {
        Bootstrap::Generated(secret) => {
            eprintln!("created the first admin token (shown once, keep it safe):\n\n  {secret}\n")
        }
        Bootstrap::AlreadyHadTokens if given.is_some() => eprintln!(
            "BATON_ADMIN_TOKEN is not installed: it is not a valid token of this database \
             (unknown here, or revoked), and this database has tokens already \
             (manage them with `baton token create|revoke`)"
        ),
        Bootstrap::Revoked => eprintln!(
            "BATON_ADMIN_TOKEN is revoked and was not reactivated: a revoked token is never \
             valid again, and this database has no valid token now; set BATON_ADMIN_TOKEN \
             to a new secret, or unset it to have one made, and restart"
        ),
        Bootstrap::Installed | Bootstrap::AlreadyInstalled | Bootstrap::AlreadyHadTokens => {}
    }
    // One write, whose failure is ignored: a supervisor that stops reading
    // stderr once it knows the address must not take the server down.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "baton listening on http://{addr}\n\
             the console is at http://{addr}/ (sign in with an API token); \
             the API at http://{addr}/api/v1\n"
        )
        .as_bytes(),
    );
    serve_within(listener, engine, &settings.server).await?;
    Ok(ExitCode::SUCCESS)
}

/// Serve the API on `listener` within the `[server]` limits and policy
/// until Ctrl-C or SIGTERM, then stop the engine: nothing more is committed,
/// and its runs are released, to resume from their committed events on
/// another node or at the next start.
pub async fn serve_within(
    listener: tokio::net::TcpListener,
    engine: Engine,
    server: &crate::settings::ServerSettings,
) -> anyhow::Result<()> {
    let state = ApiState {
        limits: server.limits()?,
        interlock_release_role: server.interlock_release_role,
        ..ApiState::new(engine.clone())
    };
    let served = baton_api::serve(listener, state, shutdown_signal()).await;
    // A clean stop gives this node's runs up, for other nodes to take at once.
    engine.stop().await;
    Ok(served?)
}

/// `BATON_ADMIN_TOKEN`, when set and not empty.
pub fn admin_token_from_env() -> Option<String> {
    std::env::var("BATON_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
}

/// Open the store, the runtime and the engine as `settings` say, and start
/// the retention sweep.
pub async fn start_engine(settings: &mut Settings) -> anyhow::Result<Engine> {
    // Checked before anything is opened, so a bad value is reported at once.
    settings.retention.validate()?;
    let dir = &settings.server.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let database = settings
        .server
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("baton.db").display()));
    if settings.runtime.cache_dir.is_none() {
        settings.runtime.cache_dir = Some(dir.join("artifacts"));
    }
    let options = StoreOptions {
        exclusive: true,
        ..StoreOptions::default()
    };
    let store = Store::open(&database, options)
        .await
        .with_context(|| format!("opening {database}"))?;
    let connectors = baton_connectors::Connectors::from_config(&settings.connectors())?;
    connectors.wait_connected(Duration::from_secs(5)).await;
    let runtime = Runtime::new(settings.runtime.clone(), connectors)?;
    let config = baton_engine::EngineConfig {
        secrets: settings.secrets.clone(),
        ..settings.engine.clone()
    };
    let engine = Engine::start(store, Arc::new(runtime), config).await?;
    for plugin in baton_plugins::FIRST_PARTY {
        engine.add_plugin(plugin.wasm).await?;
    }
    engine.spawn_retention(settings.retention.clone());
    Ok(engine)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

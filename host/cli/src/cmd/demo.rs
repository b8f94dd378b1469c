//! `baton demo`: the server on embedded SQLite, with a simulated oven PLC, an
//! embedded MQTT broker, the first-party plugins and the example workflows,
//! and the commands to drive it.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use baton_api::auth::{Role, create_token, install_token};
use clap::Args;

use crate::plant::{MQTT_NAME, PLC_NAME, Plant};
use crate::settings::Settings;

/// Arguments of `baton demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Address for the HTTP API; `127.0.0.1:0` picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Keep the demo's state here instead of in a temporary directory.
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
}

/// The example workflows the demo applies; they use first-party plugins only.
const WORKFLOWS: &[(&str, &str)] = &[(
    "examples/workflows/line1-startup.yaml",
    include_str!("../../../../examples/workflows/line1-startup.yaml"),
)];

/// Run the demo until Ctrl-C.
pub async fn run(args: DemoArgs, settings: anyhow::Result<Settings>) -> anyhow::Result<ExitCode> {
    let mut settings = settings?;
    let plant = Plant::start(Duration::from_millis(200)).await?;
    plant.configure(&mut settings);
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    settings.server.data_dir = args.data_dir.unwrap_or_else(|| temp.path().to_path_buf());
    settings.server.database = None;
    let engine = super::serve::start_engine(&mut settings).await?;
    for (path, text) in WORKFLOWS {
        engine
            .apply_workflow(text)
            .await
            .with_context(|| format!("applying {path}"))?;
    }
    // The token printed below must work, even on a kept --data-dir.
    let token = match super::serve::admin_token_from_env() {
        Some(token) => {
            install_token(engine.store(), "demo", Role::Admin, &token).await?;
            token
        }
        None => create_token(engine.store(), "demo", Role::Admin).await?.1,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| {
            format!(
                "listening on {} (is another server there? try --listen 127.0.0.1:0)",
                args.listen
            )
        })?;
    let server = format!("http://{}", listener.local_addr()?);
    let mqtt = plant.broker.url();
    println!(
        "Baton demo: the console on {server}/ (sign in with the token below) and the
HTTP API on {server}/api/v1, with
  - a simulated oven PLC `{PLC_NAME}` at {plc} (Modbus TCP: holding register 10 is
    the temperature in °C, coil 3 the heater, which makes it rise),
  - an embedded MQTT broker `{MQTT_NAME}` at {mqtt},
  - the first-party plugins, and the workflow `line1-startup` (examples/workflows).

In another terminal:

  export BATON_SERVER={server} BATON_TOKEN={token} BATON_MQTT={mqtt}
  cargo run -- workflow list
  RUN=$(cargo run -- run start line1-startup)
  cargo run -- run watch $RUN --until-waiting
  cargo run -- run approve $RUN approve --comment \"line clear\"
  cargo run -- run watch $RUN
  mosquitto_pub -L $BATON_MQTT/plant/line1/start -m '{{\"batch\": \"B-42\"}}'
  curl -H \"Authorization: Bearer $BATON_TOKEN\" $BATON_SERVER/metrics

The README's tour goes on from here. Messages on the broker show below; Ctrl-C stops the demo.
",
        plc = plant.plc.url(),
    );
    let watcher = plant.print_messages().await?;
    let served = super::serve::serve_within(listener, engine, &settings.server).await;
    watcher.abort();
    served?;
    Ok(ExitCode::SUCCESS)
}

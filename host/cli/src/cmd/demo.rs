//! `baton demo`: the first-party plugins against a simulated oven and a real
//! (embedded) MQTT broker, step by step.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use baton_connectors::Connectors;
use baton_connectors::mqtt::TopicFilter;
use baton_grant::Grants;
use baton_runtime::{Plugin, Runtime, RuntimeConfig, TaskContext, TaskRequest};
use clap::Args;
use serde_json::{Value, json};

use crate::plant::{MQTT_NAME, PLC_NAME, Plant};
use crate::settings::Settings;

/// Arguments of `baton demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// How long the heater stays on, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub heat_ms: u64,
}

const STATUS_TOPIC: &str = "plant/line1/oven/status";

struct Demo {
    runtime: Runtime,
    plugins: Vec<Plugin>,
    step: u32,
}

impl Demo {
    fn plugin(&self, name: &str) -> anyhow::Result<&Plugin> {
        self.plugins
            .iter()
            .find(|p| p.info.name == name)
            .with_context(|| format!("built-in plugin {name} missing"))
    }

    async fn run(
        &mut self,
        plugin: &str,
        config: Value,
        input: Value,
        grants: Value,
    ) -> anyhow::Result<Result<Value, String>> {
        self.step += 1;
        let plugin = self.plugin(plugin)?.clone();
        let grants: Grants = serde_json::from_value(grants)?;
        let request = TaskRequest {
            context: TaskContext::new("demo", format!("step-{}", self.step), 1),
            config: config.to_string(),
            input: input.to_string(),
            grants: Arc::new(grants),
            limits: self.runtime.default_limits(),
        };
        let attempt = self.runtime.run(&plugin, request).await;
        let shown = match &attempt.result {
            Ok(out) => out.clone(),
            Err(f) => format!("FAILED: {f}"),
        };
        println!(
            "  {}. {:<13} {:>6.2} ms  {}",
            self.step,
            plugin.info.name,
            attempt.duration.as_secs_f64() * 1000.0,
            shown
        );
        Ok(match attempt.result {
            Ok(text) => Ok(serde_json::from_str(&text)?),
            Err(f) => Err(f.to_string()),
        })
    }
}

/// Run the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    println!(
        "Baton demo: first-party plugins against a simulated oven PLC and an embedded MQTT broker\n"
    );
    let plant = Plant::start(Duration::from_millis(100)).await?;
    let mut settings = Settings::default();
    plant.configure(&mut settings);
    println!(
        "  simulated PLC `{PLC_NAME}` on {}   (temperature: holding 10, heater: coil 3)",
        plant.plc.url()
    );
    println!("  MQTT broker `{MQTT_NAME}` on {}\n", plant.broker.url());

    let connectors = Connectors::from_config(&settings.connectors())?;
    if !connectors.wait_connected(Duration::from_secs(5)).await {
        anyhow::bail!("could not connect to the embedded MQTT broker");
    }
    let runtime = Runtime::new(RuntimeConfig::default(), connectors.clone())?;
    let mut plugins = Vec::new();
    for p in baton_plugins::FIRST_PARTY {
        plugins.push(
            runtime
                .load(p.wasm)
                .await
                .with_context(|| format!("loading {}", p.name))?,
        );
    }
    println!(
        "Loaded {} built-in plugins: {}\n",
        plugins.len(),
        plugins
            .iter()
            .map(|p| format!("{}@{}", p.info.name, p.info.version))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut demo = Demo {
        runtime,
        plugins,
        step: 0,
    };

    // Listen on the status topic through the broker before anything is published.
    let listener = connectors
        .mqtt(MQTT_NAME)
        .context("mqtt connection")?
        .clone();
    let filter: TopicFilter = STATUS_TOPIC.parse()?;
    let received =
        tokio::spawn(async move { listener.receive(filter, Duration::from_secs(10)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let read = json!({ "device": PLC_NAME, "kind": "holding", "address": 10 });
    let read_grant = json!({ "plc": [{ "device": PLC_NAME, "read": ["holding:0-99"] }] });
    let heater_grant = json!({ "plc": [{ "device": PLC_NAME, "write": ["coil:3"] }] });

    println!("Steps (plugin, time, output):");
    let before = demo
        .run("modbus-read", read.clone(), Value::Null, read_grant.clone())
        .await?;
    let before = before.map_err(anyhow::Error::msg)?;
    let cold = demo
        .run(
            "transform",
            json!({ "compare": { "value": "/values/0", "op": "lt", "threshold": 180 } }),
            before.clone(),
            json!({}),
        )
        .await?
        .map_err(anyhow::Error::msg)?;
    if cold["result"] == json!(true) {
        demo.run(
            "modbus-write",
            json!({ "device": PLC_NAME, "kind": "coil", "address": 3, "values": [true] }),
            Value::Null,
            heater_grant.clone(),
        )
        .await?
        .map_err(anyhow::Error::msg)?;
        tokio::time::sleep(Duration::from_millis(args.heat_ms)).await;
        demo.run(
            "modbus-write",
            json!({ "device": PLC_NAME, "kind": "coil", "address": 3, "values": [false] }),
            Value::Null,
            heater_grant.clone(),
        )
        .await?
        .map_err(anyhow::Error::msg)?;
    }
    let after = demo
        .run("modbus-read", read, Value::Null, read_grant)
        .await?
        .map_err(anyhow::Error::msg)?;
    let status = json!({ "before": before["values"][0], "after": after["values"][0] });
    demo.run(
        "mqtt-publish",
        json!({ "connection": MQTT_NAME, "topic": STATUS_TOPIC }),
        status,
        json!({ "mqtt": [{ "connection": MQTT_NAME, "publish": ["plant/line1/+/status"] }] }),
    )
    .await?
    .map_err(anyhow::Error::msg)?;

    println!("\nA task outside its grant is refused (coil 4 is not granted):");
    let denied = demo
        .run(
            "modbus-write",
            json!({ "device": PLC_NAME, "kind": "coil", "address": 4, "values": [true] }),
            Value::Null,
            heater_grant,
        )
        .await?;

    let message = received.await.context("listener")??;
    println!();
    match message {
        Some(m) => println!(
            "Subscriber received on {}: {}",
            m.topic,
            String::from_utf8_lossy(&m.payload)
        ),
        None => anyhow::bail!("the status message never arrived at the subscriber"),
    }
    let heated = after["values"][0].as_u64() > before["values"][0].as_u64();
    println!(
        "Oven temperature {} -> {} °C; coil 4 is {}.",
        before["values"][0],
        after["values"][0],
        if plant.plc.oven().memory().coils[4] {
            "ON (unexpected!)"
        } else {
            "still off"
        }
    );
    if !heated || denied.is_ok() {
        anyhow::bail!("the demo did not behave as expected");
    }
    println!(
        "\nTry one yourself:\n  cargo run -- task run modbus-read --simulate \\\n    --config '{{device: oven-1, kind: holding, address: 10}}' \\\n    --grants '{{plc: [{{device: oven-1, read: [\"holding:10\"]}}]}}'"
    );
    Ok(ExitCode::SUCCESS)
}

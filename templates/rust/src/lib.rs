//! {{name}}: a Baton task. Build with `cargo build --release --target wasm32-wasip2`.
use baton_sdk::{Context, Error, Task, log, mqtt, plc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The node's `config`.
#[derive(Deserialize)]
pub struct Config {
    device: String,
    address: u16,
    /// When set, the value is also published here, on `connection`.
    topic: Option<String>,
    #[serde(default = "plant")]
    connection: String,
}

fn plant() -> String {
    "plant".into()
}

/// What later nodes see as `nodes.<id>.output`.
#[derive(Serialize)]
pub struct Output {
    value: u16,
}

pub struct Plugin;

impl Task for Plugin {
    const NAME: &'static str = "{{name}}";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Reads one holding register and, with `topic`, publishes it.";
    const CONFIG_SCHEMA: Option<&'static str> = Some(
        r#"{"type": "object", "required": ["device", "address"], "properties": {"device": {"type": "string"}, "address": {"type": "integer", "minimum": 0, "maximum": 65535}, "connection": {"type": "string"}, "topic": {"type": "string"}}}"#,
    );
    type Config = Config;
    type Input = Value;
    type Output = Output;

    fn run(ctx: &Context, config: Config, _input: Value) -> Result<Output, Error> {
        // `?` turns an offline device into a retryable error and a denial into a fatal one.
        let value = plc::read_holding_registers(&config.device, config.address, 1)?[0];
        log::info(&format!("{}: read {value}", ctx.node_id));
        let output = Output { value };
        if let Some(topic) = &config.topic {
            mqtt::publish_json(&config.connection, topic, &output)?;
        }
        Ok(output)
    }
}

baton_sdk::export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::testing::Host;
    use serde_json::json;

    #[test]
    fn reads_the_register() {
        let host = Host::new();
        host.device("oven-1").holding(10, 172);
        let out = host.run::<Plugin>(json!({"device": "oven-1", "address": 10}), Value::Null).unwrap();
        assert_eq!(out, json!({"value": 172}));
        assert!(host.published().is_empty());
    }

    #[test]
    fn publishes_when_given_a_topic() {
        let host = Host::new();
        host.device("oven-1").holding(10, 172);
        let config = json!({"device": "oven-1", "address": 10, "topic": "plant/demo"});
        host.run::<Plugin>(config, Value::Null).unwrap();
        assert_eq!(host.published()[0].topic, "plant/demo");
        assert_eq!(host.published()[0].payload, br#"{"value":172}"#);
    }
}

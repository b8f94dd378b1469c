//! `mqtt-publish`: publish JSON to an MQTT topic.
//!
//! Config: `{ "connection": "plant", "topic": "plant/line1/oven/status", "qos": 1, "retain": false }`,
//! plus an optional fixed `payload`; without it the task publishes its input.
//! Output: `{ "topic": "...", "bytes": 42 }`.

use baton_sdk::mqtt::{self, Qos};
use baton_sdk::{Context, Error, Task};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    connection: String,
    topic: String,
    #[serde(default = "at_least_once")]
    qos: u8,
    #[serde(default)]
    retain: bool,
    payload: Option<Value>,
}

fn at_least_once() -> u8 {
    1
}

#[derive(Serialize)]
pub struct Output {
    topic: String,
    bytes: usize,
}

pub struct MqttPublish;

impl Task for MqttPublish {
    const NAME: &'static str = "mqtt-publish";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Publishes the input (or a fixed payload) as JSON to an MQTT topic.";
    const CONFIG_SCHEMA: Option<&'static str> = Some(include_str!("schema.json"));
    type Config = Config;
    type Input = Value;
    type Output = Output;

    fn run(_ctx: &Context, c: Config, input: Value) -> Result<Output, Error> {
        let qos = match c.qos {
            0 => Qos::AtMostOnce,
            1 => Qos::AtLeastOnce,
            2 => Qos::ExactlyOnce,
            n => return Err(Error::fatal(format!("qos must be 0, 1 or 2, not {n}"))),
        };
        let payload = serde_json::to_vec(c.payload.as_ref().unwrap_or(&input))?;
        mqtt::publish(&c.connection, &c.topic, &payload, qos, c.retain)?;
        Ok(Output {
            topic: c.topic,
            bytes: payload.len(),
        })
    }
}

baton_sdk::export!(MqttPublish);

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::testing::Host;
    use serde_json::json;

    #[test]
    fn publishes_input_as_json() {
        let host = Host::new();
        let out = host
            .run::<MqttPublish>(
                json!({"connection": "plant", "topic": "a/b"}),
                json!({"temp": 181}),
            )
            .unwrap();
        assert_eq!(out, json!({"topic": "a/b", "bytes": 12}));
        let published = host.published();
        assert_eq!(published[0].topic, "a/b");
        assert_eq!(published[0].payload, br#"{"temp":181}"#);
    }

    #[test]
    fn denied_connection_is_fatal() {
        let host = Host::new();
        host.deny("plant");
        let err = host
            .run::<MqttPublish>(json!({"connection": "plant", "topic": "a/b"}), json!(1))
            .unwrap_err();
        assert!(matches!(err, Error::Fatal(m) if m.contains("denied")));
    }
}

//! `modbus-read`: read registers, coils or inputs from a PLC.
//!
//! Config: `{ "device": "oven-1", "kind": "holding", "address": 10, "count": 1 }`.
//! Output: `{ "values": [172] }` (numbers for registers, booleans for bits).

use baton_sdk::{Context, Error, Task, plc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    device: String,
    kind: Kind,
    address: u16,
    #[serde(default = "one")]
    count: u16,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Holding,
    Input,
    Coil,
    Discrete,
}

#[derive(Serialize)]
pub struct Output {
    values: Vec<Value>,
}

fn one() -> u16 {
    1
}

pub struct ModbusRead;

impl Task for ModbusRead {
    const NAME: &'static str = "modbus-read";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Reads holding/input registers, coils or discrete inputs from a PLC.";
    const CONFIG_SCHEMA: Option<&'static str> = Some(include_str!("schema.json"));
    type Config = Config;
    type Input = Value;
    type Output = Output;

    fn run(_ctx: &Context, c: Config, _input: Value) -> Result<Output, Error> {
        let (d, a, n) = (c.device.as_str(), c.address, c.count);
        let values = match c.kind {
            Kind::Holding => plc::read_holding_registers(d, a, n)?
                .into_iter()
                .map(Value::from)
                .collect(),
            Kind::Input => plc::read_input_registers(d, a, n)?
                .into_iter()
                .map(Value::from)
                .collect(),
            Kind::Coil => plc::read_coils(d, a, n)?
                .into_iter()
                .map(Value::from)
                .collect(),
            Kind::Discrete => plc::read_discrete_inputs(d, a, n)?
                .into_iter()
                .map(Value::from)
                .collect(),
        };
        Ok(Output { values })
    }
}

baton_sdk::export!(ModbusRead);

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::testing::Host;
    use serde_json::json;

    #[test]
    fn reads_registers_and_coils() {
        let host = Host::new();
        host.device("oven-1")
            .holding(10, 172)
            .holding(11, 180)
            .coil(3, true);
        let out = host
            .run::<ModbusRead>(
                json!({"device": "oven-1", "kind": "holding", "address": 10, "count": 2}),
                json!(null),
            )
            .unwrap();
        assert_eq!(out, json!({"values": [172, 180]}));
        let out = host
            .run::<ModbusRead>(
                json!({"device": "oven-1", "kind": "coil", "address": 3}),
                json!(null),
            )
            .unwrap();
        assert_eq!(out, json!({"values": [true]}));
    }

    #[test]
    fn offline_device_is_retryable_and_denial_is_fatal() {
        let host = Host::new();
        host.device("oven-1").offline();
        let config = json!({"device": "oven-1", "kind": "input", "address": 0});
        assert!(matches!(
            host.run::<ModbusRead>(config.clone(), json!(null)),
            Err(Error::Retryable(_))
        ));
        host.deny("oven-1");
        assert!(
            matches!(host.run::<ModbusRead>(config, json!(null)), Err(Error::Fatal(m)) if m.contains("denied"))
        );
    }

    #[test]
    fn bad_config_names_the_field() {
        let err = Host::new()
            .run::<ModbusRead>(json!({"device": "oven-1", "kind": "holding"}), json!(null))
            .unwrap_err();
        assert!(err.message().contains("missing field `address`"), "{err}");
    }
}

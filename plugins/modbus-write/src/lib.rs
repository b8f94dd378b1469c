//! `modbus-write`: write holding registers or coils on a PLC.
//!
//! Config: `{ "device": "oven-1", "kind": "coil", "address": 3, "values": [true] }`.
//! Without `values` in the config, the task writes `input.values`.
//! Output: `{ "written": 1 }`.

use baton_sdk::{Context, Error, Task, plc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    device: String,
    kind: Kind,
    address: u16,
    values: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Holding,
    Coil,
}

#[derive(Serialize)]
pub struct Output {
    written: usize,
}

pub struct ModbusWrite;

impl Task for ModbusWrite {
    const NAME: &'static str = "modbus-write";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Writes holding registers or coils on a PLC.";
    const CONFIG_SCHEMA: Option<&'static str> = Some(include_str!("schema.json"));
    type Config = Config;
    type Input = Value;
    type Output = Output;

    fn run(_ctx: &Context, c: Config, input: Value) -> Result<Output, Error> {
        let values = match c.values {
            Some(v) => v,
            None => serde_json::from_value(input["values"].clone()).map_err(|_| {
                Error::fatal("no `values` in config, and input has no `values` list")
            })?,
        };
        match c.kind {
            Kind::Holding => {
                let words = values
                    .iter()
                    .map(|v| v.as_u64().and_then(|n| u16::try_from(n).ok()))
                    .collect::<Option<Vec<u16>>>()
                    .ok_or_else(|| {
                        Error::fatal("register values must be integers from 0 to 65535")
                    })?;
                plc::write_registers(&c.device, c.address, &words)?;
            }
            Kind::Coil => {
                let bits = values
                    .iter()
                    .map(Value::as_bool)
                    .collect::<Option<Vec<bool>>>()
                    .ok_or_else(|| Error::fatal("coil values must be true or false"))?;
                plc::write_coils(&c.device, c.address, &bits)?;
            }
        }
        Ok(Output {
            written: values.len(),
        })
    }
}

baton_sdk::export!(ModbusWrite);

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::testing::Host;
    use serde_json::json;

    #[test]
    fn writes_config_values_or_input_values() {
        let host = Host::new();
        host.device("oven-1");
        let out = host
            .run::<ModbusWrite>(
                json!({"device": "oven-1", "kind": "coil", "address": 3, "values": [true]}),
                json!(null),
            )
            .unwrap();
        assert_eq!(out, json!({"written": 1}));
        assert_eq!(host.coil("oven-1", 3), Some(true));
        host.run::<ModbusWrite>(
            json!({"device": "oven-1", "kind": "holding", "address": 11}),
            json!({"values": [200]}),
        )
        .unwrap();
        assert_eq!(host.holding("oven-1", 11), Some(200));
    }

    #[test]
    fn rejects_wrongly_typed_values() {
        let host = Host::new();
        host.device("oven-1");
        let err = host
            .run::<ModbusWrite>(
                json!({"device": "oven-1", "kind": "holding", "address": 1, "values": [70000]}),
                json!(null),
            )
            .unwrap_err();
        assert!(err.message().contains("0 to 65535"), "{err}");
    }
}

//! `transform`: reshape JSON, compare a value with a threshold, or check a range.
//! Needs no capabilities.
//!
//! Config is one of (values are picked from the input by JSON Pointer):
//! - `{ "reshape": { "temp": "/values/0", "line": "/meta/line" } }` → `{ "temp": 172, "line": 1 }`
//! - `{ "compare": { "value": "/values/0", "op": "lt", "threshold": 180 } }`
//!   → `{ "result": true, "value": 172, "threshold": 180 }`
//! - `{ "range": { "value": "/values/0", "min": 150, "max": 200 } }`
//!   → `{ "in_range": true, "below": false, "above": false, "value": 172 }`

use std::collections::BTreeMap;

use baton_sdk::{Context, Error, Task};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Config {
    Reshape(BTreeMap<String, String>),
    Compare {
        value: String,
        op: Op,
        threshold: f64,
    },
    Range {
        value: String,
        min: f64,
        max: f64,
    },
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

fn pick<'a>(input: &'a Value, pointer: &str) -> Result<&'a Value, Error> {
    input
        .pointer(pointer)
        .ok_or_else(|| Error::fatal(format!("input has nothing at `{pointer}`")))
}

fn number(input: &Value, pointer: &str) -> Result<f64, Error> {
    pick(input, pointer)?
        .as_f64()
        .ok_or_else(|| Error::fatal(format!("input at `{pointer}` is not a number")))
}

pub struct Transform;

impl Task for Transform {
    const NAME: &'static str = "transform";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Reshapes JSON, or compares a value against a threshold or range.";
    const CONFIG_SCHEMA: Option<&'static str> = Some(include_str!("schema.json"));
    type Config = Config;
    type Input = Value;
    type Output = Value;

    fn run(_ctx: &Context, config: Config, input: Value) -> Result<Value, Error> {
        Ok(match config {
            Config::Reshape(fields) => {
                let mut out = serde_json::Map::new();
                for (name, pointer) in fields {
                    out.insert(name, pick(&input, &pointer)?.clone());
                }
                Value::Object(out)
            }
            Config::Compare {
                value,
                op,
                threshold,
            } => {
                let v = number(&input, &value)?;
                let result = match op {
                    Op::Lt => v < threshold,
                    Op::Le => v <= threshold,
                    Op::Gt => v > threshold,
                    Op::Ge => v >= threshold,
                    Op::Eq => v == threshold,
                    Op::Ne => v != threshold,
                };
                json!({ "result": result, "value": v, "threshold": threshold })
            }
            Config::Range { value, min, max } => {
                let v = number(&input, &value)?;
                json!({ "in_range": (min..=max).contains(&v), "below": v < min, "above": v > max, "value": v })
            }
        })
    }
}

baton_sdk::export!(Transform);

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::testing::Host;

    fn run(config: Value, input: Value) -> Result<Value, Error> {
        Host::new().run::<Transform>(config, input)
    }

    #[test]
    fn reshapes_by_pointer() {
        let out = run(
            json!({"reshape": {"temp": "/values/0"}}),
            json!({"values": [172]}),
        )
        .unwrap();
        assert_eq!(out, json!({"temp": 172}));
    }

    #[test]
    fn compares_and_checks_ranges() {
        let input = json!({"values": [172]});
        let out = run(
            json!({"compare": {"value": "/values/0", "op": "lt", "threshold": 180}}),
            input.clone(),
        )
        .unwrap();
        assert_eq!(out["result"], json!(true));
        let out = run(
            json!({"compare": {"value": "/values/0", "op": "ge", "threshold": 180}}),
            input.clone(),
        )
        .unwrap();
        assert_eq!(out["result"], json!(false));
        let out = run(
            json!({"range": {"value": "/values/0", "min": 175, "max": 200}}),
            input,
        )
        .unwrap();
        assert_eq!(
            (out["in_range"].clone(), out["below"].clone()),
            (json!(false), json!(true))
        );
    }

    #[test]
    fn missing_and_non_numeric_values_are_fatal() {
        let err = run(json!({"reshape": {"t": "/nope"}}), json!({})).unwrap_err();
        assert!(err.message().contains("nothing at `/nope`"));
        let err = run(
            json!({"compare": {"value": "/s", "op": "lt", "threshold": 1}}),
            json!({"s": "x"}),
        )
        .unwrap_err();
        assert!(err.message().contains("not a number"));
    }
}

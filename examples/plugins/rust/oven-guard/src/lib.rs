//! oven-guard: trips the heater off and raises an alarm when an oven runs too hot.
use baton_sdk::{Context, Error, Task, mqtt, plc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct Config {
    device: String,
    max_celsius: u16,
    alarm_topic: String,
}

#[derive(Serialize)]
pub struct Output {
    celsius: u16,
    tripped: bool,
}

pub struct OvenGuard;

impl Task for OvenGuard {
    const NAME: &'static str = "oven-guard";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Switches the heater off and raises an alarm above a temperature limit.";
    type Config = Config;
    type Input = Value;
    type Output = Output;

    fn run(ctx: &Context, c: Config, _input: Value) -> Result<Output, Error> {
        let celsius = plc::read_holding_registers(&c.device, 10, 1)?[0];
        let tripped = celsius > c.max_celsius;
        if tripped {
            plc::write_coils(&c.device, 3, &[false])?;
            let alarm = json!({ "celsius": celsius, "limit": c.max_celsius, "run": ctx.run_id });
            mqtt::publish_json("plant", &c.alarm_topic, &alarm)?;
        }
        Ok(Output { celsius, tripped })
    }
}

baton_sdk::export!(OvenGuard);

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::testing::Host;

    #[test]
    fn trips_above_the_limit() {
        let host = Host::new();
        host.device("oven-1").holding(10, 260).coil(3, true);
        let config = json!({ "device": "oven-1", "max_celsius": 250, "alarm_topic": "plant/line1/oven/alarm" });
        let out = host.run::<OvenGuard>(config, Value::Null).unwrap();
        assert_eq!(out, json!({ "celsius": 260, "tripped": true }));
        assert_eq!(host.coil("oven-1", 3), Some(false));
        assert_eq!(host.published()[0].topic, "plant/line1/oven/alarm");
    }
}

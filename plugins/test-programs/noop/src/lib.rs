//! The smallest possible task: returns its input. Used to measure overhead.
use baton_sdk::{Context, Error, Task};

pub struct Noop;

impl Task for Noop {
    const NAME: &'static str = "noop";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "Returns its input unchanged.";
    type Config = serde_json::Value;
    type Input = serde_json::Value;
    type Output = serde_json::Value;

    fn run(
        _ctx: &Context,
        _config: serde_json::Value,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        Ok(input)
    }
}

baton_sdk::export!(Noop);

//! Behaves as its config scripts, so engine tests can make a node slow, flaky
//! or failing on purpose.
//!
//! Config: `{"sleep_ms": 100, "fail_attempts": 2, "fail": "retryable"}`; every
//! field is optional. Attempts up to `fail_attempts` fail with `fail`
//! (`retryable`, the default, or `fatal`); later ones succeed.
//!
//! Output: `{"node", "attempt", "key", "input", "config"}`, so a test can see
//! which attempt produced it and the idempotency key it was given.
use baton_sdk::{Context, Error, Task};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Config {
    sleep_ms: u64,
    fail_attempts: u32,
    fail: Option<String>,
    tag: Option<Value>,
}

pub struct Scripted;

impl Task for Scripted {
    const NAME: &'static str = "scripted";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "Sleeps, fails or succeeds as its config says.";
    type Config = Config;
    type Input = Value;
    type Output = Value;

    fn run(ctx: &Context, config: Config, input: Value) -> Result<Value, Error> {
        if config.sleep_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(config.sleep_ms));
        }
        if ctx.attempt <= config.fail_attempts {
            let message = format!("scripted failure on attempt {}", ctx.attempt);
            return Err(match config.fail.as_deref() {
                Some("fatal") => Error::fatal(message),
                _ => Error::retryable(message),
            });
        }
        Ok(json!({
            "node": ctx.node_id,
            "attempt": ctx.attempt,
            "key": ctx.idempotency_key,
            "input": input,
            "tag": config.tag,
        }))
    }
}

baton_sdk::export!(Scripted);

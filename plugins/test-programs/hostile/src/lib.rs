//! A task that misbehaves on request, to test the sandbox's bounds.
//!
//! Config `{"mode": ...}`: `spin` loops forever, `memory-bomb` allocates until
//! it cannot, `trap` executes `unreachable`, `panic` panics with the input,
//! `big-output` returns `size` bytes, `log-flood` logs `size` lines,
//! `retryable`/`fatal` fail with the input as message, `echo` returns the input.
use baton_sdk::{Context, Error, Task, log};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
pub struct Config {
    mode: String,
    #[serde(default)]
    size: usize,
}

pub struct Hostile;

impl Task for Hostile {
    const NAME: &'static str = "hostile";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "Misbehaves on request.";
    type Config = Config;
    type Input = Value;
    type Output = Value;

    fn run(ctx: &Context, config: Config, input: Value) -> Result<Value, Error> {
        match config.mode.as_str() {
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => core::arch::wasm32::unreachable(),
            "panic" => panic!("hostile task panicked on purpose: {input}"),
            "big-output" => Ok(Value::String("x".repeat(config.size))),
            "log-flood" => {
                for i in 0..config.size {
                    log::info(&format!("line {i}"));
                }
                Ok(Value::from(config.size))
            }
            "retryable" => Err(Error::retryable(input)),
            "fatal" => Err(Error::fatal(input)),
            "context" => Ok(serde_json::json!({
                "run_id": ctx.run_id, "node_id": ctx.node_id,
                "attempt": ctx.attempt, "idempotency_key": ctx.idempotency_key,
            })),
            _ => Ok(input),
        }
    }
}

baton_sdk::export!(Hostile);

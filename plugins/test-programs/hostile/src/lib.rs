//! A task that misbehaves on request, to test the sandbox's bounds.
//!
//! Config `{"mode": ...}`: `spin` loops forever, `memory-bomb` allocates until
//! it cannot, `trap` executes `unreachable`, `panic` panics with the input,
//! `big-output` returns `size` bytes, `log-flood` logs `size` lines,
//! `log-bytes` logs `size` lines of `width` bytes each, `deny-flood` makes
//! `size` PLC reads it has no grant for, `scratch-fill` writes `size` bytes
//! to `/scratch` in files of `width` bytes (then returns how much it wrote),
//! `retryable`/`fatal` fail with the input as message, `echo` returns the input.
use baton_sdk::{Context, Error, Task, log, plc};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
pub struct Config {
    mode: String,
    #[serde(default)]
    size: usize,
    #[serde(default)]
    width: usize,
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
            "log-bytes" => {
                let line = "x".repeat(config.width);
                for _ in 0..config.size {
                    log::info(&line);
                }
                Ok(Value::from(config.size))
            }
            "deny-flood" => {
                let denied = (0..config.size)
                    .filter(|_| plc::read_holding_registers("oven-1", 0, 1).is_err())
                    .count();
                Ok(Value::from(denied))
            }
            "scratch-fill" => {
                let chunk = vec![7u8; config.width.max(1)];
                let mut written = 0;
                let mut n = 0;
                while written < config.size {
                    let path = format!("/scratch/f{n}");
                    if let Err(e) = std::fs::write(&path, &chunk) {
                        return Err(Error::fatal(format!("{path}: {e}")));
                    }
                    written += chunk.len();
                    n += 1;
                }
                Ok(Value::from(written))
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

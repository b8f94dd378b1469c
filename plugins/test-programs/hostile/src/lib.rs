//! A task that misbehaves on request, to test the sandbox's bounds.
//!
//! Config `{"mode": ...}`: `spin` loops forever, `memory-bomb` allocates until
//! it cannot, `trap` executes `unreachable`, `panic` panics with the input,
//! `big-output` returns `size` bytes, `log-flood` logs `size` lines,
//! `log-bytes` logs `size` lines of `width` bytes each, `deny-flood` makes
//! `size` PLC reads it has no grant for, `scratch-fill` writes `size` bytes
//! to `/scratch` in files of `width` bytes (then returns how much it wrote),
//! `write-loop` writes a rising counter to holding register `size` of
//! `oven-1` until it is stopped, denied or not,
//! `retryable`/`fatal` fail with the input as message, `echo` returns the input.
//! `log-config` logs its `password`, names it in a PLC read it has no grant
//! for, then fails with it in the message when `fail` is set, or else returns
//! `{"echo": password, "len", "fnv"}` (its length and FNV-1a hash), so a
//! test can see the real value arrived without the value being recorded.
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
    #[serde(default)]
    password: String,
    #[serde(default)]
    fail: bool,
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
            "write-loop" => {
                let address = u16::try_from(config.size).unwrap_or(0);
                let mut n: u16 = 0;
                loop {
                    n = n.wrapping_add(1);
                    let _ = plc::write_registers("oven-1", address, &[n]);
                }
            }
            "retryable" => Err(Error::retryable(input)),
            "fatal" => Err(Error::fatal(input)),
            "log-config" => {
                let password = &config.password;
                log::info(&format!("connecting with password {password}"));
                let _ = plc::read_holding_registers(password, 0, 1);
                if config.fail {
                    return Err(Error::fatal(format!("login refused for {password}")));
                }
                Ok(serde_json::json!({
                    "echo": password, "len": password.len(), "fnv": fnv1a(password),
                }))
            }
            "context" => Ok(serde_json::json!({
                "run_id": ctx.run_id, "node_id": ctx.node_id,
                "attempt": ctx.attempt, "idempotency_key": ctx.idempotency_key,
            })),
            _ => Ok(input),
        }
    }
}

/// 64-bit FNV-1a, so the host can check a value without it being output.
fn fnv1a(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

baton_sdk::export!(Hostile);

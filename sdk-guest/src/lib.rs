//! Write [Baton](https://example.invalid/baton) task plugins in Rust.
//!
//! A Baton task is a WebAssembly component of the `baton:plugin/task` world
//! (see `wit/` in the Baton repository). This crate generates the bindings
//! and wraps them so that a whole plugin is a config struct, an output struct
//! and one function:
//!
//! ```ignore
//! use baton_sdk::{Context, Error, Task, plc};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Config { device: String, address: u16 }
//!
//! #[derive(Serialize)]
//! struct Output { celsius: u16 }
//!
//! struct ReadTemperature;
//!
//! impl Task for ReadTemperature {
//!     const NAME: &'static str = "read-temperature";
//!     const VERSION: &'static str = env!("CARGO_PKG_VERSION");
//!     const DESCRIPTION: &'static str = "Reads an oven temperature register.";
//!     type Config = Config;
//!     type Input = serde_json::Value;
//!     type Output = Output;
//!
//!     fn run(_ctx: &Context, config: Config, _input: serde_json::Value) -> Result<Output, Error> {
//!         let values = plc::read_holding_registers(&config.device, config.address, 1)?;
//!         Ok(Output { celsius: values[0] })
//!     }
//! }
//!
//! baton_sdk::export!(ReadTemperature);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` (crate type
//! `cdylib`) and the `.wasm` file is the plugin.
//!
//! # Layout
//! - [`Task`], [`Context`], [`Error`] and [`export!`]: the plugin itself.
//! - [`plc`], [`mqtt`], [`http`], [`log`]: the capabilities, each call checked
//!   by the host against the workflow node's grants.
//! - [`testing`] (native targets only): a fake host for `cargo test`.
//! - [`bindings`]: the raw generated bindings, if you need them.
#![deny(missing_docs)]

extern crate self as baton_sdk;

pub mod bindings;
pub mod http;
pub mod log;
pub mod mqtt;
pub mod plc;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

mod error;
mod task;

pub use error::Error;
pub use task::{Context, Task};

/// Re-exported so that plugins need no direct dependency on them.
pub use serde;
pub use serde_json;

#[doc(hidden)]
pub mod __private {
    pub use crate::task::{describe, run};
    pub use wit_bindgen;
}

/// Export a [`Task`] implementation as the plugin's `describe` and `run`.
///
/// Use it exactly once per plugin crate, at the top level.
#[macro_export]
macro_rules! export {
    ($task:ty) => {
        #[doc(hidden)]
        struct __BatonTaskExport;

        impl $crate::bindings::Guest for __BatonTaskExport {
            fn describe() -> $crate::bindings::PluginInfo {
                $crate::__private::describe::<$task>()
            }

            fn run(
                ctx: $crate::bindings::TaskContext,
                config: ::std::string::String,
                input: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::bindings::TaskError> {
                $crate::__private::run::<$task>(ctx, &config, &input)
            }
        }

        $crate::__export_task_impl!(__BatonTaskExport with_types_in $crate::bindings);
    };
}

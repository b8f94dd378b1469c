//! Host bindings for the `baton:plugin/task` world: generated here and nowhere else.
//!
//! Public only so that benchmarks can drive the same world through raw wasmtime.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "task",
    imports: { default: async },
    exports: { default: async },
    require_store_data_send: true,
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub use baton::plugin::{log, mqtt, plc, types};

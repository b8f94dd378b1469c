//! Instantiate-and-call of one trivial task: Baton's runtime against raw
//! wasmtime (pooling allocator + `InstancePre`, no Baton code) on the same
//! component, so the ratio shows Baton's overhead; then the same echo task in
//! Python and JavaScript, when their components have been built (the
//! whole-system tests build them into `target/guests/`).
//!
//! `cargo bench -p baton-runtime --bench instantiate`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use baton_runtime::bindings::{TaskPre, types};
use baton_runtime::{Limits, Runtime, RuntimeConfig, TaskContext, TaskRequest};
use criterion::{Criterion, criterion_group, criterion_main};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

struct Raw {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Raw {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for Raw {}

fn raw_pre(wasm: &[u8]) -> (Engine, TaskPre<Raw>) {
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(
        PoolingAllocationConfig::default(),
    ));
    let engine = Engine::new(&config).unwrap();
    let mut linker = Linker::<Raw>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    types::add_to_linker::<Raw, HasSelf<Raw>>(&mut linker, |s| s).unwrap();
    let component = Component::new(&engine, wasm).unwrap();
    let pre = TaskPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
    (engine, pre)
}

fn bench(c: &mut Criterion) {
    let wasm = std::fs::read(baton_plugins::test_programs::NOOP).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("instantiate_and_run/noop");

    let (engine, pre) = raw_pre(&wasm);
    let ctx = types::TaskContext {
        run_id: "r".into(),
        node_id: "n".into(),
        attempt: 1,
        idempotency_key: "r/n".into(),
    };
    group.bench_function("raw_wasmtime", |b| {
        b.to_async(&rt).iter(|| async {
            let mut store = Store::new(
                &engine,
                Raw {
                    wasi: WasiCtx::builder().build(),
                    table: ResourceTable::new(),
                },
            );
            let task = pre.instantiate_async(&mut store).await.unwrap();
            let out = task
                .call_run(&mut store, &ctx, "null", "{\"n\":1}")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(out, "{\"n\":1}");
        })
    });

    let runtime = rt.block_on(async {
        Runtime::new(
            RuntimeConfig::default(),
            baton_connectors::Connectors::default(),
        )
        .unwrap()
    });
    let plugin = rt.block_on(runtime.load(&wasm)).unwrap();
    let grants = Arc::new(baton_grant::Grants::default());
    let context = TaskContext::new("r", "n", 1);
    group.bench_function("baton_runtime", |b| {
        b.to_async(&rt).iter(|| async {
            let request = TaskRequest {
                context: context.clone(),
                config: "null".into(),
                input: "{\"n\":1}".into(),
                grants: grants.clone(),
                limits: Limits::default(),
                act_until: None,
            };
            let attempt = runtime.run(&plugin, request).await;
            assert_eq!(attempt.result.as_deref(), Ok("{\"n\":1}"));
        })
    });
    group.finish();

    let mut group = c.benchmark_group("instantiate_and_run/echo_by_language");
    let guests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/guests");
    for (language, path, config) in [
        (
            "rust",
            std::path::PathBuf::from(baton_plugins::test_programs::HOSTILE),
            r#"{"mode":"echo"}"#,
        ),
        (
            "python",
            guests.join("py_hostile.wasm"),
            r#"{"mode":"echo"}"#,
        ),
        (
            "javascript",
            guests.join("js_hostile.wasm"),
            r#"{"mode":"echo"}"#,
        ),
    ] {
        let Ok(wasm) = std::fs::read(&path) else {
            eprintln!(
                "skipping {language}: {} is not built (run `cargo test -p baton-tests`)",
                path.display()
            );
            continue;
        };
        let plugin = rt.block_on(runtime.load(&wasm)).unwrap();
        group.bench_function(language, |b| {
            b.to_async(&rt).iter(|| async {
                let request = TaskRequest {
                    context: context.clone(),
                    config: config.into(),
                    input: "{\"n\":1}".into(),
                    grants: grants.clone(),
                    limits: Limits::default(),
                    act_until: None,
                };
                let attempt = runtime.run(&plugin, request).await;
                assert_eq!(attempt.result.as_deref(), Ok("{\"n\":1}"));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

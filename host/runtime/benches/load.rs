//! Loading a plugin: compiling it, against fetching the compiled artifact from
//! the on-disk cache as a restarted runtime does.
//!
//! `cargo bench -p baton-runtime --bench load`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use baton_runtime::{Runtime, RuntimeConfig};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let wasm = baton_plugins::find("http-request").unwrap().wasm;
    let dir = tempfile::tempdir().unwrap();
    let connectors = baton_connectors::Connectors::default();
    let uncached =
        rt.block_on(async { Runtime::new(RuntimeConfig::default(), connectors.clone()).unwrap() });
    let cached = rt.block_on(async {
        let config = RuntimeConfig {
            cache_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        Runtime::new(config, connectors.clone()).unwrap()
    });
    // Fill the cache once.
    rt.block_on(cached.load(wasm)).unwrap();

    let mut group = c.benchmark_group("load/http-request");
    group.sample_size(20);
    group.bench_function("compile", |b| {
        b.to_async(&rt).iter(|| async {
            let plugin = uncached.load(wasm).await.unwrap();
            assert!(plugin.compile_time.is_some());
        })
    });
    group.bench_function("from_cache", |b| {
        b.to_async(&rt).iter(|| async {
            let plugin = cached.load(wasm).await.unwrap();
            assert!(plugin.compile_time.is_none());
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

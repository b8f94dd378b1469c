//! Compiled artifacts are cached on disk: a restarted runtime loads without recompiling.

use std::time::Instant;

use baton_runtime::{Runtime, RuntimeConfig};

fn runtime(dir: &std::path::Path) -> Runtime {
    let config = RuntimeConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..Default::default()
    };
    Runtime::new(config, baton_connectors::Connectors::default()).unwrap()
}

#[tokio::test]
async fn second_runtime_on_the_same_cache_does_not_recompile() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = baton_plugins::find("http-request").unwrap().wasm;

    let first = Instant::now();
    let cold = runtime(dir.path()).load(bytes).await.unwrap();
    let cold_time = first.elapsed();
    assert!(cold.compile_time.is_some(), "the first load should compile");

    // A new runtime, as after a restart.
    let second = Instant::now();
    let warm = runtime(dir.path()).load(bytes).await.unwrap();
    let warm_time = second.elapsed();
    assert!(warm.compile_time.is_none(), "the second load recompiled");
    assert_eq!(warm.digest, cold.digest);
    assert_eq!(warm.info, cold.info);
    eprintln!(
        "load http-request: cold {cold_time:?} (compile {:?}), warm from cache {warm_time:?}",
        cold.compile_time.unwrap()
    );
}

#[tokio::test]
async fn a_corrupt_artifact_is_discarded_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = baton_plugins::find("transform").unwrap().wasm;
    runtime(dir.path()).load(bytes).await.unwrap();
    let artifact = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&artifact, b"not an artifact").unwrap();
    let reloaded = runtime(dir.path()).load(bytes).await.unwrap();
    assert!(
        reloaded.compile_time.is_some(),
        "a corrupt artifact must not be used"
    );
    let again = runtime(dir.path()).load(bytes).await.unwrap();
    assert!(
        again.compile_time.is_none(),
        "the rebuilt artifact was not cached"
    );
}

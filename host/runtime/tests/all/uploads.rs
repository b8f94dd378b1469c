//! Bad uploads each get a specific error.

use baton_plugins::test_programs;
use baton_runtime::{Error, Runtime, RuntimeConfig};

fn runtime() -> Runtime {
    Runtime::new(
        RuntimeConfig::default(),
        baton_connectors::Connectors::default(),
    )
    .unwrap()
}

#[tokio::test]
async fn empty_file() {
    assert!(matches!(runtime().load(b"").await, Err(Error::Empty)));
}

#[tokio::test]
async fn garbage_bytes() {
    let e = runtime().load(b"#!/bin/sh\nrm -rf /\n").await.unwrap_err();
    assert!(matches!(e, Error::NotWasm), "{e}");
    assert!(e.to_string().contains("not a WebAssembly binary"));
}

#[tokio::test]
async fn core_module() {
    let module = wat::parse_str("(module (func (export \"run\")))").unwrap();
    let e = runtime().load(&module).await.unwrap_err();
    assert!(matches!(e, Error::CoreModule), "{e}");
    assert!(e.to_string().contains("wasm32-wasip2"), "{e}");
}

#[tokio::test]
async fn truncated_component() {
    let bytes = baton_plugins::find("transform").unwrap().wasm;
    let e = runtime().load(&bytes[..bytes.len() / 2]).await.unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
}

#[tokio::test]
async fn component_of_another_world() {
    let bytes = std::fs::read(test_programs::COMMAND).unwrap();
    let e = runtime().load(&bytes).await.unwrap_err();
    match &e {
        Error::WrongWorld(exports) => assert!(exports.contains("wasi:cli/run"), "{exports}"),
        other => panic!("expected WrongWorld, got {other}"),
    }
}

#[tokio::test]
async fn component_with_unknown_imports() {
    let component = wat::parse_str(
        r#"(component
            (import "acme:secrets/vault@1.0.0" (instance))
            (import "baton:plugin/plc@0.2.0" (instance))
        )"#,
    )
    .unwrap();
    match runtime().load(&component).await.unwrap_err() {
        Error::UnknownImports(names) => {
            assert_eq!(
                names,
                vec!["acme:secrets/vault@1.0.0", "baton:plugin/plc@0.2.0"]
            );
        }
        other => panic!("expected UnknownImports, got {other}"),
    }
}

#[tokio::test]
async fn component_over_the_size_limit() {
    let runtime = Runtime::new(
        RuntimeConfig {
            max_component_size: 1024,
            ..Default::default()
        },
        baton_connectors::Connectors::default(),
    )
    .unwrap();
    let bytes = baton_plugins::find("transform").unwrap().wasm;
    match runtime.load(bytes).await.unwrap_err() {
        Error::TooLarge { size, limit } => assert_eq!((size, limit), (bytes.len(), 1024)),
        other => panic!("expected TooLarge, got {other}"),
    }
}

//! Batch and serial keys: computed from the input at start, stored, found
//! again, and unique among active runs when the workflow says so.

use baton_engine::{Error, StartOptions};
use baton_store::{RunFilter, RunStatus};
use serde_json::json;

use crate::support::*;

const BATCH: &str = r#"
name: batch
key: "input.batch"
unique_key: true
nodes:
  wait:
    type: wait
    signal: go
"#;

#[tokio::test]
async fn runs_are_found_by_key_and_a_second_active_run_is_refused() {
    found_and_unique(Db::sqlite()).await;
}

#[tokio::test]
async fn the_same_on_postgres() {
    if let Some(db) = Db::postgres().await {
        found_and_unique(db).await;
    }
}

async fn found_and_unique(db: Db) {
    let h = Harness::on(db).await;
    h.apply(BATCH).await;
    let first = h.start("batch", json!({"batch": "B-42"})).await;
    let other = h.start("batch", json!({"batch": 43})).await;

    let refused = h
        .engine
        .start_run("batch", json!({"batch": "B-42"}), StartOptions::default())
        .await;
    match refused {
        Err(Error::Conflict(m)) => {
            assert!(m.contains(&first) && m.contains("B-42"), "{m}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }

    let found = h
        .engine
        .store()
        .list_runs(&RunFilter {
            key: Some("B-42".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, first);
    assert_eq!(found[0].key.as_deref(), Some("B-42"));
    let numeric = h.engine.store().run(&other).await.unwrap().unwrap();
    assert_eq!(numeric.key.as_deref(), Some("43"), "numbers are keys too");

    // Once the first ends, the key may be used again.
    h.engine
        .signal(&first, "go", json!({}), "ana")
        .await
        .unwrap();
    assert_status(&h.finish(&first).await, RunStatus::Succeeded);
    let again = h.start("batch", json!({"batch": "B-42"})).await;
    assert_ne!(again, first);
}

#[tokio::test]
async fn an_input_without_a_usable_key_is_refused_with_the_field() {
    let h = Harness::new().await;
    h.apply(BATCH).await;
    for input in [
        json!({}),
        json!({"batch": {"nested": 1}}),
        json!({"batch": ""}),
    ] {
        match h
            .engine
            .start_run("batch", input.clone(), StartOptions::default())
            .await
        {
            Err(Error::BadRequest(m)) => assert!(m.starts_with("key:"), "{m}"),
            other => panic!("{input}: expected a bad request, got {other:?}"),
        }
    }
    let none = h
        .engine
        .store()
        .list_runs(&RunFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty(), "nothing was started: {none:?}");
}

#[tokio::test]
async fn a_key_longer_than_256_bytes_is_refused() {
    let h = Harness::new().await;
    h.apply(BATCH).await;
    let long = "B".repeat(257);
    match h
        .engine
        .start_run("batch", json!({"batch": long}), StartOptions::default())
        .await
    {
        Err(Error::BadRequest(m)) => assert!(m.contains("257 bytes"), "{m}"),
        other => panic!("expected a bad request, got {other:?}"),
    }
    let ok = "B".repeat(256);
    h.engine
        .start_run("batch", json!({"batch": ok}), StartOptions::default())
        .await
        .unwrap();
}

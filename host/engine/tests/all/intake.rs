//! Runs accepted into the store's intake log (an SQLite file store's) and
//! not yet created by its writer: a read waits for them, and a stop before
//! the writer created one does not lose it.

use std::time::Duration;

use baton_engine::Event;
use baton_store::RunStatus;
use serde_json::json;

use crate::support::{Harness, events};

/// A pure first step, then a PLC write: the write is the effect that shows,
/// outside the engine, whether the run ran and how often.
const LINE: &str = r#"
name: line
nodes:
  a: { plugin: scripted@1 }
  w:
    needs: [a]
    plugin: modbus-write@1
    config: { device: oven-1, kind: holding, address: 120 }
    input: { values: "[5]" }
    grants: { plc: [{ device: oven-1, write: ["holding:120"] }] }
"#;

/// The rows of the intake log next to the database at `url`.
fn intake_rows(url: &str) -> Vec<String> {
    let path = url.trim_start_matches("sqlite://");
    let conn = rusqlite::Connection::open(format!("{path}-intake")).unwrap();
    let mut statement = conn.prepare("SELECT id FROM accepted ORDER BY id").unwrap();
    statement
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Whether the main database holds run `id`, read on a connection of its
/// own (the store's reads would wait for the run).
fn in_main_database(url: &str, id: &str) -> bool {
    let conn = rusqlite::Connection::open(url.trim_start_matches("sqlite://")).unwrap();
    conn.query_row("SELECT count(*) FROM runs WHERE id = ?1", [id], |r| {
        r.get::<_, i64>(0)
    })
    .unwrap()
        == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_accepted_but_never_created_is_created_and_run_at_the_next_start() {
    let h = Harness::new().await;
    h.apply(LINE).await;
    // The writer commits nothing from here on, as if the process died
    // before it could: the accept is answered from the intake log alone.
    let held = h.engine.store().hold_writer().await;
    let id = tokio::time::timeout(Duration::from_secs(10), h.start("line", json!({"lot": 4})))
        .await
        .expect("the accept waited for the held writer");
    assert!(!in_main_database(&h.db.url, &id));
    assert_eq!(intake_rows(&h.db.url), std::slice::from_ref(&id));
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.engine.halt();
    assert!(
        h.plc.writes().is_empty(),
        "w ran before its run was created"
    );

    let engine = h.restart().await;
    let run = engine
        .wait_finished(&id, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the accepted run did not finish after the restart");
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.input, json!({"lot": 4}));
    let stored = events(engine.store(), &id).await;
    let starts = stored
        .iter()
        .filter(|e| matches!(e, Event::RunStarted { .. }))
        .count();
    assert_eq!(starts, 1, "{stored:?}");
    let writes = h.plc.writes();
    assert_eq!(writes.len(), 1, "the PLC saw {writes:?}");
    assert_eq!(
        (writes[0].address, writes[0].values.clone()),
        (120, vec![5])
    );
    // Its row leaves the log once the run is in the main database.
    for _ in 0..100 {
        if intake_rows(&h.db.url).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(intake_rows(&h.db.url).is_empty());
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_of_an_accepted_run_waits_until_the_writer_created_it() {
    let h = Harness::new().await;
    h.apply(LINE).await;
    let held = h.engine.store().hold_writer().await;
    let id = h.start("line", json!({})).await;
    let store = h.engine.store().clone();
    let read = tokio::spawn({
        let (store, id) = (store.clone(), id.clone());
        async move { store.run(&id).await }
    });
    let listed = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .list_runs(&baton_store::RunFilter {
                    limit: 10,
                    ..Default::default()
                })
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!read.is_finished() && !listed.is_finished());
    drop(held);
    let run = read
        .await
        .unwrap()
        .unwrap()
        .expect("the accepted run was not found");
    assert_eq!(run.id, id);
    let listed = listed.await.unwrap().unwrap();
    assert!(listed.iter().any(|r| r.id == id), "the list missed the run");
    let run = h.finish(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(h.plc.writes().len(), 1);
}

//! Runs whose caller waits for their end (`?wait=`, `awaited`): when
//! nothing could refuse them, they are created with their first commit
//! point. Each test holds the store's commits back and looks from outside:
//! the store, the event stream and `wait_finished`.

use std::time::Duration;

use baton_engine::{Error, FastPath, StartOptions};
use baton_store::RunRecord;
use baton_store::RunStatus;
use serde_json::json;

use crate::support::{Db, Harness, fast_path};
use tokio::task::JoinHandle;

const CHAIN: &str = r#"
name: chain
nodes:
  a: { plugin: scripted@1, config: { sleep_ms: 200 } }
  b: { needs: [a], plugin: scripted@1 }
  c: { needs: [b], plugin: scripted@1 }
"#;

fn awaited() -> StartOptions {
    StartOptions {
        awaited: true,
        ..StartOptions::default()
    }
}

/// Start an awaited run of `chain`; its id.
async fn start_awaited(h: &Harness) -> String {
    h.engine
        .start_run("chain", json!({}), awaited())
        .await
        .unwrap()
        .run_id
}

/// `wait_finished` for run `id`, in a task of its own.
fn wait_in_background(
    h: &Harness,
    id: &str,
    timeout: Duration,
) -> JoinHandle<baton_engine::Result<Option<RunRecord>>> {
    let (engine, id) = (h.engine.clone(), id.to_string());
    tokio::spawn(async move { engine.wait_finished(&id, timeout).await })
}

fn commits(h: &Harness) -> u64 {
    h.engine.store().writer_stats().commits()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_awaited_run_of_pure_steps_is_created_with_its_end_in_one_commit() {
    // `a` runs longer than the default `max_delay`, which would commit the
    // run's progress (and so its creation) while it runs.
    let config = fast_path(FastPath {
        max_delay: Duration::from_secs(30),
        ..FastPath::default()
    });
    let h = Harness::configured(Db::sqlite(), config).await;
    h.apply(CHAIN).await;
    let mut stream = h.engine.store().subscribe();
    let before = commits(&h);
    let hold = h.engine.store().hold_commits().await;
    // Nothing is committed to start it, so the start does not wait.
    let started = tokio::time::timeout(
        Duration::from_secs(5),
        h.engine.start_run("chain", json!({"n": 1}), awaited()),
    )
    .await
    .expect("an awaited run starts without a commit")
    .unwrap();
    assert!(started.created);
    let id = started.run_id;

    let waiting = wait_in_background(&h, &id, Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The steps are done, but nothing of the run is out: not in the store,
    // not streamed, and not to its waiter.
    assert!(h.engine.store().run(&id).await.unwrap().is_none());
    assert!(h.engine.store().all_events(&id).await.unwrap().is_empty());
    assert!(stream.try_recv().is_err(), "nothing was streamed");
    assert!(!waiting.is_finished());

    drop(hold);
    let run = waiting.await.unwrap().unwrap().expect("ended by then");
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    // The waiter is handed the run as its commit stored it, times included.
    assert_eq!(
        Some(&run),
        h.engine.store().run(&id).await.unwrap().as_ref()
    );
    assert_eq!(
        run.output.as_ref().map(|o| &o["c"]["node"]),
        Some(&json!("c"))
    );
    assert_eq!(
        commits(&h) - before,
        1,
        "created, run and ended in one commit"
    );
    let kinds: Vec<_> = h
        .engine
        .store()
        .all_events(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "run_started",
            "node_succeeded",
            "node_succeeded",
            "node_succeeded",
            "run_succeeded"
        ],
        "each step stored whole"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_awaited_run_not_done_in_time_is_committed_before_it_is_named() {
    let h = Harness::new().await;
    h.apply(CHAIN).await;
    let hold = h.engine.store().hold_commits().await;
    let id = start_awaited(&h).await;
    // The caller stops waiting while `a` runs, and will name the run: the
    // answer waits for the run's creation to be committed.
    let waiting = wait_in_background(&h, &id, Duration::from_millis(20));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "answered before the run was created"
    );
    drop(hold);
    assert_eq!(waiting.await.unwrap().unwrap(), None);
    let stored = h.engine.store().run(&id).await.unwrap();
    assert_eq!(stored.map(|r| r.status), Some(RunStatus::Running));
    assert_eq!(h.finish(&id).await.status, RunStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_awaited_run_with_an_idempotency_key_is_created_before_it_starts() {
    let h = Harness::new().await;
    h.apply(CHAIN).await;
    let keyed = || StartOptions {
        idempotency_key: Some("batch-7".into()),
        ..awaited()
    };
    let hold = h.engine.store().hold_commits().await;
    let first = {
        let engine = h.engine.clone();
        tokio::spawn(async move { engine.start_run("chain", json!({}), keyed()).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !first.is_finished(),
        "the key is decided by the creation's commit"
    );
    drop(hold);
    let first = first.await.unwrap().unwrap();
    let again = h
        .engine
        .start_run("chain", json!({}), keyed())
        .await
        .unwrap();
    assert_eq!(
        (again.run_id.as_str(), again.created),
        (first.run_id.as_str(), false)
    );
    // Created before it started, it hands its waiter the run as stored too.
    let ended = h.finish(&first.run_id).await;
    assert_eq!(ended.status, RunStatus::Succeeded);
    assert_eq!(
        Some(&ended),
        h.engine.store().run(&first.run_id).await.unwrap().as_ref()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_awaited_run_the_engine_stops_before_creating_never_was() {
    let h = Harness::new().await;
    h.apply(CHAIN).await;
    let hold = h.engine.store().hold_commits().await;
    let id = start_awaited(&h).await;
    let waiting = wait_in_background(&h, &id, Duration::from_millis(300));
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.engine.halt();
    drop(hold);
    let answer = waiting.await.unwrap();
    assert!(
        matches!(answer, Err(Error::ShuttingDown)),
        "the caller learns the engine stopped, not that the run is missing: {answer:?}"
    );
    let again = h.restart().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(again.store().run(&id).await.unwrap().is_none());
}

//! Retention against real SQLite and, when `BATON_TEST_DATABASE_URL` is set,
//! real PostgreSQL: old finished runs go with their node executions and
//! events, in batches of the size asked for; recent and unfinished runs
//! stay; audit events are untouched by run retention, and audit retention
//! takes only old audit events. Without the variable each PostgreSQL test
//! prints one `skipped:` line, and under `CI=true` it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use baton_store::{
    Deleted, Execution, NewEvent, Phase, RunStatus, RunUpdate, Store, StoreOptions, Transition,
    now_millis,
};
use serde_json::json;

#[macro_use]
mod common;
use common::{new_run, postgres, sqlite};

const DAY: i64 = 24 * 3600 * 1000;

fn event(kind: &str, run: bool) -> NewEvent {
    NewEvent {
        kind: kind.into(),
        node_id: run.then(|| "a".into()),
        actor: (!run).then(|| "ana".into()),
        data: json!({"type": kind}).into(),
    }
}

fn execution(run_id: &str, attempt: u32) -> Execution {
    Execution {
        run_id: run_id.into(),
        node_id: "a".into(),
        item: None,
        phase: Phase::Run,
        attempt,
        status: "succeeded".into(),
        output: Some(json!({})),
        error: None,
        error_kind: None,
        started_at: 1,
        finished_at: Some(2),
        retry_at: None,
    }
}

/// A run with `events` events and `attempts` node executions, ended in
/// `status` unless that is `Running`.
async fn run(store: &Store, id: &str, status: RunStatus, events: usize, attempts: u32) {
    store
        .create_run(
            new_run(id, None),
            Transition {
                run_id: Some(id.into()),
                events: (0..events).map(|_| event("step", true)).collect(),
                executions: (1..=attempts).map(|a| execution(id, a)).collect(),
                ..Transition::default()
            },
        )
        .await
        .unwrap();
    if status != RunStatus::Running {
        store
            .commit(Transition {
                run_id: Some(id.into()),
                run: Some(RunUpdate {
                    status,
                    output: None,
                    error: None,
                }),
                ..Transition::default()
            })
            .await
            .unwrap();
    }
}

/// Set a column of the database behind the store's back, as time would.
async fn backdate(url: &str, sql: &'static str, at: i64, key: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql)
            .bind(at)
            .bind(key)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql)
            .bind(at)
            .bind(key)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

async fn finished_days_ago(url: &str, run_id: &str, days: i64) {
    let at = now_millis() - days * DAY;
    backdate(
        url,
        "UPDATE runs SET finished_at = $1, created_at = $1 WHERE id = $2",
        at,
        run_id,
    )
    .await;
}

async fn audit_kinds(store: &Store) -> Vec<String> {
    let mut kinds: Vec<String> = store
        .audit(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    kinds.sort();
    kinds
}

/// Sweep with `delete` until a batch deletes fewer rows than `batch`;
/// every batch stays within `batch` rows.
async fn sweep<F, Fut>(batch: u32, mut delete: F) -> Deleted
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = baton_store::Result<Deleted>>,
{
    let mut total = Deleted::default();
    for _ in 0..1000 {
        let d = delete().await.unwrap();
        assert!(
            d.rows() <= u64::from(batch),
            "{d:?} over a batch of {batch}"
        );
        total += d;
        if d.rows() < u64::from(batch) {
            return total;
        }
    }
    panic!("the sweep never ended: {total:?}");
}

both!(
    old_finished_runs_go_on_sqlite,
    old_finished_runs_go_on_postgres,
    old_finished_runs_go,
    url
);

async fn old_finished_runs_go(store: Store, url: &str) {
    // Old and finished: these go, rows and all.
    run(&store, "old-ok", RunStatus::Succeeded, 7, 3).await;
    run(&store, "old-failed", RunStatus::Failed, 2, 1).await;
    run(&store, "old-cancelled", RunStatus::Cancelled, 1, 0).await;
    // Finished recently, or never: these stay.
    run(&store, "recent", RunStatus::Succeeded, 4, 2).await;
    run(&store, "old-running", RunStatus::Running, 3, 1).await;
    store
        .commit(Transition {
            run_id: None,
            events: vec![event("workflow.apply", false)],
            ..Transition::default()
        })
        .await
        .unwrap();
    for id in ["old-ok", "old-failed", "old-cancelled"] {
        finished_days_ago(url, id, 100).await;
    }
    finished_days_ago(url, "recent", 10).await;
    // Even a stray `finished_at` does not make a running run finished.
    finished_days_ago(url, "old-running", 100).await;
    let audit_before = audit_kinds(&store).await;
    assert_eq!(audit_before, ["workflow.apply"]);

    let before = now_millis() - 90 * DAY;
    let total = sweep(4, || store.delete_finished_runs(before, 4)).await;
    assert_eq!(
        total,
        Deleted {
            runs: 3,
            node_executions: 4,
            events: 10,
            audit: 0
        }
    );
    for id in ["old-ok", "old-failed", "old-cancelled"] {
        assert!(
            store.run(id).await.unwrap().is_none(),
            "{id} is still there"
        );
        assert!(store.all_events(id).await.unwrap().is_empty(), "{id}");
        assert!(store.executions(id).await.unwrap().is_empty(), "{id}");
    }
    let recent = store.run("recent").await.unwrap().unwrap();
    assert_eq!(recent.status, RunStatus::Succeeded);
    assert_eq!(store.all_events("recent").await.unwrap().len(), 4);
    assert_eq!(store.executions("recent").await.unwrap().len(), 2);
    let running = store.run("old-running").await.unwrap().unwrap();
    assert_eq!(running.status, RunStatus::Running);
    assert_eq!(store.all_events("old-running").await.unwrap().len(), 3);
    assert_eq!(store.executions("old-running").await.unwrap().len(), 1);
    assert_eq!(
        audit_kinds(&store).await,
        audit_before,
        "audit is untouched"
    );

    // Nothing is left to delete: a sweep now deletes nothing.
    assert_eq!(
        store.delete_finished_runs(before, 4).await.unwrap(),
        Deleted::default()
    );
}

both!(
    a_long_run_goes_over_several_batches_on_sqlite,
    a_long_run_goes_over_several_batches_on_postgres,
    a_long_run_goes_over_several_batches,
    url
);

async fn a_long_run_goes_over_several_batches(store: Store, url: &str) {
    run(&store, "long", RunStatus::Succeeded, 25, 6).await;
    finished_days_ago(url, "long", 2).await;
    let before = now_millis() - DAY;
    // 32 rows in batches of at most 5: the run's row goes in the last one.
    let first = store.delete_finished_runs(before, 5).await.unwrap();
    assert_eq!(first.events, 5, "{first:?}");
    assert!(store.run("long").await.unwrap().is_some());
    let rest = sweep(5, || store.delete_finished_runs(before, 5)).await;
    assert_eq!(
        (first.events + rest.events, rest.node_executions, rest.runs),
        (25, 6, 1)
    );
    assert!(store.run("long").await.unwrap().is_none());
}

both!(
    audit_retention_takes_only_old_audit_events_on_sqlite,
    audit_retention_takes_only_old_audit_events_on_postgres,
    audit_retention_takes_only_old_audit_events,
    url
);

async fn audit_retention_takes_only_old_audit_events(store: Store, url: &str) {
    run(&store, "r", RunStatus::Succeeded, 2, 1).await;
    finished_days_ago(url, "r", 1000).await;
    for kind in ["old.1", "old.2", "old.3", "new.1", "new.2"] {
        store
            .commit(Transition {
                run_id: None,
                events: vec![event(kind, false)],
                ..Transition::default()
            })
            .await
            .unwrap();
    }
    for kind in ["old.1", "old.2", "old.3"] {
        backdate(
            url,
            "UPDATE events SET at = $1 WHERE kind = $2",
            now_millis() - 400 * DAY,
            kind,
        )
        .await;
    }
    // The run's own events are old too, and stay: they are not audit events.
    backdate(
        url,
        "UPDATE events SET at = $1 WHERE run_id = $2",
        now_millis() - 1000 * DAY,
        "r",
    )
    .await;

    let before = now_millis() - 365 * DAY;
    let total = sweep(2, || store.delete_audit(before, 2)).await;
    assert_eq!(
        total,
        Deleted {
            audit: 3,
            ..Deleted::default()
        }
    );
    assert_eq!(audit_kinds(&store).await, ["new.1", "new.2"]);
    assert_eq!(store.all_events("r").await.unwrap().len(), 2);
    assert!(store.run("r").await.unwrap().is_some());
}

/// Several nodes on one PostgreSQL database sweep at once: each run is
/// deleted once, no sweep fails or waits for another, and the counts add up.
#[tokio::test]
async fn nodes_sweeping_at_once_share_the_work_on_postgres() {
    let Some(db) = postgres("retention_nodes").await else {
        return;
    };
    let store = Store::open(&db.url, StoreOptions::default()).await.unwrap();
    for i in 0..40 {
        let id = format!("r{i:02}");
        run(&store, &id, RunStatus::Succeeded, 3, 1).await;
        finished_days_ago(&db.url, &id, 100).await;
    }
    let before = now_millis() - 90 * DAY;
    let mut sweeps = Vec::new();
    for _ in 0..3 {
        let node = Store::open(&db.url, StoreOptions::default()).await.unwrap();
        sweeps.push(tokio::spawn(async move {
            sweep(10, || node.delete_finished_runs(before, 10)).await
        }));
    }
    let mut total = Deleted::default();
    for s in sweeps {
        total += s.await.unwrap();
    }
    assert_eq!(
        (total.runs, total.events, total.node_executions),
        (40, 120, 40)
    );
    assert!(
        store
            .list_runs(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
}

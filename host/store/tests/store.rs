//! The store against real SQLite and, when `BATON_TEST_DATABASE_URL` is set,
//! real PostgreSQL: the same behaviour from both. Without it each PostgreSQL
//! test prints one `skipped:` line, and under `CI=true` it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use baton_store::{
    Created, Execution, LockOp, NewEvent, NewRun, Phase, PluginRecord, RunFilter, RunStatus,
    RunUpdate, Store, StoreOptions, Transition,
};
use serde_json::json;

#[macro_use]
mod common;
use common::{new_run, postgres, sqlite};

fn event(kind: &str, n: usize) -> NewEvent {
    NewEvent {
        kind: kind.into(),
        node_id: Some("a".into()),
        actor: None,
        data: json!({"type": kind, "n": n}).into(),
    }
}

async fn group_commit(store: Store) {
    for i in 0..50 {
        store
            .create_run(new_run(&format!("r{i:03}"), None), Transition::default())
            .await
            .unwrap();
    }
    let before = store.writer_stats().commits();
    let mut live = store.subscribe();
    // 50 runs commit 10 transitions each, all at once.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("r{i:03}");
            for n in 0..10 {
                store
                    .commit(Transition {
                        run_id: Some(id.clone()),
                        events: vec![event("step", n)],
                        executions: vec![Execution {
                            run_id: id.clone(),
                            node_id: "a".into(),
                            item: None,
                            phase: Phase::Run,
                            attempt: 1,
                            status: if n == 9 { "succeeded" } else { "running" }.into(),
                            output: (n == 9).then(|| json!({"done": true})),
                            error: None,
                            error_kind: None,
                            started_at: 1,
                            finished_at: None,
                            retry_at: None,
                        }],
                        run: (n == 9).then(|| RunUpdate {
                            status: RunStatus::Succeeded,
                            output: Some(json!({"ok": i})),
                            error: None,
                        }),
                        fence: None,
                        locks: Vec::new(),
                        lockless: false,
                        lazy: false,
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let batches = store.writer_stats().commits() - before;
    assert!(
        batches < 500,
        "500 transitions took {batches} transactions: no batching"
    );

    let mut published = std::collections::HashMap::new();
    while let Ok(e) = live.try_recv() {
        published.insert(e.seq, e);
    }
    assert_eq!(
        published.len(),
        500,
        "every committed event is published once"
    );
    for i in 0..50 {
        let id = format!("r{i:03}");
        let events = store.all_events(&id).await.unwrap();
        let ns: Vec<i64> = events
            .iter()
            .map(|e| e.data["n"].as_i64().unwrap())
            .collect();
        assert_eq!(
            ns,
            (0..10).collect::<Vec<_>>(),
            "a run's events keep their order"
        );
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
        for e in &events {
            let told = published
                .get(&e.seq)
                .unwrap_or_else(|| panic!("stored event {} of {id} was not published", e.seq));
            assert_eq!(
                (told.run_id.as_deref(), &told.data),
                (Some(id.as_str()), &e.data),
                "a published event has the sequence number it is stored under"
            );
        }
        let run = store.run(&id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Succeeded);
        assert_eq!(run.output, Some(json!({"ok": i})));
        assert!(run.finished_at.is_some());
        let x = store.executions(&id).await.unwrap();
        assert_eq!(x.len(), 1, "one row per attempt, updated in place");
        assert_eq!(x[0].status, "succeeded");
    }
}
both!(
    group_commit_on_sqlite,
    group_commit_on_postgres,
    group_commit
);

async fn idempotent_runs_and_isolated_failures(store: Store) {
    let a = store.create_run(new_run("a", Some("k1")), Transition::default());
    let b = store.create_run(new_run("b", Some("k1")), Transition::default());
    let c = store.create_run(new_run("c", None), Transition::default());
    // A duplicate id fails alone; the requests batched with it still commit.
    let dup = store.create_run(new_run("c", None), Transition::default());
    let (a, b, c, dup) = tokio::join!(a, b, c, dup);
    let mut created = vec![a.unwrap(), b.unwrap()];
    created.sort_by_key(|c| matches!(c, Created::Existing(_)));
    let Created::New(first) = &created[0] else {
        panic!("{created:?}")
    };
    assert_eq!(created[1], Created::Existing(first.clone()));
    let outcomes = [c.is_ok(), dup.is_ok()];
    assert_eq!(
        outcomes.iter().filter(|ok| **ok).count(),
        1,
        "exactly one run `c`"
    );
    assert!(store.run("c").await.unwrap().is_some());

    let page = store
        .list_runs(&RunFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    let next = store
        .list_runs(&RunFilter {
            limit: 10,
            before: Some(page[0].id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(next.len(), 1, "two runs in all, one per page");
    let running = store.unfinished_runs().await.unwrap();
    assert_eq!(running.len(), 2);
}
both!(
    idempotency_on_sqlite,
    idempotency_on_postgres,
    idempotent_runs_and_isolated_failures
);

async fn plugins_and_workflows(store: Store) {
    let plugin = PluginRecord {
        digest: "sha256:aa".into(),
        name: "p".into(),
        version: "1.0.0".into(),
        major: 1,
        description: "d".into(),
        config_schema: Some(json!({"type": "object"})),
        imports: vec!["baton:plugin/log@0.1.0".into()],
        size: 3,
        created_at: 0,
    };
    let stored = store.put_plugin(&plugin, b"abc").await.unwrap();
    assert_eq!(stored.config_schema, plugin.config_schema);
    assert_eq!(
        store.put_plugin(&plugin, b"abc").await.unwrap(),
        stored,
        "same bytes: a no-op"
    );
    let other = PluginRecord {
        digest: "sha256:bb".into(),
        ..plugin.clone()
    };
    let err = store.put_plugin(&other, b"xyz").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("already stored with different bytes"),
        "{err}"
    );
    assert_eq!(
        store.plugin_bytes("sha256:aa").await.unwrap().unwrap(),
        b"abc"
    );

    let v1 = store
        .put_workflow("w", &json!({"v": 1}), &json!({}), Some("v: 1"))
        .await
        .unwrap();
    let v2 = store
        .put_workflow("w", &json!({"v": 2}), &json!({}), None)
        .await
        .unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(
        store.workflow("w", 1).await.unwrap().unwrap().definition,
        json!({"v": 1})
    );
    assert_eq!(
        store.latest_workflow("w").await.unwrap().unwrap().version,
        2
    );
    assert_eq!(store.latest_workflows().await.unwrap().len(), 1);
}
both!(
    plugins_and_workflows_on_sqlite,
    plugins_and_workflows_on_postgres,
    plugins_and_workflows
);

#[tokio::test]
async fn a_bad_url_says_what_is_accepted() {
    let err = Store::open("mysql://x", StoreOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("use sqlite://PATH or postgres://"),
        "{err}"
    );
}

#[tokio::test]
async fn sqlite_state_survives_reopening() {
    let db = sqlite();
    let store = Store::open(&db.url, StoreOptions::default()).await.unwrap();
    store
        .create_run(new_run("kept", None), Transition::default())
        .await
        .unwrap();
    store.close().await;
    let again = Store::open(&db.url, StoreOptions::default()).await.unwrap();
    assert_eq!(
        again.run("kept").await.unwrap().unwrap().input,
        json!({"n": "kept"})
    );
}

async fn audit_records_commit_with_new_runs_only(store: Store) {
    let with_audit = |id: &str| NewRun {
        audit: Some(NewEvent {
            kind: "run.start".into(),
            node_id: None,
            actor: Some("ana".into()),
            data: json!({"run": id}).into(),
        }),
        ..new_run(id, Some("order-1"))
    };
    let first = store
        .create_run(with_audit("r1"), Transition::default())
        .await
        .unwrap();
    assert_eq!(first, Created::New("r1".into()));
    // The same key again: no run, and no audit record.
    let again = store
        .create_run(with_audit("r2"), Transition::default())
        .await
        .unwrap();
    assert_eq!(again, Created::Existing("r1".into()));
    let audit = store.audit(None, 10).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].kind, "run.start");
    assert_eq!(audit[0].actor.as_deref(), Some("ana"));
    assert_eq!(audit[0].data, json!({"run": "r1"}));
}
both!(
    audit_with_runs_on_sqlite,
    audit_with_runs_on_postgres,
    audit_records_commit_with_new_runs_only
);

fn on(node: &str, kind: &str, data: serde_json::Value) -> NewEvent {
    NewEvent {
        kind: kind.into(),
        node_id: Some(node.into()),
        actor: None,
        data: data.into(),
    }
}

/// The operator's inbox: open waits of running runs only, the latest wait
/// of each node, none once decided, oldest first, with the run's details.
async fn open_waits_of_running_runs(store: Store) {
    for id in ["live", "done"] {
        store
            .create_run(new_run(id, None), Transition::default())
            .await
            .unwrap();
    }
    let waiting = |node: &str, reason: &str| {
        on(
            node,
            "node_waiting",
            json!({"type": "node_waiting", "node": node, "reason": reason, "until": 99}),
        )
    };
    let commit = |run: &str, events: Vec<NewEvent>, run_update: Option<RunUpdate>| {
        store.commit(Transition {
            run_id: Some(run.into()),
            events,
            run: run_update,
            ..Default::default()
        })
    };
    commit("live", vec![waiting("gate", "approval")], None)
        .await
        .unwrap();
    commit(
        "live",
        vec![
            waiting("decided", "approval"),
            on("decided", "node_approved", json!({"type": "node_approved"})),
            waiting("delay", "delay"),
            waiting("again", "approval"),
            on("again", "node_timed_out", json!({"type": "node_timed_out"})),
            waiting("again", "signal"),
        ],
        None,
    )
    .await
    .unwrap();
    commit(
        "done",
        vec![waiting("gate", "approval")],
        Some(RunUpdate {
            status: RunStatus::Cancelled,
            output: None,
            error: Some("stop".into()),
        }),
    )
    .await
    .unwrap();
    let open = store.waiting_nodes(10).await.unwrap();
    let seen: Vec<(&str, &str, &str)> = open
        .iter()
        .map(|w| {
            (
                w.run_id.as_str(),
                w.node_id.as_str(),
                w.wait["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("live", "gate", "approval"),
            ("live", "delay", "delay"),
            ("live", "again", "signal"),
        ]
    );
    assert_eq!(open[0].workflow, "w");
    assert_eq!(open[0].wait["until"], 99);
    assert!(open[0].since <= open[1].since);
    assert_eq!(store.waiting_nodes(1).await.unwrap().len(), 1);
}
both!(
    open_waits_on_sqlite,
    open_waits_on_postgres,
    open_waits_of_running_runs
);

async fn run_keys_are_found_and_unique_while_active(store: Store) {
    let keyed = |id: &str, key: &str, unique: bool| NewRun {
        key: Some(key.into()),
        unique_key: unique,
        ..new_run(id, None)
    };
    let first = store
        .create_run(keyed("r1", "B-42", true), Transition::default())
        .await
        .unwrap();
    assert_eq!(first, Created::New("r1".into()));
    // Same key, while r1 is active: refused, naming the holder.
    let second = store
        .create_run(keyed("r2", "B-42", true), Transition::default())
        .await
        .unwrap();
    assert_eq!(second, Created::KeyTaken("r1".into()));
    assert!(store.run("r2").await.unwrap().is_none());
    // Another key, or a workflow without unique_key, is not refused.
    let other = store
        .create_run(keyed("r3", "B-43", true), Transition::default())
        .await
        .unwrap();
    assert_eq!(other, Created::New("r3".into()));
    let loose = store
        .create_run(keyed("r4", "B-42", false), Transition::default())
        .await
        .unwrap();
    assert_eq!(loose, Created::New("r4".into()));

    // Once r1 ends, the key is free again.
    store
        .commit(Transition {
            run_id: Some("r1".into()),
            run: Some(RunUpdate {
                status: RunStatus::Succeeded,
                output: None,
                error: None,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let again = store
        .create_run(keyed("r5", "B-42", true), Transition::default())
        .await
        .unwrap();
    assert_eq!(again, Created::New("r5".into()));

    let found = store
        .list_runs(&RunFilter {
            key: Some("B-42".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = found.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r5", "r4", "r1"]);
    assert_eq!(found[0].key.as_deref(), Some("B-42"));

    // A held run is still active: resumed at start-up, key still taken.
    store
        .commit(Transition {
            run_id: Some("r5".into()),
            run: Some(RunUpdate {
                status: RunStatus::Held,
                output: None,
                error: None,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let held = store.run("r5").await.unwrap().unwrap();
    assert_eq!(held.status, RunStatus::Held);
    assert!(held.finished_at.is_none());
    let unfinished: Vec<String> = store
        .unfinished_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert!(unfinished.contains(&"r5".to_string()), "{unfinished:?}");
    let blocked = store
        .create_run(keyed("r6", "B-42", true), Transition::default())
        .await
        .unwrap();
    assert_eq!(blocked, Created::KeyTaken("r5".into()));
}
both!(
    run_keys_on_sqlite,
    run_keys_on_postgres,
    run_keys_are_found_and_unique_while_active
);

async fn locks_queue_in_arrival_order_and_go_with_their_run(store: Store) {
    let oven = |node: &str, reject: bool| LockOp::Request {
        node: node.into(),
        keys: vec![("oven-1".into(), 1)],
        reject,
    };
    let with = |id: &str, op: LockOp| {
        (
            new_run(id, None),
            Transition {
                run_id: Some(id.into()),
                locks: vec![op],
                ..Default::default()
            },
        )
    };
    let mut grants = store.subscribe_lock_grants();
    for id in ["a", "b"] {
        let (run, t) = with(id, oven("", false));
        assert_eq!(
            store.create_run(run, t).await.unwrap(),
            Created::New(id.into())
        );
    }
    assert_eq!(store.run_locks("a").await.unwrap(), [(String::new(), true)]);
    assert_eq!(
        store.run_locks("b").await.unwrap(),
        [(String::new(), false)]
    );
    // `reject` is refused while the lock is taken, and nothing is created.
    let (run, t) = with("c", oven("", true));
    assert_eq!(
        store.create_run(run, t).await.unwrap(),
        Created::Locked("oven-1".into())
    );
    assert!(store.run("c").await.unwrap().is_none());
    // A node's reject request is not queued.
    store
        .commit(Transition {
            run_id: Some("b".into()),
            locks: vec![oven("fill", true)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.run_locks("b").await.unwrap().len(), 1);
    while grants.try_recv().is_ok() {}

    // a ends: its lock goes in the same transaction, and b gets it.
    store
        .commit(Transition {
            run_id: Some("a".into()),
            run: Some(RunUpdate {
                status: RunStatus::Succeeded,
                output: None,
                error: None,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(store.run_locks("a").await.unwrap().is_empty());
    assert_eq!(store.run_locks("b").await.unwrap(), [(String::new(), true)]);
    assert_eq!(grants.try_recv().unwrap(), "b", "the grant is announced");
    let all = store.locks().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].run_id.as_str(), all[0].held), ("b", true));
    assert_eq!(all[0].workflow, "w");

    // A release gives back a node's locks only.
    store
        .commit(Transition {
            run_id: Some("b".into()),
            locks: vec![
                oven("fill", false),
                LockOp::Release {
                    node: "fill".into(),
                },
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.run_locks("b").await.unwrap(), [(String::new(), true)]);
}
both!(
    locks_on_sqlite,
    locks_on_postgres,
    locks_queue_in_arrival_order_and_go_with_their_run
);

/// The run as a commit reports storing it is the run read back: the
/// engine hands that to callers waiting for a run's end instead of reading
/// it. Through SQLite's own writer connection (lockless) and the pool's.
async fn commits_report_the_run_they_stored(store: Store) {
    for (id, lockless) in [("fast", true), ("pooled", false)] {
        let mut run = new_run(id, Some(&format!("k-{id}")));
        run.key = Some("line-4".into());
        run.parent = Some(("p1".into(), "step".into()));
        run.depth = 1;
        run.trigger = "mqtt:plant/start".into();
        let (created, at) = store
            .create_run_at(run.clone(), Transition::default())
            .await
            .unwrap();
        assert_eq!(created, Created::New(id.into()));
        let mut record = baton_store::RunRecord::created(&run, at);
        assert_eq!(store.run(id).await.unwrap(), Some(record.clone()));
        for update in [
            RunUpdate {
                status: RunStatus::Held,
                output: None,
                error: Some("node `a` failed: boom".into()),
            },
            RunUpdate {
                status: RunStatus::Succeeded,
                output: Some(json!({"a": {"v": [1, 2.5, "x"]}})),
                error: None,
            },
        ] {
            let at = store
                .commit_at(Transition {
                    run_id: Some(id.into()),
                    events: vec![event("step", 1)],
                    run: Some(update.clone()),
                    lockless,
                    ..Transition::default()
                })
                .await
                .unwrap();
            record.update(&update, at);
            assert_eq!(store.run(id).await.unwrap(), Some(record.clone()), "{id}");
        }
        assert!(record.finished_at.is_some());
    }
}
both!(
    commits_report_the_run_they_stored_on_sqlite,
    commits_report_the_run_they_stored_on_postgres,
    commits_report_the_run_they_stored
);

/// How long the writer holds a lazy change for another commit (the store's
/// `LAZY`).
const LAZY: std::time::Duration = std::time::Duration::from_millis(5);

/// A change marked lazy (an unobserved run's end) waits for a commit that
/// must happen anyway: alone, it is committed once [`LAZY`] has passed.
/// While someone listens to the committed events (an event stream), it is
/// committed at once, as any other.
async fn lazy_changes_wait_unless_someone_listens(store: Store) {
    store
        .create_run(new_run("lazy", None), Transition::default())
        .await
        .unwrap();
    let lazy = |n: u32| Transition {
        lazy: true,
        ..common::step_event("lazy", json!({"n": n}))
    };
    let began = std::time::Instant::now();
    store.commit(lazy(0)).await.unwrap();
    assert!(
        began.elapsed() >= LAZY,
        "a lazy change alone was committed after {:?}, before the writer's wait",
        began.elapsed()
    );

    // Ten lazy changes one after another: had each waited, they would take
    // ten waits at least.
    let live = store.subscribe();
    let began = std::time::Instant::now();
    for n in 1..=10 {
        store.commit(lazy(n)).await.unwrap();
    }
    assert!(
        began.elapsed() < LAZY * 10,
        "with a listener, ten lazy changes took {:?}: they waited",
        began.elapsed()
    );
    drop(live);
    let stored = store.events("lazy", 0, 100).await.unwrap();
    assert_eq!(stored.len(), 11, "every lazy change is stored");
}

both!(
    lazy_changes_wait_unless_someone_listens_on_sqlite,
    lazy_changes_wait_unless_someone_listens_on_postgres,
    lazy_changes_wait_unless_someone_listens
);

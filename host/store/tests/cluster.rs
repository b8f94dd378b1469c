//! Nodes and run ownership against real SQLite and PostgreSQL: fenced
//! commits write nothing, claims take only what silent nodes held, and the
//! inbox hands each action to one owner once.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashSet;
use std::time::Duration;

use baton_store::{Created, Error, Fence, NewRun, Registered, Store, StoreOptions, Transition};
use serde_json::json;

#[macro_use]
mod common;
use common::{new_run, postgres, sqlite, step_event};

const LEASE: Duration = Duration::from_secs(10);

fn owned(id: &str, owner: &str) -> NewRun {
    NewRun {
        owner: Some(owner.into()),
        ..new_run(id, None)
    }
}

fn step(run: &str, fence: Option<Fence>, n: usize) -> Transition {
    Transition {
        fence,
        ..step_event(run, json!({"n": n}))
    }
}

fn fence(owner: &str, epoch: i64) -> Option<Fence> {
    Some(Fence {
        owner: owner.into(),
        epoch,
    })
}

async fn event_count(store: &Store, run: &str) -> usize {
    store.all_events(run).await.unwrap().len()
}

async fn fenced_commits_write_nothing(store: Store) {
    let created = store
        .create_run(owned("r1", "a"), Transition::default())
        .await
        .unwrap();
    assert_eq!(created, Created::New("r1".into()));
    assert_eq!(store.run_owner("r1").await.unwrap(), fence("a", 1));
    store.commit(step("r1", fence("a", 1), 1)).await.unwrap();

    // Another node takes the run over: the epoch rises.
    let claimed = store.claim_all_runs("b").await.unwrap();
    assert_eq!(claimed, vec![("r1".to_string(), 2)]);
    let before = event_count(&store, "r1").await;
    let stale = store.commit(step("r1", fence("a", 1), 2)).await;
    assert!(
        matches!(stale, Err(Error::Fenced(ref r)) if r == "r1"),
        "{stale:?}"
    );
    assert!(matches!(
        store.commit(step("r1", fence("b", 1), 2)).await,
        Err(Error::Fenced(_))
    ));
    assert_eq!(event_count(&store, "r1").await, before, "nothing written");

    // A fenced commit in the same batch as good ones fails alone.
    store
        .create_run(owned("r2", "b"), Transition::default())
        .await
        .unwrap();
    let (stale, good, other) = tokio::join!(
        store.commit(step("r1", fence("a", 1), 3)),
        store.commit(step("r1", fence("b", 2), 3)),
        store.commit(step("r2", fence("b", 1), 1)),
    );
    assert!(matches!(stale, Err(Error::Fenced(_))));
    good.unwrap();
    other.unwrap();
    assert_eq!(event_count(&store, "r1").await, before + 1);
    assert_eq!(event_count(&store, "r2").await, 1);
}

both!(
    fenced_commits_write_nothing_on_sqlite,
    fenced_commits_write_nothing_on_postgres,
    fenced_commits_write_nothing
);

async fn a_live_node_id_is_refused_and_a_silent_one_taken(store: Store) {
    let reg = |inc: &'static str, lease: Duration| {
        let store = store.clone();
        async move {
            store
                .register_node("line-a", inc, Some("http://a"), "0.1.0", lease)
                .await
                .unwrap()
        }
    };
    assert_eq!(reg("one", LEASE).await, Registered::Yes);
    assert!(store.heartbeat("line-a", "one", 5).await.unwrap());
    assert!(
        matches!(reg("two", LEASE).await, Registered::InUse { heartbeat_age_ms } if heartbeat_age_ms < 5_000),
        "a second process with a live id is refused"
    );
    store
        .create_run(owned("r0", "line-a"), Transition::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        reg("two", Duration::from_millis(20)).await,
        Registered::Yes,
        "silent past the lease: taken"
    );
    assert_eq!(
        store.run_owner("r0").await.unwrap(),
        None,
        "the dead process's runs are up for claiming"
    );
    assert!(
        !store.heartbeat("line-a", "one", 5).await.unwrap(),
        "the first process learns it lost its id"
    );
    let nodes = store.nodes().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].address.as_deref(), Some("http://a"));
    assert!(nodes[0].alive(LEASE));

    // A clean stop gives the node's runs up.
    store
        .create_run(owned("r1", "line-a"), Transition::default())
        .await
        .unwrap();
    assert_eq!(store.nodes().await.unwrap()[0].runs, 1);
    assert_eq!(store.stop_node("line-a", "two").await.unwrap(), 1);
    assert_eq!(store.run_owner("r1").await.unwrap(), None);
    assert_eq!(store.unowned_runs().await.unwrap(), 2, "r0 and r1");
    assert!(!store.nodes().await.unwrap()[0].alive(LEASE));
}

both!(
    node_ids_on_sqlite,
    node_ids_on_postgres,
    a_live_node_id_is_refused_and_a_silent_one_taken
);

async fn inbox_items_are_taken_once(store: Store) {
    store
        .create_run(owned("r1", "a"), Transition::default())
        .await
        .unwrap();
    let id = store
        .post_inbox("r1", &json!({"kind": "cancel"}))
        .await
        .unwrap();
    assert!(
        store.open_inbox("b", 10).await.unwrap().is_empty(),
        "not b's run"
    );
    let open = store.open_inbox("a", 10).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].body, json!({"kind": "cancel"}));
    assert!(store.take_inbox(id).await.unwrap());
    assert!(!store.take_inbox(id).await.unwrap(), "taken once");
    assert!(
        !store
            .withdraw_inbox(id, &json!({"gone": true}))
            .await
            .unwrap(),
        "a taken item cannot be withdrawn"
    );
    assert_eq!(store.inbox_answer(id).await.unwrap(), None);
    store.answer_inbox(id, &json!({"ok": true})).await.unwrap();
    assert_eq!(
        store.inbox_answer(id).await.unwrap(),
        Some(json!({"ok": true}))
    );

    let late = store.post_inbox("r1", &json!({"kind": "x"})).await.unwrap();
    assert!(
        store
            .withdraw_inbox(late, &json!({"gone": true}))
            .await
            .unwrap()
    );
    assert!(
        !store.take_inbox(late).await.unwrap(),
        "withdrawn: never taken"
    );
    assert!(store.open_inbox("a", 10).await.unwrap().is_empty());

    let open = store.post_inbox("r1", &json!({"kind": "y"})).await.unwrap();
    assert_eq!(
        store.prune_inbox(0).await.unwrap(),
        0,
        "nothing answered that long ago"
    );
    assert_eq!(
        store.prune_inbox(i64::MAX).await.unwrap(),
        2,
        "the answered ones go"
    );
    assert_eq!(store.inbox_answer(id).await.unwrap(), None);
    assert!(store.take_inbox(open).await.unwrap(), "an open item stays");
}

both!(
    inbox_on_sqlite,
    inbox_on_postgres,
    inbox_items_are_taken_once
);

/// Claims take the runs of silent nodes only, never a held run, and two
/// claimers at once split the runs between them.
#[tokio::test]
async fn claims_take_only_what_silent_nodes_held_on_postgres() {
    let Some(db) = postgres("claims").await else {
        return;
    };
    let store = Store::open(&db.url, StoreOptions::default()).await.unwrap();
    for node in ["a", "b", "c"] {
        store
            .register_node(node, node, None, "0.1.0", LEASE)
            .await
            .unwrap();
    }
    for i in 0..40 {
        store
            .create_run(owned(&format!("r{i:02}"), "a"), Transition::default())
            .await
            .unwrap();
    }
    store
        .create_run(new_run("loose", None), Transition::default())
        .await
        .unwrap();
    // `a` is alive: only the run with no owner is taken.
    let first = store.claim_runs("b", LEASE, 100).await.unwrap();
    assert_eq!(first, vec![("loose".to_string(), 1)]);

    // `a` holds one run for an effect in flight, then goes silent.
    store
        .hold_run(
            "r00",
            &Fence {
                owner: "a".into(),
                epoch: 1,
            },
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    store.heartbeat("b", "b", 8).await.unwrap();
    store.heartbeat("c", "c", 8).await.unwrap();
    let lease = Duration::from_millis(300);
    let five = store.claim_runs("b", lease, 5).await.unwrap();
    assert_eq!(five.len(), 5, "a claim takes at most its batch");
    let (b, c) = tokio::join!(
        store.claim_runs("b", lease, 100),
        store.claim_runs("c", lease, 100)
    );
    let (b, c) = (b.unwrap(), c.unwrap());
    let ids: Vec<&str> = five
        .iter()
        .chain(&b)
        .chain(&c)
        .map(|(id, _)| id.as_str())
        .collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 39, "every run but the held one: {ids:?}");
    assert_eq!(unique.len(), 39, "no run claimed twice");
    assert!(!unique.contains("r00"), "the held run stays with its owner");
    assert!(b.iter().chain(&c).all(|(_, epoch)| *epoch == 2));
    // The old owner is fenced out of what it lost, not of what it held.
    assert!(matches!(
        store.commit(step("r01", fence("a", 1), 1)).await,
        Err(Error::Fenced(_))
    ));
    store.commit(step("r00", fence("a", 1), 1)).await.unwrap();
    assert!(store.claim_runs("b", lease, 100).await.unwrap().is_empty());
}

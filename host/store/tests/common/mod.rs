//! What the store suites share: fresh databases, and running one check on
//! SQLite and on PostgreSQL.
#![allow(dead_code)]

use baton_store::{NewEvent, NewRun, Transition};
use serde_json::{Value, json};

pub struct Db {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    Db {
        url: format!("sqlite://{}", dir.path().join("t.db").display()),
        _dir: Some(dir),
    }
}

pub async fn postgres(tag: &str) -> Option<Db> {
    let url =
        baton_sim::suite::fresh_database("PostgreSQL store suite", &format!("baton_store_{tag}"))
            .await?;
    Some(Db { url, _dir: None })
}

/// Run `check` on SQLite, and on PostgreSQL when configured (required under CI).
macro_rules! both {
    // `check(store, url)`: for a test that also reaches the database itself.
    ($sqlite:ident, $pg:ident, $check:ident, url) => {
        #[tokio::test]
        async fn $sqlite() {
            let db = sqlite();
            $check(
                Store::open(&db.url, StoreOptions::default()).await.unwrap(),
                &db.url,
            )
            .await;
        }

        #[tokio::test]
        async fn $pg() {
            if let Some(db) = postgres(stringify!($check)).await {
                $check(
                    Store::open(&db.url, StoreOptions::default()).await.unwrap(),
                    &db.url,
                )
                .await
            }
        }
    };
    ($sqlite:ident, $pg:ident, $check:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let db = sqlite();
            $check(Store::open(&db.url, StoreOptions::default()).await.unwrap()).await;
        }

        #[tokio::test]
        async fn $pg() {
            if let Some(db) = postgres(stringify!($check)).await {
                $check(Store::open(&db.url, StoreOptions::default()).await.unwrap()).await
            }
        }
    };
}

pub fn new_run(id: &str, key: Option<&str>) -> NewRun {
    NewRun {
        id: id.into(),
        workflow: "w".into(),
        version: 1,
        input: json!({"n": id}),
        idempotency_key: key.map(Into::into),
        trigger: "api".into(),
        audit: None,
        owner: None,
        key: None,
        unique_key: false,
        parent: None,
        depth: 0,
    }
}

/// A commit of run `run` that stores one `step` event holding `data`.
pub fn step_event(run: &str, data: Value) -> Transition {
    Transition {
        run_id: Some(run.into()),
        events: vec![NewEvent {
            kind: "step".into(),
            node_id: None,
            actor: None,
            data: data.into(),
        }],
        ..Transition::default()
    }
}

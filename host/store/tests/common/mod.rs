//! What the store suites share: fresh databases, and running one check on
//! SQLite and on PostgreSQL.
#![allow(dead_code)]

use baton_store::NewRun;
use serde_json::json;

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
    let server = baton_sim::suite::database_url("PostgreSQL store suite")?;
    let name = format!("baton_store_{tag}_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&server).await.unwrap();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .unwrap();
    }
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&name);
    Some(Db {
        url: url.to_string(),
        _dir: None,
    })
}

/// Run `check` on SQLite, and on PostgreSQL when configured (required under CI).
macro_rules! both {
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
    }
}

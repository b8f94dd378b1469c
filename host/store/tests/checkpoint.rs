//! The write-ahead log of an SQLite store, checkpointed off the commit path:
//! what commits add reaches the database file, and the log starts again
//! rather than growing, as the writer's checkpoint thread promises.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use baton_store::{Store, StoreOptions, Transition};
use serde_json::json;

#[allow(unused_macros)]
mod common;
use common::{new_run, sqlite, step_event};

/// Size of a file in pages of 4 KiB; 0 if it does not exist.
fn pages(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len() / 4096)
}

#[tokio::test]
async fn the_log_is_copied_back_and_restarts_instead_of_growing() {
    let db = sqlite();
    let store = Store::open(&db.url, StoreOptions::default()).await.unwrap();
    let file = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
    let log = file.with_file_name("t.db-wal");
    store
        .create_run(new_run("r", None), Transition::default())
        .await
        .unwrap();
    // 3,000 commits of one event of 3 KB each: some 9,000 pages of log in
    // all, nine times the size at which the log starts again.
    let padding = "x".repeat(3000);
    let mut largest = 0;
    for n in 0..3000 {
        store
            .commit(step_event(
                "r",
                json!({"type": "step", "n": n, "padding": padding}),
            ))
            .await
            .unwrap();
        largest = largest.max(pages(&log));
    }
    // Restarted at 1,000 pages, plus what came during a pass: never near
    // the 16,000 of the backstop, nor the 9,000 of a log that never restarts.
    assert!(
        largest < 3000,
        "the log grew to {largest} pages; it should start again at about 1,000"
    );
    // The passes copied the events into the database file itself.
    let copied = pages(&file);
    assert!(
        copied > 2000,
        "the database file holds {copied} pages; 3,000 events of 3 KB need more"
    );
    let events = store.events("r", 0, 5000).await.unwrap();
    assert_eq!(events.len(), 3000);
    assert_eq!(events[2999].data["n"], 2999);
}

//! The state of PLC-change triggers against real SQLite and, when
//! `BATON_TEST_DATABASE_URL` is set, real PostgreSQL: the first state is
//! kept whoever writes second, and a change is recorded only by the writer
//! that read the current edge count.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use baton_store::{Store, StoreOptions};

#[macro_use]
mod common;
use common::{postgres, sqlite};

async fn first_state_wins_and_changes_are_compare_and_set(store: Store) {
    let key = "oven-1/coil:5/rising";
    assert_eq!(store.plc_trigger("w", key).await.unwrap(), None);

    let first = store.init_plc_trigger("w", key, false, 0).await.unwrap();
    assert_eq!((first.level, first.value, first.edges), (false, 0, 0));
    // A second node arming the same trigger finds the first one's state.
    let second = store.init_plc_trigger("w", key, true, 1).await.unwrap();
    assert_eq!(second, first);

    assert!(
        store
            .advance_plc_trigger("w", key, 0, true, 1)
            .await
            .unwrap()
    );
    // A writer that read edge count 0 too is refused, and nothing changes.
    assert!(
        !store
            .advance_plc_trigger("w", key, 0, false, 0)
            .await
            .unwrap()
    );
    let now = store.plc_trigger("w", key).await.unwrap().unwrap();
    assert_eq!((now.level, now.value, now.edges), (true, 1, 1));

    // Triggers are kept per workflow and per key.
    assert_eq!(store.plc_trigger("other", key).await.unwrap(), None);
    assert_eq!(
        store
            .plc_trigger("w", "oven-1/coil:5/falling")
            .await
            .unwrap(),
        None
    );
    let register = store
        .init_plc_trigger("w", "oven-1/holding:10/above:180/below:170", false, 20)
        .await
        .unwrap();
    assert_eq!(register.value, 20);
}

both!(
    trigger_state_on_sqlite,
    trigger_state_on_postgres,
    first_state_wins_and_changes_are_compare_and_set
);

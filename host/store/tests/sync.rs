//! How an SQLite commit reaches the disk: with `fdatasync(2)`, never a full
//! `fsync(2)`. SQLite is compiled from source here, and without
//! `HAVE_FDATASYNC` (set in `.cargo/config.toml`) it syncs every commit with
//! `fsync`, which also writes the file's times.
//!
//! This suite is a test binary of its own because it defines `fsync` and
//! `fdatasync` itself: the SQLite linked into it calls these, which count
//! the calls and then make the system call.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use baton_store::{Store, StoreOptions, Transition};
use serde_json::json;

#[allow(unused_macros)]
mod common;
use common::{new_run, sqlite, step_event};

static FSYNCS: AtomicUsize = AtomicUsize::new(0);
static FDATASYNCS: AtomicUsize = AtomicUsize::new(0);

/// Counted, then done as the C library would.
#[unsafe(no_mangle)]
pub extern "C" fn fsync(fd: libc::c_int) -> libc::c_int {
    FSYNCS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the system call takes a descriptor and touches no memory.
    unsafe { libc::syscall(libc::SYS_fsync, fd) as libc::c_int }
}

/// Counted, then done as the C library would.
#[unsafe(no_mangle)]
pub extern "C" fn fdatasync(fd: libc::c_int) -> libc::c_int {
    FDATASYNCS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the system call takes a descriptor and touches no memory.
    unsafe { libc::syscall(libc::SYS_fdatasync, fd) as libc::c_int }
}

#[tokio::test]
async fn commits_are_synced_with_fdatasync_not_fsync() {
    let db = sqlite();
    let store = Store::open(&db.url, StoreOptions::default()).await.unwrap();
    store
        .create_run(new_run("r", None), Transition::default())
        .await
        .unwrap();
    let (fsyncs, fdatasyncs) = (
        FSYNCS.load(Ordering::SeqCst),
        FDATASYNCS.load(Ordering::SeqCst),
    );
    for n in 0..20 {
        store
            .commit(step_event("r", json!({"type": "step", "n": n})))
            .await
            .unwrap();
    }
    let fsyncs = FSYNCS.load(Ordering::SeqCst) - fsyncs;
    let fdatasyncs = FDATASYNCS.load(Ordering::SeqCst) - fdatasyncs;
    // `synchronous = FULL`: each commit syncs the log before it returns.
    assert!(
        fdatasyncs >= 20,
        "20 commits made {fdatasyncs} fdatasync calls; each should make one"
    );
    assert_eq!(
        fsyncs, 0,
        "20 commits made {fsyncs} fsync calls: SQLite was built without HAVE_FDATASYNC"
    );
    assert_eq!(store.events("r", 0, 100).await.unwrap().len(), 20);
}

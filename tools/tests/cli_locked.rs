//! Commands refused because another process holds the database change
//! nothing in its directory, and input errors are reported before the lock.

mod common;

use std::path::Path;

use common::{profiledb, run_cmd, s, Run};
use profiledb::{Identifier, ProfileDb, Update};

/// The directory's file names and sizes, sorted.
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len())
        })
        .collect();
    files.sort();
    files
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let mut c = profiledb();
    c.arg("--db").arg(dir).args(args);
    run_cmd(c, None)
}

/// A database held by this process (the "application"); the CLI is another
/// process whose writable opens are refused.
fn held() -> (tempfile::TempDir, ProfileDb) {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.update(&Identifier::new("user_id", "u1").unwrap(), Update::new().set("plan", "pro")).unwrap();
    (dir, db)
}

#[test]
fn a_writable_open_refused_for_the_lock_changes_nothing_in_the_directory() {
    let (dir, _db) = held();
    let before = listing(dir.path());
    let backup = dir.path().with_extension("backup");
    for args in [
        vec!["compact"],
        vec!["trait", "set", "user_id:u1", "plan", "free"],
        vec!["tick"],
        vec!["check", "--tick"],
        vec!["backup", s(&backup)],
        vec!["erase", "user_id:u1", "--yes"],
    ] {
        run(dir.path(), &args).code(5).err_has(&["already open"]);
        assert_eq!(listing(dir.path()), before, "after {args:?}");
    }
    assert!(!backup.exists());
}

#[test]
fn input_errors_are_reported_before_the_lock() {
    let (dir, _db) = held();
    let before = listing(dir.path());
    run(dir.path(), &["segment", "define", "bad", "count(purchase >= 1"]).code(2).err_has(&["position"]);
    run(dir.path(), &["track", "{bad json"]).code(2);
    assert_eq!(listing(dir.path()), before);
}

/// A second open within the process that holds the database is refused
/// by RocksDB itself; the probe must not touch `LOCK` then (closing a
/// descriptor of it would release the process's lock): the database stays
/// locked against other processes.
#[test]
fn a_second_open_in_the_holding_process_keeps_the_lock() {
    let (dir, _db) = held();
    match ProfileDb::open(dir.path()) {
        Err(profiledb::Error::Locked { .. }) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
    run(dir.path(), &["compact"]).code(5).err_has(&["already open"]);
}

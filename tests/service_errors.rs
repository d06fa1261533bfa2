//! Errors as a long-running service meets them: they work with `?` in
//! boxed errors, [`Error::retry`] classifies real errors from real calls
//! (retry later, reopen, or not at all), and a database directory removed
//! underneath a live handle makes `sync()` fail instead of saying Ok.

use std::path::Path;

use profiledb::event::{Event, EventKind};
use profiledb::{AccessMode, Error, Identifier, ProfileDb, ProfileId, Retry, Timestamp, Update};

const T0: i64 = 1_767_225_600_000; // 2026-01-01

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

#[test]
fn errors_are_send_sync_static_and_work_with_question_mark_in_boxed_errors() {
    fn assert_traits<T: std::error::Error + Send + Sync + 'static>() {}
    assert_traits::<Error>();
    fn service_call(dir: &Path) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        let db = ProfileDb::open(dir)?;
        let bad: Result<Identifier, _> = "email:".parse::<Identifier>();
        let _ = bad?;
        db.update(&id("user_id:1"), Update::new())?;
        Ok(())
    }
    let dir = tempfile::tempdir().unwrap();
    let e = service_call(dir.path()).unwrap_err();
    assert!(e.to_string().contains("email"), "{e}");
    // A rejected event in a batch keeps its cause as `source()`.
    let db = ProfileDb::open(dir.path()).unwrap();
    let events = vec![
        Event::new(EventKind::Track, "ok", Timestamp(T0), vec![id("user_id:1")]),
        Event::new(EventKind::Track, "", Timestamp(T0), vec![id("user_id:1")]),
    ];
    let err = db.ingest_batch(&events, false).unwrap().into_result().unwrap_err();
    assert!(std::error::Error::source(&err).is_some(), "BatchRejected has no source(): {err}");
    assert_eq!(err.retry(), Retry::No, "an event without a name is rejected again: {err}");
}

#[test]
fn real_errors_say_whether_to_retry() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.update(&id("user_id:1"), Update::new().set("plan", "pro")).unwrap();
    // Held by `db`: another open may succeed later.
    let locked = ProfileDb::open(dir.path()).unwrap_err();
    assert!(matches!(locked, Error::Locked { .. }), "{locked:?}");
    assert_eq!(locked.retry(), Retry::Later);
    // Input, missing things and the wrong handle: the same call fails again.
    let mismatch = db.update(&id("user_id:1"), Update::new().increment("plan", 1)).unwrap_err();
    assert_eq!(mismatch.retry(), Retry::No, "{mismatch}");
    assert_eq!(id_err("email:").retry(), Retry::No);
    let missing = db.history(ProfileId(99)).unwrap_err();
    assert_eq!(missing.retry(), Retry::No, "{missing}");
    assert_eq!(db.define_segment("bad", "traits.plan ==").unwrap_err().retry(), Retry::No);
    let ro = ProfileDb::builder(dir.path()).access_mode(AccessMode::ReadOnly).open().unwrap();
    let refused = ro.update(&id("user_id:2"), Update::new().set("a", 1)).unwrap_err();
    assert!(matches!(refused, Error::ReadOnly(_)), "{refused:?}");
    assert_eq!(refused.retry(), Retry::No);
    let nothing = tempfile::tempdir().unwrap();
    let absent = ProfileDb::builder(nothing.path().join("absent")).create_if_missing(false).open().unwrap_err();
    assert_eq!(absent.retry(), Retry::No, "{absent}");
}

fn id_err(s: &str) -> Error {
    s.parse::<Identifier>().unwrap_err()
}

/// Writes into a removed directory are acknowledged until RocksDB opens a
/// new file there (README, durability); `sync()` notices at once.
#[test]
fn after_the_directory_is_removed_underneath_sync_fails_and_writes_fail_soon() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("db");
    let db = ProfileDb::builder(&dir).write_buffer_bytes(1 << 20).open().unwrap();
    db.update(&id("user_id:u0"), Update::new().set("a", 1)).unwrap();
    db.sync().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let sync = db.sync().unwrap_err();
    assert!(sync.to_string().contains("was removed or moved while open"), "{sync}");
    assert_eq!(sync.retry(), Retry::Reopen);
    let big = "y".repeat(20_000);
    let mut failed = None;
    for i in 0..300u32 {
        if let Err(e) = db.update(&id(&format!("user_id:u{i}")), Update::new().set("blob", big.as_str())) {
            failed = Some(e);
            break;
        }
    }
    // 6 MB past a 1 MiB memtable: RocksDB needs a new file before the end.
    let failed = failed.expect("300 writes of 20 KB into a removed directory all acknowledged");
    assert_eq!(failed.retry(), Retry::Reopen, "{failed}");
}
